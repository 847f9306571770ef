"""The command line of a server the suite starts itself (`python -m conformance.reference`,
`python -m conformance.provider`): how a start-up problem ends. Light on purpose (no uvicorn), so
`--help` and argument errors stay instant."""

from __future__ import annotations

import sys
from collections.abc import Callable

from conformance.errors import ConformanceError


def exit_status(what: str, serve: Callable[[], None]) -> int:
    """Run a server's command line: a bad profile, host, port or path is one line on stderr and
    status 2, never a traceback; Ctrl-C is a normal stop."""
    try:
        serve()
    except ConformanceError as exc:
        print(f"{what}: {exc}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:  # e.g. the config path is not writable
        print(f"{what}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
