"""``hkllm apps list | run`` through the real top-level CLI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

import hkllm.runtime
from hkllm.apps import base
from hkllm.apps.base import App, AppContext, AppRegistry, UnknownApp
from hkllm.cli import app
from hkllm.engine import Engine, FakeEngine, chat_text
from hkllm.registry import Registry
from hkllm.settings import Settings


class Sentence(BaseModel):
    text: str


class Translation(BaseModel):
    translation: str
    engine: str


class ToEnglish(App[Sentence, Translation]):
    id = "to-english"
    title = "To English"
    Input = Sentence
    Output = Translation

    async def run(self, input: Sentence, ctx: AppContext) -> Translation:
        reply = await chat_text(ctx.engine, [{"role": "user", "content": f"Translate: {input.text}"}])
        return Translation(translation=reply, engine=ctx.engine.name)


class KBCheck(App[Sentence, Sentence]):
    """Needs the knowledge base only: says whether it got one."""

    id = "kb-check"
    title = "KB check"
    Input = Sentence
    Output = Sentence
    needs_engine = False
    needs_kb = True

    async def run(self, input: Sentence, ctx: AppContext) -> Sentence:
        stats = ctx.kb.stats() if ctx.kb is not None else None
        return Sentence(text=f"{input.text}: {'documents' in dict(stats) if stats is not None else 'no kb'}")


@dataclass
class CommandEngine:
    engine: FakeEngine
    started: list[Settings] = field(default_factory=list)  # one entry per engine_for_command call


@pytest.fixture
def model_app(monkeypatch: pytest.MonkeyPatch) -> CommandEngine:
    """The app registry with echo and a model-using app; the command's engine is a fake one."""
    registry: AppRegistry = Registry("app", base=App, group="hkllm.test_apps_cli", builtins=("hkllm.apps.echo:EchoApp",),
                                     not_found=UnknownApp, param="app_id")
    registry.register(ToEnglish)
    registry.register(KBCheck)
    monkeypatch.setattr(base, "APPS", registry)
    command = CommandEngine(FakeEngine(default=lambda r: "Have you eaten?" if "食咗飯未" in r.messages[-1].text()
                                       else "?"))

    @asynccontextmanager
    async def fake_engine_for_command(settings: Settings) -> AsyncIterator[Engine]:
        command.started.append(settings)
        yield command.engine

    monkeypatch.setattr(hkllm.runtime, "engine_for_command", fake_engine_for_command)
    return command


def test_list_names_echo() -> None:
    result = CliRunner().invoke(app, ["apps", "list"])
    assert result.exit_code == 0, result.output
    assert "echo" in result.stdout and "Echo" in result.stdout


def test_list_json_is_what_the_api_lists() -> None:
    result = CliRunner().invoke(app, ["apps", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [a["id"] for a in listed] == ["echo"]
    assert listed[0]["input_schema"]["required"] == ["text"]


def test_run_echo_json_and_plain() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["apps", "run", "echo", "--input", '{"text": "早晨！"}', "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"text": "早晨！"}
    plain = runner.invoke(app, ["apps", "run", "echo", "--input", '{"text": "早晨！"}'])
    assert plain.exit_code == 0 and plain.stdout == "早晨！\n"


def test_run_reads_an_input_file(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"text": "檔案入面"}', encoding="utf-8")
    result = CliRunner().invoke(app, ["apps", "run", "echo", "--input-file", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"text": "檔案入面"}


def test_an_app_that_needs_the_model_gets_the_commands_engine(model_app: CommandEngine) -> None:
    result = CliRunner().invoke(app, ["apps", "run", "to-english", "--input", '{"text": "食咗飯未？"}', "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"translation": "Have you eaten?", "engine": "fake"}
    assert len(model_app.started) == 1
    plain = CliRunner().invoke(app, ["apps", "run", "to-english", "--input", '{"text": "食咗飯未？"}'])
    assert plain.stdout.splitlines() == ["translation: Have you eaten?", "engine: fake"]


def test_echo_starts_no_model(model_app: CommandEngine) -> None:
    result = CliRunner().invoke(app, ["apps", "run", "echo", "--input", '{"text": "hi"}'])
    assert result.exit_code == 0, result.output
    assert model_app.started == [] and model_app.engine.requests == []


@pytest.mark.parametrize(("args", "says"), [
    (["run", "echo", "--input", '{"txt": "x"}'], "invalid input for app 'echo': text: Field required"),
    (["run", "echo", "--input", "{oops"], "the input is not valid JSON"),
    (["run", "echo"], "--input JSON or --input-file FILE"),
    (["run", "nope", "--input", "{}"], "unknown app 'nope'; known apps: echo"),
])
def test_errors_exit_2_with_a_message(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["apps", *args])
    assert result.exit_code == 2
    assert says in " ".join(result.stderr.split())


def test_bad_input_starts_no_model(model_app: CommandEngine) -> None:
    result = CliRunner().invoke(app, ["apps", "run", "to-english", "--input", '{"txt": "x"}'])
    assert result.exit_code == 2
    assert model_app.started == []


def test_an_app_that_needs_the_knowledge_base_gets_the_commands_one(model_app: CommandEngine) -> None:
    result = CliRunner().invoke(app, ["apps", "run", "kb-check", "--input", '{"text": "kb"}', "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"text": "kb: True"}
    assert model_app.started == []
