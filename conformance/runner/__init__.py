"""The pytest side of a run: options, run context, session start, collection, recording each
test's result, the whole-run observer, progress and the closing summary. `conformance.plugin`
registers these hooks."""
