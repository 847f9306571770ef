"""`python -m bench`: measure the suite's speed and cost against the reference gateway.

A benchmark, never a timed test: it writes numbers (bench/results.json, docs/performance.md) and
compares them with goals; nothing here fails a build.
"""
