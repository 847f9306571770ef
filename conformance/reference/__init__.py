"""The reference gateway: a real Starlette + uvicorn + SQLite gateway that keeps a profile's contract.

Bare `pytest` certifies it (it must come out `conformant`), and with defect switches on it is the
broken gateway the suite must catch. Modules, one job each:

- `ledger`      SQLite wallets, keys (by digest), charges by request id, holds
- `provision`   a fresh key per credential role → the target-config dict
- `ratelimit`   fixed-window per-key limiter
- `dialect`     the profile's code for each condition, and its envelope
- `defects`     the defect catalogue (`conformance/data/defects.yaml`) and `Defects.on(name)`
- `variants`    the clean-variant catalogue (`conformance/data/variants.yaml`); `switches` what both share
- `validation`  inference request bodies → params, or `ParamError(param)`
- `inference`   deterministic OpenAI-shaped answers, usage and cost
- `middleware`  request id on every response; 500 envelope for anything unhandled
- `auth`, `limits`, `body`, `billing`, `relay`: the pipeline's steps, each with its own defects;
  `rejections` the dialect step (how a refusal is written), `clock` the resets and HTTP-dates they share
- `app`         `Gateway` (the steps in order) and `create_app(gateway)`: the route tables
- `serve`       bind, provision, write config, serve, print `READY <url>` (the child side)
- `server`      `ReferenceProcess`: the gateway as a child process (the parent side)
- `__main__`    `python -m conformance.reference` CLI

Nothing is imported here so `python -m conformance.reference --help` stays instant.
"""
