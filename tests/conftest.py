"""Shared fixtures: a temp data dir for every test, a fake engine, an API client over it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hkllm.api.app import build_app
from hkllm.engine import FakeEngine
from hkllm.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HKLLM_DATA_DIR and no stray HKLLM_* settings from the environment."""
    import os

    for key in list(os.environ):
        if key.startswith("HKLLM_"):
            monkeypatch.delenv(key)
    path = tmp_path / "data"
    monkeypatch.setenv("HKLLM_DATA_DIR", str(path))
    return path


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings()


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine(model="fake-model")


@pytest.fixture
def client(settings: Settings, fake_engine: FakeEngine) -> Iterator[TestClient]:
    """The API over the fake engine, reply-language policy off (tests of the policy turn it on)."""
    settings.reply_lang = "off"
    with TestClient(build_app(settings, fake_engine)) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
