"""An interrupt is never lost: Ctrl-C (SIGINT) at any point ends the run with pytest's status 2 and
the verdict `incomplete`.

Python raises `KeyboardInterrupt` in whatever Python code the main thread runs when the signal
arrives. Inside a weakref finaliser, a `__del__` or a garbage-collection callback that exception
is printed as "Exception ignored" and dropped; code that catches `BaseException` (a library's
retry loop, hypothesis's engine around an example) can drop it too. The run then went on and could
end `exit 0: conformant`. So the handler also *records* the signal: a recorded interrupt ends the
run at the next test boundary even when its exception was swallowed, the test that was running
when it arrived counts as not fully checked, and the closing summary makes the status 2.

While pytest loads its plugins (from the import of ours, the first `pytest11` entry point, to
`pytest_configure`) and while the run closes (report, verdict, summary) a signal is only
recorded: raising while a plugin imports ends Python with a traceback and status 130, raising
while closing loses the report. A signal recorded during start-up ends the run in
`pytest_configure` (status 2); one that arrives after the report was built changes nothing the
run printed (it had nothing left to check), up to the process's exit when pytest is the program
(inside another program's `pytest.main()` the previous handler comes back at `pytest_unconfigure`).
A run that is no conformance run gets the default
handler back at `pytest_configure`, and a signal recorded before it is raised there.

Imports nothing but the standard library and pytest: the plugin arms this at its own import.
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import pytest

INTERRUPTS = pytest.StashKey["Interrupts"]()
PHASES = ("start-up", "collection", "the tests", "closing")  # where a signal outside any test landed


@dataclass
class Interrupts:
    """What the SIGINT handler saw. `during`: the test running at the first signal, or the phase."""

    count: int = 0
    during: str | None = None
    current: str | None = None
    phase: str = "start-up"
    closing: bool = False  # record, do not raise (start-up and the run's close)
    previous: Any = field(default=None, repr=False)

    def handler(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            self.during = self.current or self.phase
        if self.closing:
            return
        raise KeyboardInterrupt

    @property
    def happened(self) -> bool:
        return self.count > 0

    def where(self) -> str:
        return f"during {self.during}" if self.during in PHASES else f"while {self.during} ran"


_early: Interrupts | None = None  # armed at the plugin's import, until pytest_configure decides


def arm() -> None:
    """Record (not raise) SIGINT while pytest loads plugins; only over Python's default handler."""
    global _early
    if _early is not None or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        early = Interrupts(closing=True)
        early.previous = signal.signal(signal.SIGINT, early.handler)
    except (ValueError, OSError):  # not the main interpreter: leave the default
        return
    _early = early


def disarm() -> None:
    """Not a conformance run (or an xdist worker): the default handler back, a recorded signal raised."""
    global _early
    early, _early = _early, None
    if early is None:
        return
    try:
        signal.signal(signal.SIGINT, early.previous)
    except (ValueError, OSError, TypeError):
        return
    if early.happened:
        raise KeyboardInterrupt


def install(config: pytest.Config) -> None:
    """The controller's SIGINT handler (a worker's is xdist's business; only the main thread may set one)."""
    global _early
    if hasattr(config, "workerinput") or threading.current_thread() is not threading.main_thread():
        disarm()
        return
    interrupts, _early = _early, None
    if interrupts is None:
        interrupts = Interrupts()
        try:
            interrupts.previous = signal.signal(signal.SIGINT, interrupts.handler)
        except (ValueError, OSError):  # not the main interpreter: leave the default
            return
    config.stash[INTERRUPTS] = interrupts
    _config[:] = [config]
    interrupts.closing = False
    if interrupts.happened:  # during start-up: end here, status 2 (pytest_unconfigure says so)
        raise KeyboardInterrupt


def of(config: pytest.Config) -> Interrupts | None:
    return config.stash.get(INTERRUPTS, None)


def _raise_if_recorded(config: pytest.Config) -> None:
    interrupts = of(config)
    if interrupts is not None and interrupts.happened and not interrupts.closing:
        raise KeyboardInterrupt  # the first one was swallowed somewhere: stop now


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    interrupts = of(session.config)
    if interrupts is not None:
        interrupts.phase = "collection"
    _raise_if_recorded(session.config)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _raise_if_recorded(item.config)
    interrupts = of(item.config)
    if interrupts is not None:
        interrupts.current = item.nodeid
    try:
        result = yield
    finally:
        if interrupts is not None:
            interrupts.current = None
            interrupts.phase = "the tests"
    _raise_if_recorded(item.config)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
    """pytest renders the interrupt's traceback here; a frame it cannot read (hypothesis's charmap,
    line number None) made that raise TypeError, and the process returned 1 after printing exit 2."""
    try:
        return (yield)
    except Exception as exc:  # noqa: BLE001 - any failure to *show* the interrupt must not replace it
        print(f"gateway-conformance: KeyboardInterrupt (pytest could not show where: {type(exc).__name__}: {exc})",
              file=sys.stderr, flush=True)
        reporter = _config[0].pluginmanager.get_plugin("terminalreporter") if _config else None
        if reporter is not None:  # it needs a rendered interrupt to close the run: one without the odd frame
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                reporter.pytest_keyboard_interrupt(pytest.ExceptionInfo.from_current())
        return None


_config: list[pytest.Config] = []  # the controller's config, for the terminal reporter above


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """From here on a signal is recorded, not raised (see the module docstring)."""
    interrupts = of(session.config)
    if interrupts is not None:
        interrupts.closing = True
        interrupts.phase = "closing"
        if interrupts.happened:
            session.exitstatus = pytest.ExitCode.INTERRUPTED


def pytest_unconfigure(config: pytest.Config) -> None:
    interrupts = of(config)
    if interrupts is None:
        return
    _config.clear()
    from conformance.runner.stash import STATE  # not at import: the plugin arms this module early

    state = config.stash.get(STATE, None)
    if interrupts.happened and (state is None or state.decision is None):
        # Interrupted before the run could close (start-up, collection): no summary said so.
        print(f"gateway-conformance: interrupted {interrupts.where()}: no report; verdict: incomplete "
              f"(exit {int(pytest.ExitCode.INTERRUPTED)})", file=sys.stderr, flush=True)
    if tuple(config.invocation_params.args) == tuple(sys.argv[1:]):
        # pytest is this process's program: the verdict and the status are printed, so a signal from
        # here to the exit is recorded and changes nothing (raised, it would land in a gc callback
        # or an exit handler, be dropped or end Python with 130 — not the status the line printed).
        interrupts.closing = True
        return
    try:  # pytest.main() inside another program: that program's Ctrl-C is its own again
        signal.signal(signal.SIGINT, interrupts.previous if interrupts.previous is not None else signal.default_int_handler)
    except (ValueError, OSError, TypeError):
        pass
