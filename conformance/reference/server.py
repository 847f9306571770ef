"""`ReferenceProcess`: the reference gateway as a child process, for the plugin and the self-tests.

A subprocess rather than a thread so the gateway's event loop, signal handling and crashes stay
out of pytest's process, and under xdist one gateway serves every worker. The child watches its
stdin: when this process dies, the pipe closes and the gateway exits with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from collections.abc import Sequence
from typing import IO, Any

from conformance.errors import ConformanceError
from conformance.contract.safe_yaml import load_document


class ReferenceProcess:
    """Start / stop one reference gateway: `.url`, `.config_path`, `.config` once started."""

    def __init__(
        self,
        profile: str,
        defects: Sequence[str] = (),
        host: str = "127.0.0.1",
        config_path: Path | None = None,
        variants: Sequence[str] = (),
    ) -> None:
        self.profile = profile
        self.defects = tuple(defects)
        self.variants = tuple(variants)
        self.host = host
        self._own_dir: Path | None = None
        if config_path is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="gwc-reference-"))
            config_path = self._own_dir / "target.yaml"
        self.config_path = Path(config_path)
        self.url: str | None = None
        self.config: dict[str, Any] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._ready = threading.Event()
        self._stdout_lines: list[str] = []

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "conformance.reference", "--profile", self.profile, "--host", self.host]
        cmd += ["--write-config", str(self.config_path), "--exit-on-stdin-eof"]
        for name in self.defects:
            cmd += ["--defect", name]
        for name in self.variants:
            cmd += ["--variant", name]
        return cmd

    def start(self, timeout: float = 15) -> ReferenceProcess:
        """Spawn the gateway and wait for its READY line; a failure raises with its last stderr line."""
        if self.process is not None:
            raise ConformanceError("the reference gateway is already started")
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read_stdout, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.02):
            if self.process.poll() is not None or time.monotonic() > deadline:
                timed_out = self.process.poll() is None
                reason = self._last_stderr_line() or (f"no READY line within {timeout:g} s" if timed_out else "")
                status = "" if timed_out else f" (exit status {self.process.returncode})"
                self.stop()
                raise ConformanceError(f"the reference gateway did not start{status}: {reason or 'no output'}")
        self.config = load_document(self.config_path, "reference target config")
        return self

    def _read_stdout(self, stream: IO[bytes]) -> None:
        """Find READY, then keep draining so the child never blocks on a full pipe."""
        try:
            for raw in stream:
                line = raw.decode("utf-8", "replace").strip()
                if not self._ready.is_set() and line.startswith("READY "):
                    self.url = line.split(" ", 1)[1]
                    self._ready.set()
                elif len(self._stdout_lines) < 100:
                    self._stdout_lines.append(line)
        except (OSError, ValueError):  # the pipe was closed by stop()
            pass

    def _last_stderr_line(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln.strip() for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5) -> None:
        """Close stdin (the child exits by itself), then terminate, then kill."""
        process, self.process = self.process, None
        if process is not None:
            try:
                if process.stdin:
                    process.stdin.close()
                process.wait(timeout=min(1.0, timeout))
            except (OSError, subprocess.TimeoutExpired):
                process.terminate()
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
        self._ready.clear()

    def __enter__(self) -> ReferenceProcess:
        return self.start() if self.process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
