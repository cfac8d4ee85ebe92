"""Request bodies and OpenAI-style error bodies of the model server's HTTP API.

The pydantic models of ``POST /v1/completions`` and ``POST /v1/chat/completions`` (strict:
unknown fields and wrong types are rejected), the :class:`_ApiError` exception the endpoints
raise, and the translation of a pydantic validation error into an OpenAI error body
(``{"error": {"message", "type", "param", "code"}}``). Used by :mod:`yotsuba.slm.serve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "CompletionRequest",
    "StreamOptions",
    "TextPart",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StreamOptions(_Strict):
    """``stream_options``: ask for a final usage chunk."""

    include_usage: bool = False


class _Sampling(_Strict):
    model: str | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="only 1 completion per prompt is supported")
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    def stops(self) -> list[str]:
        """The stop strings as a list."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class CompletionRequest(_Sampling):
    """Body of ``POST /v1/completions``."""

    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1)

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not 1 <= len(v) <= 64:
            raise ValueError("give 1 to 64 prompts")
        return v


class TextPart(_Strict):
    """A text part of a message's content."""

    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        """The content as plain text."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class ChatRequest(_Sampling):
    """Body of ``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)


class _ApiError(Exception):
    def __init__(
        self, status: int, message: str, param: str | None, code: str,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = (
            status, message, param, code, kind,
        )


def _error_body(message: str, kind: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


_CODES = {
    "json_invalid": "invalid_json",
    "extra_forbidden": "unknown_field",
    "missing": "missing_required_field",
    "model_attributes_type": "invalid_type",
}


def _validation_message(errors: Sequence[Any]) -> tuple[str, str | None, str]:
    e = dict(errors[0])
    loc = [str(x) for x in e.get("loc", ()) if x != "body"]
    # Union members add their type name to the location (e.g. "str"); drop those.
    loc = [x for x in loc if x not in ("str", "list[str]", "list[TextPart]", "int", "float")]
    param = ".".join(loc) or None
    etype = str(e.get("type", "value_error"))
    code = _CODES.get(etype, "invalid_type" if etype.endswith("_type") else "invalid_value")
    if etype == "json_invalid":
        return f"the request body is not valid JSON: {e.get('msg')}", None, code
    if etype == "extra_forbidden":
        return f"unknown field {param!r}: remove it (see docs/slm-serve.md)", param, code
    return f"{param or 'body'}: {e.get('msg')}", param, code
