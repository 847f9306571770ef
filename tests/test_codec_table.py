"""The quick codec table (`conformance.fuzzing.codec_table`) is exactly hypothesis's own, and
hypothesis reads it: a run no longer spends seconds of CPU on it, and draws the same examples."""

from __future__ import annotations

import subprocess
import sys

from conformance.fuzzing.codec_table import encodable_intervals


def _one_by_one(codec: str) -> list[tuple[int, int]]:
    """What hypothesis computes: every codepoint, one at a time."""
    out: list[tuple[int, int]] = []
    for i in range(sys.maxunicode + 1):
        try:
            chr(i).encode(codec)
        except UnicodeError:
            continue
        if out and out[-1][1] + 1 == i:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def test_utf8_table_is_hypothesis_table() -> None:
    assert encodable_intervals("utf-8") == _one_by_one("utf-8") == [(0, 0xD7FF), (0xE000, sys.maxunicode)]


def test_small_codecs() -> None:
    assert encodable_intervals("ascii") == [(0, 127)]
    assert encodable_intervals("latin-1") == [(0, 255)]


def test_hypothesis_reads_the_seeded_table(tmp_path) -> None:
    code = (
        "import sys\n"
        "from hypothesis.configuration import set_hypothesis_home_dir\n"
        f"set_hypothesis_home_dir({str(tmp_path)!r})\n"
        "from conformance.fuzzing import codec_table\n"
        "assert codec_table.seed()\n"
        "import hypothesis.internal.charmap as charmap\n"
        "table = charmap.intervals_from_codec('utf-8')\n"
        "print(list(map(list, table.intervals)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([[0, 0xD7FF], [0xE000, sys.maxunicode]])
    assert any(tmp_path.rglob("codec-utf-8.json.gz"))
