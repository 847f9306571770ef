"""Fixed-window request limiter, one window per key.

A window opens at a key's first request and lasts `window_s`; at most `limit` requests are
admitted in it. Anchoring the window at the first request (rather than at wall-clock multiples)
makes "the N+1st request in a burst is refused" deterministic, which the suite's own tests rely
on, and `Retry-After` = seconds to the window's end (rounded up) is then always honest: a
client that waits it is served again (HDR-4).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowState:
    """The limiter's answer for one request: admitted or not, and what to tell the client."""

    allowed: bool
    limit: int
    remaining: int  # 0 <= remaining <= limit
    reset_s: int  # whole seconds until the window resets, >= 1

    @property
    def retry_after_s(self) -> int:
        return self.reset_s


class FixedWindowLimiter:
    """Per-key fixed windows. Thread-safe; O(1) per request."""

    def __init__(self, window_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, requests admitted)
        self._lock = threading.Lock()

    def _reset_in(self, start: float, now: float) -> int:
        return max(1, math.ceil(start + self.window_s - now))

    def _current(self, key: str, now: float) -> tuple[float, int]:
        """`key`'s window as of `now` (start, requests admitted): a fresh one once the last has ended."""
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            return now, 0
        return start, count

    def hit(self, key: str, limit: int) -> WindowState:
        """Count one request against `key`'s window (refused requests are not counted)."""
        now = self._clock()
        with self._lock:
            start, count = self._current(key, now)
            if count >= limit:
                self._windows[key] = (start, count)
                return WindowState(False, limit, 0, self._reset_in(start, now))
            count += 1
            self._windows[key] = (start, count)
            return WindowState(True, limit, limit - count, self._reset_in(start, now))

    def peek(self, key: str, limit: int) -> WindowState:
        """The window as it stands, without counting a request (for rejections before the limiter)."""
        now = self._clock()
        with self._lock:
            start, count = self._current(key, now)
        return WindowState(count < limit, limit, max(0, limit - count), self._reset_in(start, now))

    def restart(self, key: str, hold_s: float | None = None) -> None:
        """Keep `key` refused for `hold_s` more seconds (default: a whole window), keeping its count
        (the `retry_after_too_short` defect: a penalty box longer than the Retry-After it announces)."""
        now = self._clock()
        with self._lock:
            _, count = self._windows.get(key, (now, 0))
            self._windows[key] = (now - self.window_s + (hold_s or self.window_s), count)
