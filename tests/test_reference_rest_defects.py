"""The reference gateway's behaviours and defects for the rest of both contracts (issue 14): expiring
tasks and their holds, a disabled key, the origin allow-list, the rate-limit headers on the key's
own 429, and the daily cap's Retry-After. In process (TestClient): each costs milliseconds."""

from __future__ import annotations

import time
from typing import Any

from conformance.reference.clock import seconds_to_utc_midnight
from conformance.reference.provision import DEFAULT_MODEL
from conformance.reference.tasks import TASK_RUN_S, task_config
from tests.test_reference_gateway import InProcess

TASKS = task_config(DEFAULT_MODEL)  # the `tasks` section the reference writes into its target config


def _account(gw: InProcess, role: str) -> dict[str, Any]:
    config = gw.config
    key_id = config["roles"][role]["key_id"]
    admin = {"Authorization": f"Bearer {config['billing']['api_key']}"}
    return gw.client.get(f"/_oracle/keys/{key_id}", headers=admin).json()


def _task(gw: InProcess, body: dict[str, Any]) -> str:
    response = gw.post("valid", body, path="/v1/tasks")
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _get(gw: InProcess, task_id: str) -> str:
    auth = {"Authorization": f"Bearer {gw.config['roles']['valid']['api_key']}"}
    return gw.client.get(f"/v1/tasks/{task_id}", headers=auth).json()["status"]


def test_expiring_task_expires_and_releases_its_hold() -> None:
    gw = InProcess("mindproxy")
    before = _account(gw, "valid")
    task_id = _task(gw, TASKS["expiring_body"])
    assert _account(gw, "valid")["balance"] < before["balance"]  # the hold is placed
    time.sleep(TASKS["expires_after_s"])
    assert _get(gw, task_id) == "expired"
    assert _account(gw, "valid") == before


def test_a_deadline_longer_than_the_run_succeeds() -> None:
    gw = InProcess("mindproxy")
    task_id = _task(gw, {**TASKS["create"]["body"], "expires_in_s": 5})
    time.sleep(TASK_RUN_S)
    assert _get(gw, task_id) == "succeeded"


def test_bad_expires_in_s_is_a_400_naming_it() -> None:
    gw = InProcess("mindproxy")
    response = gw.post("valid", {**TASKS["create"]["body"], "expires_in_s": "soon"}, path="/v1/tasks")
    assert response.status_code == 400 and "expires_in_s" in response.text


def test_expired_task_keeps_hold_defect() -> None:
    gw = InProcess("mindproxy", "expired_task_keeps_hold")
    before = _account(gw, "valid")
    task_id = _task(gw, TASKS["expiring_body"])
    time.sleep(TASKS["expires_after_s"])
    assert _get(gw, task_id) == "expired"
    after = _account(gw, "valid")
    assert after["spend"] == before["spend"] and after["balance"] < before["balance"]


def test_charge_cancelled_task_defect() -> None:
    gw = InProcess("mindproxy", "charge_cancelled_task")
    before = _account(gw, "valid")
    task_id = _task(gw, TASKS["create"]["body"])
    auth = {"Authorization": f"Bearer {gw.config['roles']['valid']['api_key']}"}
    assert gw.client.post(f"/v1/tasks/{task_id}/cancel", headers=auth).json()["status"] == "cancelled"
    assert _account(gw, "valid")["spend"] > before["spend"]


def test_disabled_key_served_defect() -> None:
    assert InProcess("mindproxy").post("disabled").status_code == 401
    assert InProcess("mindproxy", "disabled_key_served").post("disabled").status_code == 200


def test_allowed_origin_is_served_unless_every_origin_is_refused() -> None:
    for gw, served in ((InProcess("pyai"), True), (InProcess("pyai", "every_origin_refused"), False)):
        role = gw.config["roles"]["publishable"]
        allowed = gw.post("publishable", Origin=role["allowed_origin"])
        assert (allowed.status_code == 200) is served
        refused = gw.post("publishable", Origin=role["disallowed_origin"])
        assert (refused.status_code, gw.code(refused)) == (403, "origin_not_allowed")


def _own_429(gw: InProcess) -> Any:
    for _ in range(gw.config["roles"]["rate_limited"]["limit"]):
        assert gw.post("rate_limited").status_code == 200
    refused = gw.post("rate_limited")
    assert refused.status_code == 429
    return refused.headers


def test_rate_limit_headers_on_the_key_s_own_429() -> None:
    healthy = _own_429(InProcess("mindproxy"))
    assert healthy["X-RateLimit-Remaining"] == "0"
    assert int(healthy["X-RateLimit-Reset"]) >= int(healthy["Retry-After"])
    remaining = _own_429(InProcess("mindproxy", "remaining_nonzero_on_429"))
    assert remaining["X-RateLimit-Remaining"] == remaining["X-RateLimit-Limit"]
    penalty = _own_429(InProcess("mindproxy", variants=("retry_after_penalty",)))
    assert int(penalty["Retry-After"]) >= int(penalty["X-RateLimit-Reset"]) + 2
    boxed = _own_429(InProcess("mindproxy", "retry_after_too_short"))
    assert int(boxed["Retry-After"]) == 1 and int(boxed["X-RateLimit-Reset"]) >= 3


def test_daily_cap_retry_after_points_at_the_reset() -> None:
    healthy = InProcess("pyai")
    assert healthy.config["roles"]["daily_capped"]["resets_at"] == "00:00Z"
    before = seconds_to_utc_midnight()
    wait = int(healthy.post("daily_capped").headers["Retry-After"])
    assert before - 2 <= wait <= seconds_to_utc_midnight() + 2 or wait <= 2  # at midnight it wraps
    assert InProcess("pyai", "daily_cap_retry_after_short").post("daily_capped").headers["Retry-After"] == "60"
