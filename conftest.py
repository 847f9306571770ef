"""Repository root conftest.

Bare `pytest` here collects `conformance/suite` (see `testpaths` in pyproject.toml) and certifies
the bundled reference gateway; `pytest tests` runs the suite's own tests. The conformance plugin
itself comes from the installed package's `pytest11` entry point, exactly as it does for users.
The folders a bare `pytest` must not look into are pyproject.toml's `norecursedirs`.

This file holds no value on purpose: hypothesis mixes the constants of every local module it sees
loaded into its draws, and forked suite runs (the kill matrix, the self-tests) load this one after
their fork server drew the fuzz examples they reuse (`conformance/fuzzing/draw_memo.py`).
"""
