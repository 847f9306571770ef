"""The "model" behind the reference gateway: deterministic, OpenAI-shaped answers and their price.

Nothing here is random except ids, so a test can predict usage and cost exactly:
prompt tokens = words in the input, completion tokens = min(max_tokens or 16, 16) per choice,
cost = total tokens × PRICE_PER_TOKEN.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

PRICE_PER_TOKEN = 0.00001
MAX_COMPLETION_TOKENS = 16
EMBEDDING_DIMENSIONS = 8
_REPLY_WORDS = (
    "This is a gateway-conformance test server answering with a fixed reply so that usage and cost stay "
    "predictable for every conformance run it serves today."
).split()


def cost_of(total_tokens: int) -> float:
    return round(total_tokens * PRICE_PER_TOKEN, 8)


def completion_tokens(params: dict[str, Any]) -> int:
    """Per choice."""
    return min(params.get("max_tokens") or MAX_COMPLETION_TOKENS, MAX_COMPLETION_TOKENS)


def usage(prompt_tokens: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}


def reply_words(count: int) -> list[str]:
    return [_REPLY_WORDS[i % len(_REPLY_WORDS)] for i in range(count)]


def _finish_reason(params: dict[str, Any]) -> str:
    max_tokens = params.get("max_tokens")
    return "length" if max_tokens is not None and max_tokens < MAX_COMPLETION_TOKENS else "stop"


def chat_completion(params: dict[str, Any]) -> dict[str, Any]:
    per_choice = completion_tokens(params)
    text = " ".join(reply_words(per_choice))
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": params["model"],
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": _finish_reason(params),
            }
            for i in range(params["n"])
        ],
        "usage": usage(params["prompt_tokens"], per_choice * params["n"]),
    }


def text_completion(params: dict[str, Any]) -> dict[str, Any]:
    per_choice = completion_tokens(params)
    text = " ".join(reply_words(per_choice))
    return {
        "id": "cmpl-" + secrets.token_hex(12),
        "object": "text_completion",
        "created": int(time.time()),
        "model": params["model"],
        "choices": [
            {"index": i, "text": text, "logprobs": None, "finish_reason": _finish_reason(params)}
            for i in range(params["n"])
        ],
        "usage": usage(params["prompt_tokens"], per_choice * params["n"]),
    }


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return [round((b - 127.5) / 127.5, 6) for b in digest[:EMBEDDING_DIMENSIONS]]


def embeddings(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _vector(text)} for i, text in enumerate(params["inputs"])],
        "model": params["model"],
        "usage": {"prompt_tokens": params["prompt_tokens"], "total_tokens": params["prompt_tokens"]},
    }


def models_list(models: tuple[str, ...]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 1700000000, "owned_by": "reference"} for m in models],
    }


def chat_stream_events(params: dict[str, Any], completion_id: str, delivered: list[int]) -> Iterator[bytes]:
    """SSE events of a streamed chat completion; `delivered[0]` counts completion tokens sent.

    The caller charges for what was delivered once the iterator ends or is closed, so a stream
    the client cuts off is billed no more than it received (CHG-5).
    """
    created = int(time.time())

    def event(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> bytes:
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": params["model"],
            "choices": choices,
            **(extra or {}),
        }
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    n = params["n"]
    yield event([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None} for i in range(n)])
    for position, word in enumerate(reply_words(completion_tokens(params))):
        text = word if position == 0 else " " + word
        for i in range(n):
            yield event([{"index": i, "delta": {"content": text}, "finish_reason": None}])
            delivered[0] += 1
    yield event([{"index": i, "delta": {}, "finish_reason": _finish_reason(params)} for i in range(n)])
    if params.get("include_usage"):
        yield event([], {"usage": usage(params["prompt_tokens"], delivered[0])})
    yield b"data: [DONE]\n\n"
