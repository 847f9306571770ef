"""The contract as data: shipped resources, safe YAML, JSON Schemas, profiles, the requirement
registry and the target config. Nothing here sends a request."""
