"""The schemathesis CLI on our OpenAPI description, same target, same budget as our fuzzing (FUZ).

Pluggable: the OpenAPI description (schemas/openapi*.yaml) comes with the fuzzing issue; until it
exists this item reports "pending" instead of a number.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conformance.transport.redact import Redactor

REPO = Path(__file__).resolve().parents[1]
MAX_EXAMPLES = int(os.environ.get("GWC_BENCH_FUZZ_EXAMPLES", "50"))


def openapi_description() -> Path | None:
    found = sorted((REPO / "schemas").glob("openapi*.yaml"))
    return found[0] if found else None


def measure(url: str, config: dict[str, Any]) -> dict[str, Any]:
    spec = openapi_description()
    if spec is None:
        return {"status": "pending", "reason": "schemas/openapi*.yaml does not exist yet (fuzzing issue)"}
    exe = shutil.which("schemathesis") or shutil.which("st")
    command = [exe] if exe else [sys.executable, "-m", "schemathesis.cli"]
    key = config["roles"]["valid"]["api_key"]
    command += ["run", str(spec), "--url", url, "--max-examples", str(MAX_EXAMPLES),
                "-H", f"Authorization: Bearer {key}", "--checks", "not_a_server_error"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    return {"status": "measured", "spec": spec.name, "max_examples": MAX_EXAMPLES, "wall_s": round(wall, 2),
            "exit": done.returncode, "tail": Redactor([key]).text((done.stdout + done.stderr).strip().splitlines()[-1] if (done.stdout + done.stderr).strip() else "")}
