"""Start the LiteLLM proxy offline on 127.0.0.1 for the conformance suite, its models routed to
the suite's fault-injecting provider (`conformance.provider`, started first on another port).

    python examples/litellm/proxy.py [--port 4010]     # prints READY <url> and the exports, serves until Ctrl-C
    GWC_LITELLM_URL=<url> GWC_PROVIDER_URL=<provider url> pytest --target-config examples/litellm/target.yaml

Also importable (`LiteLLMProxy`) by the interop self-test and the benchmark. The venv comes from
`setup.sh` (GWC_LITELLM_VENV); nothing here talks to any address but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
LITELLM_VERSION = "1.99.4"
DEFAULT_VENV = Path.home() / ".cache" / "gateway-conformance" / f"litellm-{LITELLM_VERSION}"
START_TIMEOUT_S = 120.0
# The key LiteLLM presents to the provider (config.yaml: os.environ/GWC_PROVIDER_KEY): static, local,
# offline, like the keys of gwc_hooks/keys.py; UPS-2 checks it never reaches a client.
PROVIDER_KEY = "sk-gwc-provider-00000000000007"


def venv_dir() -> Path:
    return Path(os.environ.get("GWC_LITELLM_VENV") or DEFAULT_VENV)


def litellm_executable() -> Path | None:
    exe = venv_dir() / "bin" / "litellm"
    return exe if exe.exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiteLLMProxy:
    """The proxy as a context manager: `.url` once started; stopped (and reaped) on exit."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.provider = None  # conformance.servers.provider_link.ProviderProcess once started

    @property
    def provider_url(self) -> str:
        return self.provider.url if self.provider is not None else ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update({
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",   # no fetch of the remote price list
            "PYTHONPATH": str(HERE),                  # our gwc_hooks package
            "NO_PROXY": "*",
            "LITELLM_LOG": "ERROR",
            "DISABLE_SCHEMA_UPDATE": "true",
            "LITELLM_TELEMETRY": "False",
            "GWC_LITELLM_URL": self.url,
            "GWC_PROVIDER_URL": self.provider_url,
            "GWC_PROVIDER_API_BASE": self.provider_url + "/v1",
            "GWC_PROVIDER_KEY": PROVIDER_KEY,
        })
        return env

    def start(self) -> "LiteLLMProxy":
        exe = litellm_executable()
        if exe is None:
            raise RuntimeError(f"LiteLLM is not installed in {venv_dir()}: run examples/litellm/setup.sh")
        from conformance.servers.provider_link import ProviderProcess

        self.provider = ProviderProcess(api_key=PROVIDER_KEY).start()
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(exe), "--config", str(HERE / "config.yaml"), "--host", "127.0.0.1", "--port", str(self.port),
             "--num_workers", "1"],
            cwd=HERE, env=self.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the LiteLLM proxy exited with code {self.process.returncode} at start"
                                   + (f" (log: {self.log_path})" if self.log_path else ""))
            try:
                with urllib.request.urlopen(self.url + "/health/liveliness", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the LiteLLM proxy did not answer within {START_TIMEOUT_S:g} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                # uvicorn then waits for LiteLLM's background tasks (its retries of provider faults
                # the client gave up on), for good; a SIGINT after the first signal is its force quit.
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self.process = None
        if self.provider is not None:
            self.provider.stop()
            self.provider = None

    def __enter__(self) -> "LiteLLMProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--log", type=Path, default=None, help="write the proxy's output here")
    args = parser.parse_args()
    # SIGTERM must unwind through the context manager, or the proxy outlives us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with LiteLLMProxy(args.port, args.log) as proxy:
            print(f"READY {proxy.url}", flush=True)
            print(f"export GWC_LITELLM_URL={proxy.url} GWC_PROVIDER_URL={proxy.provider_url}", flush=True)
            while proxy.process is not None and proxy.process.poll() is None:
                time.sleep(1)
    except RuntimeError as exc:
        print(f"litellm: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
