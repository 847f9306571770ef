"""The provider's request log: what reached it, so "never forwarded" and "retried N times" show.

Each record keeps what a test needs to attribute a request (path, model, fault, markers found in
the body, whether the presented credential was the expected provider key) and the headers with
every credential replaced: the log is served over HTTP and ends up in reports.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Collection
from typing import Any

MAX_RECORDS = 10_000
# A test tags its request with a marker in the body (e.g. in the message text) to find it here.
MARKER = re.compile(rb"gwc-mark-[0-9a-f]{8,64}")
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie",
                                "x-goog-api-key", "anthropic-api-key"})
REDACTED = "<redacted>"


class Recorder:
    """A bounded, thread-safe, append-only log with increasing sequence numbers."""

    def __init__(self, limit: int = MAX_RECORDS) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._seq = 0

    def add(self, *, method: str, path: str, headers: list[tuple[str, str]], body: bytes, model: str | None,
            fault: str | None, stream: bool, auth: str) -> dict[str, Any]:
        record = {
            "method": method,
            "path": path,
            "model": model,
            "fault": fault,
            "stream": stream,
            "auth": auth,
            "markers": sorted({m.decode() for m in MARKER.findall(body[:1_000_000])}),
            "body_bytes": len(body),
            "headers": {name: (REDACTED if name.lower() in CREDENTIAL_HEADERS else value[:200])
                        for name, value in headers[:50]},
            "outcome": None,
            "at": round(time.time(), 3),
        }
        with self._lock:
            self._seq += 1
            record["seq"] = self._seq
            self._records.append(record)
        return record

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def since(self, seq: int = 0, marker: str | Collection[str] | None = None) -> list[dict[str, Any]]:
        """Records after `seq`; with `marker` (one, or several: any of them) only those carrying it."""
        with self._lock:
            records = [dict(r) for r in self._records if r["seq"] > seq]
        if marker:
            wanted = {marker} if isinstance(marker, str) else set(marker)
            records = [r for r in records if wanted.intersection(r["markers"])]
        return records
