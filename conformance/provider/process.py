"""`ProviderProcess`: the fault-injecting provider as a child process (for the plugin and self-tests).

The same life cycle as `ReferenceProcess` (READY line, stdin watch, stop = close stdin), so it
shares `ServerProcess` with it: only the command and the environment differ. Each start generates a fresh
provider key and hands it over in GWC_PROVIDER_KEY (never argv); `.env` carries it on to the
gateway that must present it.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from conformance.provider.serve import KEY_ENV
from conformance.reference.child import ServerProcess


class ProviderProcess(ServerProcess):
    """Start / stop one provider: `.url`, `.api_key`, `.config` (its `provider` section) once started."""

    what = "fault-injecting provider"

    def __init__(self, host: str = "127.0.0.1", config_path: Path | None = None, api_key: str | None = None) -> None:
        super().__init__(host=host, config_path=config_path)
        self.api_key = api_key or "sk-provider-" + secrets.token_hex(16)
        self.env = {KEY_ENV: self.api_key}

    def command(self) -> list[str]:
        return [sys.executable, "-m", "conformance.provider", "--host", self.host,
                "--write-config", str(self.config_path), "--exit-on-stdin-eof"]
