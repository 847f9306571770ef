"""The latency case: a certification against a gateway N ms away, serial and concurrent.

Why: against the embedded reference every answer comes back in a millisecond, so the cost of
requests that wait one after another is invisible; a real staging gateway is 50-500 ms away. A
loopback proxy in front of a standalone reference holds the first byte of each response N ms
(N = 0, 50, 150 by default) and the suite certifies the proxy's URL; the table shows wall time and
requests sent for each N, serial and concurrent. The concurrent mode is the suite's own request
gathering (`--gather-concurrency`) when this checkout has it, else pytest-xdist's `-n 4`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.certify import user_env

REPO = Path(__file__).resolve().parents[1]
DELAYS_MS = (0, 50, 150)
_CHUNK = 65536


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that holds the first byte of every response `delay_s`.

    A response is what the upstream sends after the client sent something (a request on a
    keep-alive connection, a websocket message): its first chunk waits `delay_s`, the rest of it
    flows at once, as from a gateway that far away. Runs its own event loop in a thread."""

    def __init__(self, upstream_host: str, upstream_port: int, delay_s: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = delay_s
        self.port = 0
        self.responses = 0  # responses held (for the self-test and the table)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="delay-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the delay proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            # Connections still open end here, while the loop runs: closed later, by the garbage
            # collector, they would close their sockets on a closed loop ("Event loop is closed").
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        awaiting = asyncio.Event()  # the client sent something the upstream has not yet answered

        async def up() -> None:
            while data := await client_r.read(_CHUNK):
                awaiting.set()
                upstream_w.write(data)
                await upstream_w.drain()
            upstream_w.write_eof() if upstream_w.can_write_eof() else None

        async def down() -> None:
            while data := await upstream_r.read(_CHUNK):
                if awaiting.is_set():
                    awaiting.clear()
                    self.responses += 1
                    await asyncio.sleep(self.delay_s)
                client_w.write(data)
                await client_w.drain()

        try:
            await asyncio.gather(up(), down())
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_w, upstream_w):
                writer.close()


def concurrency_modes() -> dict[str, list[str]]:
    """Serial and concurrent arguments for this checkout: the suite's own gathering if it has it."""
    options = (REPO / "conformance" / "runner" / "options.py").read_text(encoding="utf-8")
    if "--gather-concurrency" in options:
        return {"serial": ["--gather-concurrency", "1"], "concurrent": ["--gather-concurrency", "8"]}
    return {"serial": [], "concurrent": ["-n", "4"]}


def _certify(url: str, config: Path, profile: str, args: list[str], workdir: Path) -> dict[str, Any]:
    report = workdir / "report.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--profile", profile,
               "--target", url + "/v1", "--target-config", str(config), "--report", str(report), *args]
    env = user_env()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    wall = time.perf_counter() - started
    data = json.loads(report.read_text()) if report.exists() else {}
    if not data:
        raise RuntimeError(f"certification through the proxy wrote no report (exit {done.returncode}): "
                           + (done.stdout + done.stderr)[-500:])
    return {"wall_s": round(wall, 2), "requests": data.get("requests_sent"), "verdict": data.get("verdict")}


def measure(profile: str, delays_ms: tuple[int, ...] = DELAYS_MS) -> dict[str, Any]:
    """For each delay and mode: wall time, requests sent and verdict of one certification through
    the proxy, with the ratio of each wall time to the 0 ms one of the same mode."""
    from conformance.reference.gateway_process import ReferenceProcess

    modes = concurrency_modes()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gwc-bench-latency-") as tmp:
        workdir = Path(tmp)
        with ReferenceProcess(profile, config_path=workdir / "reference.yaml") as gateway:
            host, port = gateway.url.split("//", 1)[1].split(":")
            original = Path(gateway.config_path).read_text(encoding="utf-8")
            for delay in delays_ms:
                with DelayProxy(host, int(port), delay / 1000) as proxy:
                    config = workdir / f"via-{delay}.yaml"
                    config.write_text(original.replace(gateway.url, proxy.url), encoding="utf-8")
                    for mode, args in modes.items():
                        print(f"bench: latency {delay} ms, {mode} ({' '.join(args) or 'no option'})", flush=True)
                        row = {"delay_ms": delay, "mode": mode, "args": " ".join(args),
                               **_certify(proxy.url, config, profile, args, workdir)}
                        rows.append(row)
    for row in rows:
        base = next(r for r in rows if r["mode"] == row["mode"] and r["delay_ms"] == delays_ms[0])
        row["wall_vs_0ms"] = round(row["wall_s"] / base["wall_s"], 2) if base["wall_s"] else None
        row["requests_vs_0ms"] = (round(row["requests"] / base["requests"], 3)
                                  if base["requests"] and row["requests"] is not None else None)
    return {"profile": profile, "modes": {m: " ".join(a) for m, a in modes.items()}, "rows": rows}
