"""How a gateway reaches the fault-injecting provider, without importing it: `ProviderProcess`
starts `python -m conformance.provider` as a child process, `KEY_ENV` carries its key, and
`provider_section` is the target config's `provider` section for a gateway routed to it.

`ProviderProcess` has the same life cycle as `ReferenceProcess` (READY line, stdin watch, stop =
close stdin), so it shares `ServerProcess` with it: only the command and the environment differ.
Each start generates a fresh provider key and hands it over in GWC_PROVIDER_KEY (never argv);
`.env` carries it on to the gateway that must present it.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from conformance.servers.supervisor import ServerProcess

KEY_ENV = "GWC_PROVIDER_KEY"
PROVIDER_MODULE = "conformance.provider"


def provider_section(url: str, api_key: str | None) -> dict[str, Any]:
    """The target config's `provider` section for a gateway routed to the provider at `url`."""
    section: dict[str, Any] = {"records_url": url, "internal_address": url.split("://", 1)[1]}
    if api_key:
        section["api_key"] = api_key
    return section


class ProviderProcess(ServerProcess):
    """Start / stop one provider: `.url`, `.api_key`, `.config` (its `provider` section) once started."""

    what = "fault-injecting provider"

    def __init__(self, host: str = "127.0.0.1", config_path: Path | None = None, api_key: str | None = None) -> None:
        super().__init__(host=host, config_path=config_path)
        self.api_key = api_key or "sk-provider-" + secrets.token_hex(16)
        self.env = {KEY_ENV: self.api_key}

    def command(self) -> list[str]:
        return [sys.executable, "-m", PROVIDER_MODULE, "--host", self.host,
                "--write-config", str(self.config_path), "--exit-on-stdin-eof"]
