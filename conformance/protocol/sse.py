"""Server-sent events, read once and the same way everywhere (ENV-6, CHG-5's cut, UPS-7, the
reference's relay).

The WHATWG "event stream interpretation", as the official openai SDK implements it
(`openai._streaming.SSEDecoder`): lines end at CR, LF or CRLF; a line starting with `:` is a
comment; `field: value` drops one space after the colon; `data:` lines of one event join with LF;
an empty line dispatches the event, and an event with no `data:` line dispatches nothing; a final
event the stream never terminated with an empty line is discarded (no client ever sees it). Bytes
are split into lines before decoding, so a chunk boundary inside a UTF-8 sequence or a CRLF pair
changes nothing.

Pure: no I/O, no imports beyond the standard library, so the suite's checks, the billing cut and
the reference gateway all import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"
_KNOWN_FIELDS = ("data", "event", "id", "retry")


@dataclass(frozen=True)
class Event:
    data: str
    event: str | None = None
    id: str | None = None

    def json(self) -> Any:
        """The data as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None

    @property
    def done(self) -> bool:
        return self.data == DONE

    def encode(self) -> bytes:
        """The event as one `data:` line per data line (and its `event:`), ended by a blank line."""
        lines = ([f"event: {self.event}"] if self.event is not None else []) + [
            f"data: {line}" for line in self.data.split("\n")]
        return ("\n".join(lines) + "\n\n").encode()


@dataclass
class EventParser:
    """Incremental: `feed(bytes)` → the events completed by that chunk; `finish()` at the end.

    `stray` collects lines that are no SSE field (the spec ignores them; ENV-6 reports them);
    `unterminated` is the data of an event the stream ended inside, after `finish()`."""

    stray: list[str] = field(default_factory=list)
    unterminated: str | None = None
    _buffer: bytes = b""
    _skip_lf: bool = False
    _data: list[str] = field(default_factory=list)
    _event: str | None = None
    _id: str | None = None
    _first: bool = True

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        buffer = self._buffer + chunk
        start = 0
        while True:
            cr, lf = buffer.find(b"\r", start), buffer.find(b"\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = buffer[start:end]
            if buffer[end:end + 1] == b"\r":
                if end + 1 == len(buffer):
                    self._skip_lf = True  # a CRLF pair may be split across two chunks
                    start = end + 1
                elif buffer[end + 1:end + 2] == b"\n":
                    start = end + 2
                else:
                    start = end + 1
            else:
                start = end + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events

    def finish(self) -> list[Event]:
        """The stream ended: a partial last line is still a line, but an event without its blank
        line is not dispatched (it is kept in `unterminated` for the judgement to name)."""
        if self._buffer:
            self._line(self._buffer)
            self._buffer = b""
        if self._data:
            self.unterminated = "\n".join(self._data)
        self._data, self._event = [], None
        return []

    def _line(self, raw: bytes) -> Event | None:
        if self._first:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
            self._first = False
        line = raw.decode("utf-8", "replace")
        if line == "":
            event = Event("\n".join(self._data), self._event, self._id) if self._data else None
            self._data, self._event = [], None
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name not in _KNOWN_FIELDS:
            self.stray.append(line[:80])
        return None


@dataclass(frozen=True)
class Parsed:
    events: list[Event]
    stray: list[str]
    unterminated: str | None  # the data of a final event with no blank line after it


def parse_stream(body: bytes | str) -> Parsed:
    """A whole recorded stream."""
    parser = EventParser()
    events = parser.feed(body.encode() if isinstance(body, str) else body)
    parser.finish()
    return Parsed(events, parser.stray, parser.unterminated)


def parse(body: bytes | str) -> tuple[list[Event], list[str]]:
    """→ (the events a client sees, lines that are no SSE field)."""
    parsed = parse_stream(body)
    return parsed.events, parsed.stray


def content_events(body: bytes | str) -> int:
    """How many complete events carried completion text (a choice's `delta.content`): what CHG-5
    and UPS-7 count as delivered."""
    count = 0
    for event in parse(body)[0]:
        chunk = None if event.done else event.json()
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in choices if isinstance(choices, list) else []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and delta.get("content"):
                count += 1
    return count
