"""Repository root conftest.

Bare `pytest` here collects `conformance/suite` (see `testpaths` in pyproject.toml) and certifies
the bundled reference gateway; `pytest tests` runs the suite's own tests. The conformance plugin
itself comes from the installed package's `pytest11` entry point, exactly as it does for users.
"""

collect_ignore = ["examples", "bench", "build", "dist"]
