"""Typed exceptions. One API handler turns any ``HkllmError`` into an OpenAI-style error envelope."""

from __future__ import annotations


class HkllmError(Exception):
    """Base class. ``status`` is the HTTP status the API answers with; ``type`` the OpenAI error type."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


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
