"""One generic registry for the things hkllm lets plugins add: eval tasks (``hkllm.eval_tasks``) and apps
(``hkllm.apps``).

A registry holds objects keyed by their ``id``. Entries arrive through :meth:`Registry.register` (an
instance, or a class with a no-argument constructor, so it works as a class decorator). :meth:`Registry.load`
fills the registry once: first the built-ins, then the plugins of the registry's entry-point group, both
through the same code path (the built-ins are written as entry points of the group, in the form a plugin's
``pyproject.toml`` uses). Loading an entry point imports its target:

* ``"package.module"``: the module registers its entries when it is imported (``@register``);
* ``"package.module:Thing"``: the loaded object is registered.

Ids are lower-case letters, digits and ``-``. A second, different entry under an id already taken is
refused (:class:`DuplicateId`); registering the same class again (a module imported twice) is a no-op.
:meth:`Registry.get` raises the registry's not-found error listing the ids that exist; :meth:`Registry.all`
lists the built-ins in their listed order, then everything else in registration order.
"""

from __future__ import annotations

import importlib.metadata
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Generic, Protocol, TypeVar, cast

from hkllm.errors import HkllmError, NotFound


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)
E = TypeVar("E")

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
BUILTIN = "built-in"
DIRECT = "direct"


class RegistryError(HkllmError):
    """Something registered, or tried to, is wrong: a programming or packaging error, not a user's."""

    code = "registry_error"


class DuplicateId(RegistryError, ValueError):
    code = "duplicate_id"


class InvalidEntry(RegistryError, ValueError):
    code = "invalid_entry"


class PluginLoadError(RegistryError):
    code = "plugin_load_error"


class UnknownId(NotFound):
    code = "unknown_id"


@dataclass(frozen=True)
class _Record(Generic[T]):
    entry: T
    source: str  # BUILTIN, DIRECT or "plugin <entry-point name>"
    seq: int


class Registry(Generic[T]):
    """Entries of one kind (``T``), keyed by id, filled from built-ins and one entry-point group.

    ``kind`` names the entries in messages ("task", "app"); ``base`` is the class every entry must be an
    instance of (typed ``type``, not ``type[T]``, because it is usually abstract); ``builtins`` are
    entry-point values (``"module"`` or ``"module:attr"``) loaded before the group's plugins; ``check`` may reject an entry with :class:`InvalidEntry`; ``not_found`` is the error
    :meth:`get` raises (given the message and ``param``).
    """

    def __init__(
        self,
        kind: str,
        *,
        base: type,
        group: str,
        builtins: Sequence[str] = (),
        check: Callable[[T], None] | None = None,
        not_found: Callable[..., HkllmError] = UnknownId,
        param: str | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self.group = group
        self.builtins = tuple(builtins)
        self._check = check
        self._not_found = not_found
        self._param = param
        self._records: dict[str, _Record[T]] = {}
        self._seq = 0
        self._source = DIRECT  # who is registering right now (set while an entry point loads)
        self._loaded = False
        self._lock = threading.RLock()
        self._builtin_modules = [value.partition(":")[0].strip() for value in self.builtins]

    # -- registering -----------------------------------------------------------------------------------

    def register(self, entry: E) -> E:
        """Register ``entry`` (an instance of ``base``, or a subclass of it to instantiate) and return it
        unchanged, so ``@registry.register`` can decorate a class."""
        if isinstance(entry, type) and not issubclass(entry, self.base):
            raise InvalidEntry(f"{entry.__name__} is not a {self.base.__name__} subclass; "
                               f"cannot register it as a {self.kind}")
        made: object = entry() if isinstance(entry, type) else entry
        if not isinstance(made, self.base):
            raise InvalidEntry(f"{made!r} is not a {self.base.__name__}; cannot register it as a {self.kind}")
        instance = cast(T, made)
        entry_id = getattr(instance, "id", None)
        if not isinstance(entry_id, str) or not ID_PATTERN.fullmatch(entry_id):
            raise InvalidEntry(f"{self.kind} id {entry_id!r} of {type(instance).__name__} must be lower-case "
                               "letters, digits and '-'")
        if self._check is not None:
            self._check(instance)
        with self._lock:
            existing = self._records.get(entry_id)
            if existing is not None:
                if type(existing.entry) is type(instance):
                    return entry  # the same class again (its module imported twice): nothing to do
                raise DuplicateId(
                    f"{self.kind} id {entry_id!r} from {_describe(instance, self._source)} is already taken by "
                    f"{_describe(existing.entry, existing.source)}; choose another id"
                )
            source = BUILTIN if type(instance).__module__ in self._builtin_modules else self._source
            self._records[entry_id] = _Record(instance, source, self._seq)
            self._seq += 1
        return entry

    # -- loading ---------------------------------------------------------------------------------------

    def entry_points(self) -> list[importlib.metadata.EntryPoint]:
        """The built-ins, written as entry points of the group, then the installed plugins' entry points."""
        builtin = [importlib.metadata.EntryPoint(name=module.rpartition(".")[2], value=value, group=self.group)
                   for module, value in zip(self._builtin_modules, self.builtins, strict=True)]
        return builtin + list(importlib.metadata.entry_points(group=self.group))

    def load(self) -> None:
        """Load the built-ins, then the plugins (once; a failed load is retried on the next call)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            n_builtin = len(self.builtins)
            for i, ep in enumerate(self.entry_points()):
                self._load_entry_point(ep, BUILTIN if i < n_builtin else f"plugin {ep.name!r}")
            self._loaded = True

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint, source: str) -> None:
        self._source = source
        try:
            try:
                target = ep.load()
            except Exception as exc:  # noqa: BLE001 — any import error of a plugin is reported the same way
                raise PluginLoadError(
                    f"cannot load {self.kind} entry point {ep.name!r} = {ep.value!r} (group {self.group}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(target, ModuleType):  # "module:Thing": register Thing
                self.register(target)
        finally:
            self._source = DIRECT

    # -- reading ---------------------------------------------------------------------------------------

    def all(self) -> list[T]:
        """Built-ins in their listed order, then the others in registration order."""
        self.load()
        with self._lock:
            records = list(self._records.values())

        def order(record: _Record[T]) -> tuple[int, int]:
            module = type(record.entry).__module__
            rank = self._builtin_modules.index(module) if module in self._builtin_modules else len(self.builtins)
            return rank, record.seq

        return [record.entry for record in sorted(records, key=order)]

    def ids(self) -> list[str]:
        return [entry.id for entry in self.all()]

    def get(self, entry_id: str) -> T:
        """The entry registered under ``entry_id``; else the registry's not-found error naming the known ids."""
        self.load()
        record = self._records.get(entry_id)
        if record is None:
            known = ", ".join(self.ids()) or "none"
            raise self._not_found(f"unknown {self.kind} {entry_id!r}; known {self.kind}s: {known}",
                                  param=self._param)
        return record.entry

    def source(self, entry_id: str) -> str:
        """Where an entry came from: ``built-in``, ``plugin '<entry-point name>'`` or ``direct``."""
        self.get(entry_id)
        return self._records[entry_id].source

    def __contains__(self, entry_id: object) -> bool:
        self.load()
        return entry_id in self._records

    def __len__(self) -> int:
        self.load()
        return len(self._records)


def _describe(entry: object, source: str) -> str:
    cls = type(entry)
    return f"{cls.__module__}.{cls.__qualname__} ({source})"
