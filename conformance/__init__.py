"""gateway-conformance: does an LLM API gateway keep its published error contract?"""

__version__ = "0.1.0"
