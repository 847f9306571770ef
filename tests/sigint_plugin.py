"""A pytest plugin for the interrupt self-tests (`-p tests.sigint_plugin`): sends this process a
SIGINT at a deterministic point, set by `GWC_SELFTEST_SIGINT=MODE:NODEID_PART[:SECONDS]`:

- `finaliser`: while the matching test's call starts, from inside an object's `__del__` — Python
  raises the KeyboardInterrupt there and drops it ("Exception ignored in"): the lost interrupt.
- `timer`: SECONDS after the matching test's call started (inside the SDK's waits).
- `fuzzing`: as the matching test's fuzzer sends its Nth request (N = the third field, default 3):
  inside fuzzing however fast the machine is (a timer could fire after a quick fuzz test ended).
- `teardown`: as the matching test's teardown begins.
With `GWC_SELFTEST_SIGINT_UNRENDERABLE=1` pytest's rendering of the interrupt raises TypeError, as
it does for a frame whose line number is None (seen inside hypothesis's charmap).
- `late`: as pytest unconfigures, after the closing line was printed.
- `loading`: while pytest still loads plugins (the first registered after ours, before any
  `pytest_configure`), where a raised KeyboardInterrupt would end Python with status 130.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

SPEC = os.environ.get("GWC_SELFTEST_SIGINT", "")
MODE, _, REST = SPEC.partition(":")
PART, _, SECONDS = REST.partition(":")

# The signal stands for a user's Ctrl-C in a terminal, where Python starts with its own handler. A
# self-test session started with SIGINT ignored (a script's background job, nohup, some CI runners)
# hands that on to this process, which would then drop the signal and finish as if never
# interrupted: start from what a terminal gives.
if SPEC and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _interrupt() -> None:
    os.kill(os.getpid(), signal.SIGINT)


class _SwallowsIt:
    def __del__(self) -> None:
        _interrupt()
        for _ in range(1000):  # the handler runs between these bytecodes, inside __del__
            pass


def _matches(item: pytest.Item) -> bool:
    return bool(PART) and PART in item.nodeid


def _interrupt_on_nth_fuzz_send(n: int) -> None:
    from conformance.fuzzing import engine

    original = engine.Fuzzer.send
    sent = [0]

    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent[0] += 1
        if sent[0] == n:
            _interrupt()
        return original(self, *args, **kwargs)

    engine.Fuzzer.send = send  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    if _matches(item) and MODE == "finaliser":
        thing = _SwallowsIt()
        del thing
    elif _matches(item) and MODE == "fuzzing":
        _interrupt_on_nth_fuzz_send(int(SECONDS or 3))
    elif _matches(item) and MODE == "timer":
        timer = threading.Timer(float(SECONDS or 0.5), _interrupt)
        timer.daemon = True
        timer.start()
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if _matches(item) and MODE == "teardown":
        _interrupt()

_fired: list[bool] = []


def pytest_plugin_registered(plugin: Any, plugin_name: str, manager: Any) -> None:
    if MODE == "loading" and not _fired and manager.get_plugin("conformance") not in (None, plugin):
        _fired.append(True)
        _interrupt()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if MODE == "late":
        _interrupt()
        for _ in range(1000):  # let the handler run here, not at some later line
            pass


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo: Any) -> None:
    if os.environ.get("GWC_SELFTEST_SIGINT_UNRENDERABLE"):
        raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int'")
