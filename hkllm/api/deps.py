"""FastAPI dependencies: the one place that reads app state and checks the API key."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from hkllm.errors import AuthenticationError
from hkllm.services.chat import ChatService
from hkllm.settings import Settings


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def require_api_key(request: Request) -> None:
    """When ``api_keys`` is set, every /v1 route needs ``Authorization: Bearer <one of them>``."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not any(secrets.compare_digest(token, key) for key in keys):
        raise AuthenticationError("missing or invalid API key; send 'Authorization: Bearer <key>'")


def get_chat_service(request: Request) -> ChatService:
    return request.app.state.chat_service


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
