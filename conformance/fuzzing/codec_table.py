"""The codepoints a codec can encode, as intervals, built in a tenth of a second.

Why: strategies with `characters(codec="utf-8")` (schemathesis's JSON-schema strings, our header
text) make hypothesis build this table once per storage directory by encoding all 1.1 million
codepoints one at a time: 2-5 s of CPU, the heaviest item of a certification run, paid on every
run because a run's hypothesis storage is a temporary directory (`storage.keep_hypothesis_out_of_cwd`).
Encoding blocks of codepoints at once gives the same table (a block encodes exactly when each of
its characters does) at a fraction of the cost; `quarantine.seed_codec_table` puts it where
hypothesis looks for it, so the examples generated do not change.
"""

from __future__ import annotations

import sys

BLOCK = 2048


def encodable_intervals(codec_name: str) -> list[tuple[int, int]]:
    """Sorted, merged `(first, last)` codepoint intervals that `str.encode(codec_name)` accepts."""
    intervals: list[tuple[int, int]] = []

    def add(first: int, last: int) -> None:
        if intervals and intervals[-1][1] + 1 == first:
            intervals[-1] = (intervals[-1][0], last)
        else:
            intervals.append((first, last))

    top = sys.maxunicode + 1
    for start in range(0, top, BLOCK):
        end = min(start + BLOCK, top)
        try:
            "".join(map(chr, range(start, end))).encode(codec_name)
        except (UnicodeError, ValueError):  # a codepoint the codec cannot encode (surrogates for utf-8)
            for i in range(start, end):
                try:
                    chr(i).encode(codec_name)
                except (UnicodeError, ValueError):
                    continue
                add(i, i)
        else:
            add(start, end - 1)
    return intervals


def seed(codec_name: str = "utf-8") -> bool:
    """Put the codec's table where hypothesis's storage directory keeps it (see module doc)."""
    from conformance.quarantine import seed_codec_table

    return seed_codec_table(codec_name, lambda: encodable_intervals(codec_name))
