"""`ReferenceProcess`: the reference gateway as a child process, for the plugin and the self-tests.

A subprocess rather than a thread so the gateway's event loop, signal handling and crashes stay
out of pytest's process, and under xdist one gateway serves every worker. The child watches its
stdin: when this process dies, the pipe closes and the gateway exits with it
(`conformance.servers.supervisor`).

Provider mode (the default): a fault-injecting provider (`python -m conformance.provider`, through
`conformance.servers.provider_link`, never imported) is started first
and the gateway routes the provider's models (`gwc-ok`, `gwc-fault/*`) to it, so bare `pytest`
certifies UPS too; the provider stops after the gateway.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.servers.provider_link import ProviderProcess
from conformance.servers.supervisor import ServerProcess


class ReferenceProcess(ServerProcess):
    """Start / stop one reference gateway: `.url`, `.config_path`, `.config` once started."""

    what = "reference gateway"

    def __init__(
        self,
        profile: str,
        defects: Sequence[str] = (),
        host: str = "127.0.0.1",
        config_path: Path | None = None,
        variants: Sequence[str] = (),
        provider: bool = True,
    ) -> None:
        super().__init__(host=host, config_path=config_path)
        self.profile = profile
        self.defects = tuple(defects)
        self.variants = tuple(variants)
        self.with_provider = provider
        self.provider: ProviderProcess | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "conformance.reference", "--profile", self.profile, "--host", self.host]
        cmd += ["--write-config", str(self.config_path), "--exit-on-stdin-eof"]
        for name in self.defects:
            cmd += ["--defect", name]
        for name in self.variants:
            cmd += ["--variant", name]
        if self.provider is not None and self.provider.url:
            cmd += ["--provider", self.provider.url]
        return cmd

    def before_start(self, timeout: float) -> None:
        if not self.with_provider or self.provider is not None:
            return
        provider = ProviderProcess(host=self.host)
        provider.start(timeout)  # raises ConformanceError with the provider's own reason
        self.provider = provider
        self.env.update(provider.env)

    def after_stop(self, timeout: float) -> None:
        provider, self.provider = self.provider, None
        if provider is not None:
            provider.stop(timeout)
