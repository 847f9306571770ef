"""Async tasks that hold credit (profiles with `tasks`, i.e. mindproxy): CHG-6's subject.

A task reserves its worst-case cost as a hold when created; it then succeeds (the hold is
captured at the real cost, charged under the create request's id), fails, is cancelled or
expires (the hold is released untouched: "not charged; the hold is released"). Tasks move on only
when asked (`GET` or `cancel`), never on a timer, so "create then cancel" always cancels a running
task and the suite needs no timing assumptions. `fail: true` in the body makes a task fail;
`expires_in_s: S` gives it a deadline: a task runs `TASK_RUN_S`, so one whose deadline is shorter
has expired when asked after it (and is still running when asked before).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from conformance.reference.types import Call, Reject
from conformance.servers import fake_model
from conformance.servers.request_params import ParamError

if TYPE_CHECKING:
    from conformance.reference.app import Gateway

TASK_RUN_S = 0.2  # a task asked about after this long has finished
TASKS_PATH = "/v1/tasks"
EXPIRING_TASK_S = 0.1  # the deadline of the expiring task the reference's target config describes
MAX_EXPIRES_IN_S = 3600.0


@dataclass
class Task:
    task_id: str
    key_id: str
    hold_id: str
    request_id: str
    tokens: int
    fail: bool
    created: float
    expires_in_s: float | None = None
    status: str = "running"  # running | succeeded | failed | cancelled | expired


class TaskBook:
    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.lock = threading.Lock()


def validate_task(body: dict[str, Any]) -> dict[str, Any]:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ParamError("model", "'model' must be a non-empty string.", missing=model is None)
    text = body.get("input")
    if not isinstance(text, str):
        raise ParamError("input", "'input' must be a string.", missing=text is None)
    fail = body.get("fail", False)
    if not isinstance(fail, bool):
        raise ParamError("fail", "'fail' must be a boolean.")
    expires = body.get("expires_in_s")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, (int, float))
                                or not 0 < expires <= MAX_EXPIRES_IN_S):
        raise ParamError("expires_in_s", f"'expires_in_s' must be a number of seconds in (0, {MAX_EXPIRES_IN_S:g}].")
    return {"model": model, "prompt_tokens": len(text.split()), "fail": fail,
            "expires_in_s": None if expires is None else float(expires)}


def _view(task: Task) -> dict[str, Any]:
    return {"id": task.task_id, "object": "task", "status": task.status}


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json")


def serve_task_create(gateway: Gateway, call: Call) -> Response:
    tokens = call.params["prompt_tokens"] + fake_model.MAX_COMPLETION_TOKENS
    hold_id = gateway.ledger.place_hold(call.key.key_id, fake_model.cost_of(tokens))
    task = Task("task_" + secrets.token_hex(8), call.key.key_id, hold_id, call.request_id, tokens,
                call.params["fail"], time.monotonic(), call.params.get("expires_in_s"))
    book: TaskBook = gateway.tasks
    with book.lock:
        book.tasks[task.task_id] = task
    return _json(_view(task), 202)


def _advance(gateway: Gateway, task: Task) -> None:
    """Settle a running task that has had its time: fail or expire (release) or succeed (capture)."""
    if task.status != "running":
        return
    age = time.monotonic() - task.created
    if task.fail:
        task.status = "failed"
        if gateway.defects.on("charge_failed_task"):
            gateway.ledger.capture_hold(task.hold_id, task.request_id, fake_model.cost_of(task.tokens))
        else:
            gateway.ledger.release_hold(task.hold_id)
    elif task.expires_in_s is not None and task.expires_in_s < TASK_RUN_S and age >= task.expires_in_s:
        task.status = "expired"
        if not gateway.defects.on("expired_task_keeps_hold"):  # the defect: the hold stays reserved
            gateway.ledger.release_hold(task.hold_id)
    elif age >= TASK_RUN_S:
        task.status = "succeeded"
        gateway.ledger.capture_hold(task.hold_id, task.request_id, fake_model.cost_of(task.tokens))


def task_routes(gateway: Gateway) -> list[BaseRoute]:

    def find(request: Request) -> Task:
        key = gateway.authenticate(request)
        task = gateway.tasks.tasks.get(request.path_params["task_id"])
        if task is None or task.key_id != key.key_id:
            raise Reject(404, gateway.dialect.open_code("not_found"), "No task has this id.")
        return task

    def _cancel(gw: Gateway, task: Task) -> None:
        if task.status == "running":
            task.status = "cancelled"
            if gw.defects.on("charge_cancelled_task"):
                gw.ledger.capture_hold(task.hold_id, task.request_id, fake_model.cost_of(task.tokens))
            else:
                gw.ledger.release_hold(task.hold_id)

    def route(action: Callable[[Gateway, Task], None]) -> Callable[[Request], Any]:
        """A task route: find the caller's task, apply `action` under the lock, answer its state."""

        async def handler(request: Request) -> Response:
            try:
                task = find(request)
            except Reject as reject:
                return gateway.render(reject)
            with gateway.tasks.lock:
                action(gateway, task)
            return _json(_view(task))

        return handler

    return [
        Route(TASKS_PATH + "/{task_id}", route(_advance), methods=["GET"]),
        Route(TASKS_PATH + "/{task_id}/cancel", route(_cancel), methods=["POST"]),
    ]


def task_config(model: str) -> dict[str, Any]:
    """The target-config `tasks` section describing these routes."""
    return {
        "create": {"method": "POST", "path": TASKS_PATH, "body": {"model": model, "input": "Summarise: OK."}},
        "failing_body": {"model": model, "input": "Summarise: OK.", "fail": True},
        "expiring_body": {"model": model, "input": "Summarise: OK.", "expires_in_s": EXPIRING_TASK_S},
        "expires_after_s": EXPIRING_TASK_S,
        "get": {"method": "GET", "path": TASKS_PATH + "/{id}"},
        "cancel": {"method": "POST", "path": TASKS_PATH + "/{id}/cancel"},
    }
