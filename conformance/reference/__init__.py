"""The reference gateway: a real Starlette + uvicorn + SQLite gateway that keeps a profile's contract.

Bare `pytest` certifies it (it must come out `conformant`), and with defect switches on it is the
broken gateway the suite must catch. Modules, one job each:

- `ledger`      SQLite wallets, keys (by digest), charges by request id, holds
- `provision`   a fresh key per credential role → the target-config dict
- `ratelimit`   fixed-window per-key limiter
- `dialect`     the profile's code for each condition, and its envelope
- `defects`     the defect catalogue (`conformance/data/defects.yaml`) and `Defects.on(name)`
- `middleware`  request id on every response; 500 envelope for anything unhandled
- `app`         `create_app(profile, defects, ledger)`: the pipeline and the route tables
- `startup`     bind, provision, write config, serve, print `READY <url>` (the child side)
- `gateway_process`  `ReferenceProcess`: the gateway as a child process (the parent side)
- `__main__`    `python -m conformance.reference` CLI

What it shares with the fault-injecting provider (loopback serving, process supervision, the
fake model, request validation, the fault names) is in `conformance.servers`; it never imports
`conformance.provider` (it starts it as a child process).

Nothing is imported here so `python -m conformance.reference --help` stays instant.
"""
