"""Typed exceptions. One API handler turns any ``HkllmError`` into an OpenAI-style error envelope."""

from __future__ import annotations

import logging
import re
import uuid

# What must never reach a client: absolute file paths, URLs (the engine's internal address among them).
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]+", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w/.])(?:[A-Za-z]:\\|~?/)(?:[\w.@+-]+[/\\])+[\w.@+-]*")
_TRACEBACK_LINE = re.compile(r"^\s*(?:Traceback \(most recent call last\)|File \"|\^+\s*$)")


def _file_name_only(match: re.Match[str]) -> str:
    name = re.split(r"[/\\]", match.group(0))[-1]
    return f"…/{name}" if name else "<path>"


def redact(text: str) -> str:
    """``text`` with URLs replaced by ``<url>`` and absolute file paths cut to their file name
    (``/srv/models/x.gguf`` → ``…/x.gguf``): which file is missing stays clear, the server's layout not."""
    return _PATH.sub(_file_name_only, _URL.sub("<url>", text))


def summarise(text: str, limit: int = 200) -> str:
    """A one-line, redacted summary of an error text (a Python traceback becomes its last line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _TRACEBACK_LINE.match(line)]
    if "Traceback (most recent call last)" in text and lines:
        lines = lines[-1:]
    line = redact(" ".join(lines))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def new_request_id() -> str:
    """The id a client gets with an error, to find its detail in the server log."""
    return "req_" + uuid.uuid4().hex[:20]


log = logging.getLogger("hkllm.errors")


def log_error(exc: BaseException, request_id: str, where: str = "") -> None:
    """Write an error answered to a client to the server log under ``request_id``: the full message, an
    ``HkllmError``'s ``detail`` (the engine's own text) and, for an unexpected exception, its traceback.
    Server-side and engine errors at WARNING (shown by default), client errors at INFO."""
    if not isinstance(exc, HkllmError):
        log.error("%s %s unexpected %s: %s", request_id, where, type(exc).__name__, exc, exc_info=exc)
        return
    level = logging.WARNING if exc.status >= 500 or exc.detail else logging.INFO
    detail = f" | detail: {exc.detail}" if exc.detail else ""
    log.log(level, "%s %s %d %s: %s%s", request_id, where, exc.status, type(exc).__name__, exc.message, detail)


class HkllmError(Exception):
    """Base class. ``status`` is the HTTP status the API answers with; ``type`` the OpenAI error type."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.detail = detail  # for the server log only (an engine's own error text); never sent
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        """The OpenAI error envelope; a server-side (5xx) message is redacted of paths and URLs."""
        message = redact(self.message) if self.status >= 500 else self.message
        return {"error": {"message": message, "type": self.type, "param": self.param, "code": self.code}}

    def envelope(self, request_id: str) -> dict:
        """``to_dict`` (as a subclass makes it) for a client, with ``request_id`` (the key to the server log's
        entry) named in the message of a server-side or engine error, whose detail only the log has."""
        body = self.to_dict()
        error = body.get("error")
        if isinstance(error, dict) and (self.status >= 500 or self.detail):
            error["message"] = f"{error['message']} (request id {request_id})"
        return body


class InvalidRequest(HkllmError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(HkllmError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(HkllmError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class RequestTooLarge(HkllmError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class EngineUnavailable(HkllmError):
    """The model server cannot be reached, is starting, or its model file is missing."""

    status = 503
    type = "engine_unavailable"
    code = "engine_unavailable"


class EngineError(HkllmError):
    """The model server answered, but with an error."""

    status = 502
    type = "engine_error"
    code = "engine_error"


class ModelFileError(HkllmError):
    """The model file is missing, incomplete or fails its checksum."""

    status = 503
    type = "engine_unavailable"
    code = "model_file"
