"""The App interface, the context an app runs in, and the app registry.

An app is a typed task over the model and the knowledge base: it declares an ``id``, a ``title``, a
``description``, a pydantic ``Input`` and ``Output`` model, and an async ``run(input, ctx)``. Registered
once (a built-in in :data:`BUILTIN_APPS`, or a plugin in the ``hkllm.apps`` entry-point group, loaded the
same way), it is listed and run by ``GET/POST /v1/apps``, ``hkllm apps list|run`` and the web page without
further wiring. An app reaches the model only through ``ctx.engine`` (the ``Engine`` protocol) and the
knowledge base only through ``ctx.kb``. See ``docs/apps.md``.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from hkllm.engine import Engine
from hkllm.errors import HkllmError, InvalidRequest, NotFound
from hkllm.registry import InvalidEntry, Registry
from hkllm.settings import Settings

if TYPE_CHECKING:
    from hkllm.kb.knowledge_base import KnowledgeBase

ENTRY_POINT_GROUP = "hkllm.apps"
# The built-in apps, as entry-point values: loaded first, in this order, exactly as plugins are.
BUILTIN_APPS: tuple[str, ...] = (
    "hkllm.apps.echo:EchoApp",
)


class UnknownApp(NotFound):
    code = "unknown_app"


class AppInputError(InvalidRequest):
    """The input does not fit the app's ``Input`` model; ``param`` names the first field at fault."""

    code = "invalid_app_input"


class AppOutputError(HkllmError):
    """The app returned something other than its ``Output`` model (a bug in the app)."""

    code = "invalid_app_output"


@dataclass
class AppContext:
    """What an app may use while it runs. Built per request by the API and per command by the CLI."""

    engine: Engine
    settings: Settings
    kb: KnowledgeBase | None = None  # the process's knowledge base; None where none is open
    user: Any = None  # reserved for the signed-in user (no accounts yet)


InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


class App(ABC, Generic[InputT, OutputT]):
    """One app. Subclass with concrete models, ``App[MyInput, MyOutput]``, set the class attributes and
    implement ``run``."""

    id: ClassVar[str]  # lower-case letters, digits and '-'; the URL is /v1/apps/<id>
    title: ClassVar[str]
    description: ClassVar[str] = ""
    Input: type[InputT]
    Output: type[OutputT]
    # What the app uses, so a command that runs it starts only that: the model (for the CLI, the embedded
    # model is started when no `hkllm serve` runs) and the knowledge base (the database is opened).
    needs_engine: ClassVar[bool] = True
    needs_kb: ClassVar[bool] = False
    # Hook for the eval harness: the id of an eval task (``hkllm.evals``) that measures this app. Not read
    # by anything yet.
    eval_task: ClassVar[str | None] = None

    @abstractmethod
    async def run(self, input: InputT, ctx: AppContext) -> OutputT:
        """Do the work. Raise an ``HkllmError`` subclass for a failure the caller should see."""

    def parse_input(self, data: Any) -> InputT:
        """``data`` (decoded JSON) validated by ``Input``; :class:`AppInputError` names the field at fault."""
        try:
            return self.Input.model_validate(data)
        except ValidationError as exc:
            problems, param = [], None
            for err in exc.errors():
                where = ".".join(str(part) for part in err.get("loc", ())) or "input"
                param = param or where
                problems.append(f"{where}: {err.get('msg')}")
            raise AppInputError(f"invalid input for app {self.id!r}: " + "; ".join(problems), param=param) from None

    async def invoke(self, data: Any, ctx: AppContext) -> OutputT:
        """Validate ``data``, run the app, and check that it returned its ``Output`` model."""
        result = await self.run(self.parse_input(data), ctx)
        if not isinstance(result, self.Output):
            raise AppOutputError(f"app {self.id!r} returned {type(result).__name__}, not its Output model "
                                 f"{self.Output.__name__}")
        return result

    def describe(self) -> dict[str, Any]:
        """The app as ``GET /v1/apps`` and ``hkllm apps list --json`` show it."""
        return {"id": self.id, "title": self.title, "description": self.description,
                "input_schema": self.Input.model_json_schema(), "output_schema": self.Output.model_json_schema()}


AnyApp = App[Any, Any]
AppRegistry = Registry[AnyApp]


def _check_app(app: AnyApp) -> None:
    name = type(app).__name__
    if not isinstance(getattr(app, "title", None), str) or not app.title.strip():
        raise InvalidEntry(f"app {name} has no title")
    for attr in ("Input", "Output"):
        model = getattr(app, attr, None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidEntry(f"app {name}: {attr} must be a pydantic model class, not {model!r}")
    if not inspect.iscoroutinefunction(app.run):
        raise InvalidEntry(f"app {name}: run must be an async function")


APPS: AppRegistry = Registry("app", base=App, group=ENTRY_POINT_GROUP, builtins=BUILTIN_APPS,
                             check=_check_app, not_found=UnknownApp, param="app_id")


RegisteredT = TypeVar("RegisteredT")


def register(app: RegisteredT) -> RegisteredT:
    """Register an app (a subclass of ``App``, or an instance): usable as a class decorator."""
    return APPS.register(app)


def all_apps() -> list[AnyApp]:
    """Built-in apps in :data:`BUILTIN_APPS` order, then plugin apps in registration order."""
    return APPS.all()


def get_app(app_id: str) -> AnyApp:
    """The app registered as ``app_id``; :class:`UnknownApp` (404) listing the known ids otherwise."""
    return APPS.get(app_id)
