"""The fault-injecting provider: an OpenAI-compatible upstream that fails on request.

A gateway under test is configured to route some models to this provider; the model name of each
request picks the fault it plays (`gwc-fault/503`, `gwc-fault/reset`, ... see `faults.py`), and
every request it receives is recorded (credentials redacted) behind `GET /_provider/requests`, so
the suite can observe what the gateway did upstream: nothing, once, or N retries.

Modules: `faults` (the catalogue and how a model name picks one), `recorder` (the request log),
`app` (the ASGI application), `serve` (bind loopback, write the config fragment, say READY),
`process` (`ProviderProcess`, the child-process wrapper the plugin and the self-tests use),
`records` (the suite's reader of the request log).
"""
