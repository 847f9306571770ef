"""`MANIFEST.sha256`: one `<sha256>  <name>` line per file of the bundle (what `sha256sum -c` reads)."""

from __future__ import annotations

import hashlib
from pathlib import Path

MANIFEST = "MANIFEST.sha256"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(directory: Path) -> Path:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    lines = [f"{digest(p)}  {p.relative_to(directory).as_posix()}" for p in files]
    target = directory / MANIFEST
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def check_manifest(directory: Path) -> list[str]:
    """One line per problem: a file changed, missing, or present but not listed."""
    path = directory / MANIFEST
    if not path.is_file():
        return [f"{MANIFEST}: missing"]
    problems: list[str] = []
    listed: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        expected, sep, name = line.partition("  ")
        if not sep or len(expected) != 64 or ".." in Path(name).parts or name.startswith("/"):
            problems.append(f"{MANIFEST}:{number}: not a `<sha256>  <file>` line")
            continue
        listed.add(name)
        file = directory / name
        if not file.is_file():
            problems.append(f"{name}: listed in {MANIFEST} but missing")
        elif digest(file) != expected:
            problems.append(f"{name}: changed (its sha256 is not the one in {MANIFEST})")
    for file in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        name = file.relative_to(directory).as_posix()
        if name not in listed:
            problems.append(f"{name}: not listed in {MANIFEST}")
    return problems
