"""Request-body validation for the inference routes.

Validators are plain functions `body -> params` that raise `ParamError` naming the offending
field, independent of any dialect: the pipeline turns a `ParamError` into the profile's 400 (and
the `bad_params_*` defects bend it there, in one place). Unknown top-level fields are ignored,
as the OpenAI API does; `null` for an optional parameter means "not given", as it does there.
"""

from __future__ import annotations

from typing import Any

CHAT_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


class ParamError(Exception):
    """An invalid or missing parameter: `param` is the field to name in the error."""

    def __init__(self, param: str, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.param = param
        self.message = message
        self.missing = missing


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise ParamError("model", "Missing required parameter: 'model'.", missing=True)
    if not isinstance(model, str) or not model.strip():
        raise ParamError("model", "'model' must be a non-empty string.")
    return model


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    """The optional parameters chat and completions share."""
    temperature = body.get("temperature")
    if temperature is not None and not (_is_number(temperature) and 0 <= temperature <= 2):
        raise ParamError("temperature", "'temperature' must be a number between 0 and 2.")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and not (_is_int(max_tokens) and max_tokens >= 1):
        raise ParamError("max_tokens", "'max_tokens' must be an integer of at least 1.")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ParamError("stream", "'stream' must be a boolean.")
    n = body.get("n")
    if n is not None and not (_is_int(n) and 1 <= n <= 8):
        raise ParamError("n", "'n' must be an integer between 1 and 8.")
    stream_options = body.get("stream_options")
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
    return {
        "max_tokens": max_tokens,
        "stream": bool(stream),
        "n": n or 1,
        "include_usage": include_usage,
    }


def _words(text: str) -> int:
    return len(text.split())


def _content_words(content: Any) -> int:
    if isinstance(content, str):
        return _words(content)
    total = 0
    for part in content:  # a list of content parts: count the text ones
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            total += _words(part["text"])
    return total


def validate_chat(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/chat/completions`."""
    model = _model(body)
    messages = body.get("messages")
    if messages is None:
        raise ParamError("messages", "Missing required parameter: 'messages'.", missing=True)
    if not isinstance(messages, list) or not messages:
        raise ParamError("messages", "'messages' must be a non-empty array.")
    prompt_tokens = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ParamError("messages", f"'messages[{index}]' must be an object.")
        role = message.get("role")
        if not isinstance(role, str) or role not in CHAT_ROLES:
            raise ParamError("messages", f"'messages[{index}].role' must be one of {', '.join(sorted(CHAT_ROLES))}.")
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise ParamError("messages", f"'messages[{index}].content' must be a string or an array of content parts.")
        prompt_tokens += _content_words(content)
    return {"model": model, "prompt_tokens": prompt_tokens, **_sampling(body)}


def validate_completion(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/completions` (legacy): `prompt` is a string or an array of strings / token ids."""
    model = _model(body)
    prompt = body.get("prompt")
    if prompt is None:
        raise ParamError("prompt", "Missing required parameter: 'prompt'.", missing=True)
    if isinstance(prompt, str):
        prompt_tokens = _words(prompt)
    elif isinstance(prompt, list) and all(isinstance(p, str) or _is_int(p) for p in prompt):
        prompt_tokens = sum(_words(p) if isinstance(p, str) else 1 for p in prompt)
    else:
        raise ParamError("prompt", "'prompt' must be a string or an array of strings.")
    return {"model": model, "prompt_tokens": prompt_tokens, **_sampling(body)}


def validate_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/embeddings`: `input` is a string or a non-empty array of strings."""
    model = _model(body)
    value = body.get("input")
    if value is None:
        raise ParamError("input", "Missing required parameter: 'input'.", missing=True)
    if isinstance(value, str):
        inputs = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        inputs = list(value)
    else:
        raise ParamError("input", "'input' must be a string or a non-empty array of strings.")
    return {"model": model, "inputs": inputs, "prompt_tokens": sum(_words(v) for v in inputs)}
