"""The generic registry (``hkllm.registry``) as apps and eval tasks use it: register, duplicates, unknown ids,
built-ins and entry-point plugins loaded through the same path, stable order; the App interface's checks."""

from __future__ import annotations

import asyncio
import importlib.metadata
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from hkllm.apps import base
from hkllm.apps.base import (
    APPS,
    App,
    AppContext,
    AppInputError,
    AppOutputError,
    AppRegistry,
    UnknownApp,
    all_apps,
    get_app,
)
from hkllm.apps.echo import EchoApp, EchoInput, EchoOutput
from hkllm.engine import FakeEngine
from hkllm.evals.task import TASKS, UnknownTask, get_task
from hkllm.registry import DuplicateId, InvalidEntry, PluginLoadError, Registry, UnknownId
from hkllm.settings import Settings

GROUP = "hkllm.test_apps"


class Text(BaseModel):
    text: str


class Upper(App[Text, Text]):
    id = "upper"
    title = "Upper case"
    Input = Text
    Output = Text
    needs_engine = False

    async def run(self, input: Text, ctx: AppContext) -> Text:
        return Text(text=input.text.upper())


class OtherUpper(Upper):
    """A different class that claims the same id."""


def _registry(builtins: tuple[str, ...] = (), **kwargs: Any) -> AppRegistry:
    return Registry("app", base=App, group=GROUP, builtins=builtins, not_found=UnknownApp, param="app_id", **kwargs)


def _no_plugins(monkeypatch: pytest.MonkeyPatch, *eps: importlib.metadata.EntryPoint) -> list[str]:
    """Installed entry points replaced by ``eps``; returns the list of groups asked for."""
    asked: list[str] = []

    def fake_entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        asked.append(group)
        return [ep for ep in eps if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    return asked


def _plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    """A module ``name`` on sys.path, as an installed plugin's would be."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))


PLUGIN_CLASS = """
    from pydantic import BaseModel
    from hkllm.apps.base import App, AppContext

    class Words(BaseModel):
        text: str

    class Count(BaseModel):
        words: int

    class WordCount(App[Words, Count]):
        id = "{app_id}"
        title = "Word count"
        Input = Words
        Output = Count
        needs_engine = False

        async def run(self, input: Words, ctx: AppContext) -> Count:
            return Count(words=len(input.text.split()))
"""


def test_register_an_instance_or_a_class_and_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_plugins(monkeypatch)
    registry = _registry()
    assert registry.register(Upper) is Upper  # the class is returned: works as a decorator
    assert isinstance(registry.get("upper"), Upper)
    assert registry.ids() == ["upper"]
    assert "upper" in registry and len(registry) == 1


def test_the_same_class_twice_is_a_no_op_but_another_class_under_a_taken_id_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _no_plugins(monkeypatch)
    registry = _registry()
    registry.register(Upper)
    first = registry.get("upper")
    registry.register(Upper)
    assert registry.get("upper") is first
    with pytest.raises(DuplicateId, match=r"app id 'upper' from .*OtherUpper \(direct\) is already taken by "
                                          r".*\.Upper \(direct\)"):
        registry.register(OtherUpper)
    assert type(registry.get("upper")) is Upper


def test_unknown_id_raises_the_registry_error_listing_what_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_plugins(monkeypatch)
    registry = _registry()
    registry.register(Upper)
    with pytest.raises(UnknownApp) as caught:
        registry.get("lower")
    assert caught.value.message == "unknown app 'lower'; known apps: upper"
    assert (caught.value.status, caught.value.param) == (404, "app_id")
    plain: Registry[Upper] = Registry("widget", base=Upper, group=GROUP)
    with pytest.raises(UnknownId, match="unknown widget 'x'; known widgets: none"):
        plain.get("x")


@pytest.mark.parametrize(("entry", "problem"), [
    (Text(text="not an app"), "is not a App"),
    (Text, "Text is not a App subclass"),
])
def test_only_instances_or_subclasses_of_the_base_are_accepted(entry: Any, problem: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _no_plugins(monkeypatch)
    with pytest.raises(InvalidEntry, match=problem):
        _registry().register(entry)


@pytest.mark.parametrize("bad_id", ["Upper", "up_per", "-upper", "", "上"])
def test_ids_are_lower_case_letters_digits_and_dashes(bad_id: str) -> None:
    bad = type("Bad", (Upper,), {"id": bad_id})
    with pytest.raises(InvalidEntry, match="must be lower-case letters, digits and '-'"):
        _registry().register(bad)


def test_the_app_check_refuses_a_missing_model_or_a_sync_run() -> None:
    no_output = type("NoOutput", (Upper,), {"id": "no-output", "Output": dict})
    with pytest.raises(InvalidEntry, match="Output must be a pydantic model class"):
        APPS.register(no_output)

    class SyncRun(Upper):
        id = "sync-run"

        def run(self, input: Text, ctx: AppContext) -> Text:  # type: ignore[override]
            return input

    with pytest.raises(InvalidEntry, match="run must be an async function"):
        APPS.register(SyncRun)
    assert "no-output" not in APPS and "sync-run" not in APPS


def test_builtins_then_plugins_load_through_the_same_entry_point_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin_package(tmp_path, monkeypatch, "builtin_wc_7f1", PLUGIN_CLASS.format(app_id="word-count"))
    _plugin_package(tmp_path, monkeypatch, "plugin_mod_7f1", """
        from hkllm.apps.echo import EchoInput, EchoOutput
        from hkllm.apps.base import App, AppContext

        class Parrot(App[EchoInput, EchoOutput]):
            id = "parrot"
            title = "Parrot"
            Input = EchoInput
            Output = EchoOutput

            async def run(self, input, ctx):
                return EchoOutput(text=input.text * 2)
    """)
    # one plugin names a class, the other a module that registers on import (the eval-task style)
    _plugin_package(tmp_path, monkeypatch, "plugin_self_7f1", """
        from hkllm.apps.base import register
        from plugin_mod_7f1 import Parrot

        @register
        class Myna(Parrot):
            id = "myna"
            title = "Myna"
    """)
    registry = _registry(("builtin_wc_7f1:WordCount", "hkllm.apps.echo:EchoApp"))
    monkeypatch.setattr(base, "APPS", registry)  # what ``hkllm.apps.base.register`` registers into
    loaded: list[str] = []
    real_load = importlib.metadata.EntryPoint.load

    def spy(ep: importlib.metadata.EntryPoint) -> Any:
        loaded.append(f"{ep.group} {ep.name}={ep.value}")
        return real_load(ep)

    monkeypatch.setattr(importlib.metadata.EntryPoint, "load", spy)
    asked = _no_plugins(
        monkeypatch,
        importlib.metadata.EntryPoint(name="parrot", value="plugin_mod_7f1:Parrot", group=GROUP),
        importlib.metadata.EntryPoint(name="myna", value="plugin_self_7f1", group=GROUP),
        importlib.metadata.EntryPoint(name="elsewhere", value="no_such_module_7f1", group="other.group"),
    )

    assert registry.ids() == ["word-count", "echo", "parrot", "myna"]
    assert asked == [GROUP]
    assert loaded == [f"{GROUP} builtin_wc_7f1=builtin_wc_7f1:WordCount", f"{GROUP} echo=hkllm.apps.echo:EchoApp",
                      f"{GROUP} parrot=plugin_mod_7f1:Parrot", f"{GROUP} myna=plugin_self_7f1"]
    assert [registry.source(i) for i in registry.ids()] == ["built-in", "built-in", "plugin 'parrot'", "plugin 'myna'"]
    registry.all()
    assert len(loaded) == 4  # loaded once
    ctx = AppContext(engine=FakeEngine(), settings=Settings())
    assert asyncio.run(registry.get("parrot").invoke({"text": "講"}, ctx)).model_dump() == {"text": "講講"}


def test_builtins_come_first_even_when_something_registered_before_loading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_plugins(monkeypatch)
    _plugin_package(tmp_path, monkeypatch, "builtin_wc_8a2", PLUGIN_CLASS.format(app_id="word-count"))
    registry = _registry(("builtin_wc_8a2:WordCount", "hkllm.apps.echo:EchoApp"))
    registry.register(Upper)
    registry.register(EchoApp)  # a built-in imported and registered early still sorts as a built-in
    assert registry.ids() == ["word-count", "echo", "upper"]
    assert registry.source("echo") == "built-in" and registry.source("upper") == "direct"


def test_a_plugin_taking_a_builtin_id_is_refused_naming_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin_package(tmp_path, monkeypatch, "plugin_clash_3c9", PLUGIN_CLASS.format(app_id="echo"))
    _no_plugins(monkeypatch, importlib.metadata.EntryPoint(name="clash", value="plugin_clash_3c9:WordCount",
                                                           group=GROUP))
    registry = _registry(("hkllm.apps.echo:EchoApp",))
    with pytest.raises(DuplicateId, match=r"app id 'echo' from plugin_clash_3c9\.WordCount \(plugin 'clash'\) is "
                                          r"already taken by hkllm\.apps\.echo\.EchoApp \(built-in\)"):
        registry.load()


def test_a_broken_plugin_is_reported_by_name_and_retried_on_the_next_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_plugins(monkeypatch, importlib.metadata.EntryPoint(name="late", value="plugin_late_5d4:WordCount",
                                                           group=GROUP))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = _registry(("hkllm.apps.echo:EchoApp",))
    with pytest.raises(PluginLoadError, match=r"cannot load app entry point 'late' = 'plugin_late_5d4:WordCount' "
                                              r"\(group hkllm.test_apps\): ModuleNotFoundError"):
        registry.all()
    _plugin_package(tmp_path, monkeypatch, "plugin_late_5d4", PLUGIN_CLASS.format(app_id="late-count"))
    assert registry.ids() == ["echo", "late-count"]


def test_the_process_app_registry_holds_echo_as_a_builtin() -> None:
    assert "echo" in [a.id for a in all_apps()]
    assert all_apps()[0].id == "echo"
    assert APPS.source("echo") == "built-in"
    with pytest.raises(UnknownApp, match="unknown app 'nope'; known apps: echo"):
        get_app("nope")


def test_the_eval_task_registry_is_the_same_registry() -> None:
    assert isinstance(TASKS, Registry)
    assert TASKS.source("yue-arc-c") == "built-in"
    with pytest.raises(UnknownTask) as caught:
        get_task("nope")
    assert (caught.value.status, caught.value.param) == (400, "tasks")


def test_invoke_validates_the_input_naming_the_field_and_checks_the_output() -> None:
    echo = get_app("echo")
    ctx = AppContext(engine=FakeEngine(), settings=Settings())
    assert asyncio.run(echo.invoke({"text": "飲咗茶未？"}, ctx)) == EchoOutput(text="飲咗茶未？")
    with pytest.raises(AppInputError) as caught:
        echo.parse_input({"text": 3})
    assert caught.value.param == "text" and "invalid input for app 'echo': text: Input should be a valid string" \
        in caught.value.message
    with pytest.raises(AppInputError, match="txt: Extra inputs are not permitted"):
        echo.parse_input({"text": "a", "txt": "b"})

    class Liar(Upper):
        id = "liar"

        async def run(self, input: Text, ctx: AppContext) -> Text:
            return EchoInput(text=input.text)  # type: ignore[return-value]

    with pytest.raises(AppOutputError, match="app 'liar' returned EchoInput, not its Output model Text"):
        asyncio.run(Liar().invoke({"text": "x"}, ctx))


def test_describe_gives_the_json_schemas() -> None:
    described = get_app("echo").describe()
    assert described["id"] == "echo" and described["title"] == "Echo" and described["description"]
    assert described["input_schema"]["required"] == ["text"]
    assert described["output_schema"]["properties"]["text"]["type"] == "string"
