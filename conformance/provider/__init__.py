"""The fault-injecting provider: an OpenAI-compatible upstream that fails on request.

A gateway under test is configured to route some models to this provider; the model name of each
request picks the fault it plays (`gwc-fault/503`, `gwc-fault/reset`, ... see `conformance/servers/faults.py`), and
every request it receives is recorded (credentials redacted) behind `GET /_provider/requests`, so
the suite can observe what the gateway did upstream: nothing, once, or N retries.

Modules: `recorder` (the request log), `app` (the ASGI application), `startup` (bind loopback,
write the config fragment, say READY). What it shares with the reference gateway lives in
`conformance.servers` (it never imports `conformance.reference`): `faults` (the catalogue and how a
model name picks one), `provider_link` (`ProviderProcess`, the child-process wrapper the plugin,
the reference and the self-tests use), `fake_model`, `request_params`.
"""
