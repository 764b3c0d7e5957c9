"""The shape of the package: no import circles, layer rules kept, every module importable on its own and
named in the README's file map."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "hkllm"


def _load_import_graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "scripts" / "import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module
    spec.loader.exec_module(module)
    return module


graph = _load_import_graph()


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "hkllm"


def test_hkllm_has_no_import_circle_and_keeps_the_layer_rules() -> None:
    edges = graph.edges(PACKAGE)
    assert graph.cycles(edges) == []
    assert graph.broken_rules(edges) == []
    assert len(edges) > 100  # the walk really saw the package


def test_a_circle_through_a_deferred_import_is_found(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "hkllm/__init__.py": "",
        "hkllm/kb/__init__.py": "",
        "hkllm/kb/store.py": "from hkllm.kb.search import tokens\n",
        "hkllm/kb/search.py": "def tokens():\n    from hkllm.kb import store\n",
        "hkllm/lang/__init__.py": "",
        "hkllm/lang/detect.py": "import hkllm.kb.store\n",
    })
    assert graph.cycles(graph.edges(root)) == [["hkllm.kb.search", "hkllm.kb.store"]]


def test_relative_imports_and_package_imports_resolve(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "hkllm/__init__.py": "",
        "hkllm/kb/__init__.py": "from .store import base\n",
        "hkllm/kb/store/__init__.py": "",
        "hkllm/kb/store/base.py": "from ..analyze import tokens\nfrom . import tables\n",
        "hkllm/kb/store/tables.py": "",
        "hkllm/kb/analyze.py": "from hkllm.kb.store import tables\n",
    })
    pairs = {(e.importer, e.imported) for e in graph.edges(root)}
    assert pairs == {("hkllm.kb", "hkllm.kb.store.base"), ("hkllm.kb.store.base", "hkllm.kb.analyze"),
                     ("hkllm.kb.store.base", "hkllm.kb.store.tables"), ("hkllm.kb.analyze", "hkllm.kb.store.tables")}
    assert graph.cycles(graph.edges(root)) == []


@pytest.mark.parametrize(("importer", "imported", "broken"), [
    ("hkllm/kb/search.py", "hkllm.api.deps", True),
    ("hkllm/lang/reply.py", "hkllm.engine", True),
    ("hkllm/services/chat.py", "hkllm.api.deps", True),
    ("hkllm/kb/knowledge_base.py", "hkllm.runtime", True),
    ("hkllm/kb/cli.py", "hkllm.runtime", False),  # an area's CLI builds through the composition root
    ("hkllm/api/routes/kb.py", "hkllm.kb.search", False),
    ("hkllm/cli.py", "hkllm.api.app", False),
])
def test_layer_rules(tmp_path: Path, importer: str, imported: str, broken: bool) -> None:
    files = {importer: f"import {imported}\n", imported.replace(".", "/") + ".py": ""}
    for name in list(files):
        parts = Path(name).parts
        for i in range(1, len(parts)):
            files.setdefault(str(Path(*parts[:i]) / "__init__.py"), "")
    root = _write(tmp_path, files)
    assert bool(graph.broken_rules(graph.edges(root))) is broken


def test_the_script_exits_non_zero_on_a_circle(tmp_path: Path) -> None:
    root = _write(tmp_path, {"hkllm/__init__.py": "", "hkllm/a.py": "import hkllm.b\n", "hkllm/b.py": "import hkllm.a\n"})
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "import_graph.py"), str(root)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "import circle: hkllm.a -> hkllm.b" in done.stdout


def _modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        if "alembic" in rel.parts or rel.name == "__main__":  # __main__ runs the CLI when imported
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append(".".join(parts))
    return out


def test_every_module_imports_on_its_own() -> None:
    """Each module imported with no other hkllm module loaded first (one interpreter, sys.modules cleared
    of hkllm between imports): an import that only works after another module would fail here."""
    script = (
        "import importlib, sys, traceback\n"
        "failed = []\n"
        f"for name in {_modules()!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'hkllm' or m.startswith('hkllm.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name + ': ' + traceback.format_exc(limit=1).splitlines()[-1])\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _file_map_paths(readme: str) -> set[str]:
    """Paths named in the README's file map: `hkllm/kb/citations.py`, `citation_parse.py` (the second
    relative to the first's folder); a folder entry (`hkllm/evals/tasks/`) names the files in it."""
    named: set[str] = set()
    for line in readme.splitlines():
        if not line.startswith("| `"):
            continue
        folder = ""
        for token in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if token.startswith(("hkllm/", "tests/", "bench/", "scripts/")):
                folder = token if token.endswith("/") else token.rsplit("/", 1)[0] + "/"
                named.add(token)
            elif folder and re.fullmatch(r"[\w/]+(\.py|/)", token):
                named.add(folder + token)
    return named


def test_readme_file_map_names_every_module() -> None:
    named = _file_map_paths((REPO / "README.md").read_text(encoding="utf-8"))
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if path.name == "__init__.py" or "/alembic/" in rel:
            continue
        if rel not in named and not any(rel.startswith(p) for p in named if p.endswith("/")):
            missing.append(rel)
    assert missing == [], "add these to the README file map: " + ", ".join(missing)
    stale = [p for p in named if p.startswith("hkllm/") and not (REPO / p).exists()]
    assert stale == [], "the README file map names files that do not exist: " + ", ".join(stale)
