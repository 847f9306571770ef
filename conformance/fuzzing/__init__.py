"""Property-based fuzzing (FUZ-1..3): hypothesis and schemathesis strategies sent through the
suite's client, and the judgement of what came back."""
