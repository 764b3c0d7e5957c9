"""The import graph of the ``hkllm`` package: fails on an import circle or an import across a layer rule.

    .venv/bin/python scripts/import_graph.py [hkllm] [--dot graph.dot]

Every ``import`` and ``from ... import`` of an ``hkllm`` module counts, at module level or inside a
function (a deferred import still ties the two modules together). ``from hkllm.a import b`` is an edge to
``hkllm.a.b`` when that is a module, else to ``hkllm.a``. Layer rules (``RULES``): nothing below
``hkllm/api`` imports ``hkllm/api`` (only the CLI, which starts the server, may), and ``hkllm/lang`` holds
pure text functions (no engine, services, knowledge base, database or API); library code does not reach
the composition root (``hkllm.runtime``), except an area's CLI module. ``make test`` runs it; exit
status 1 lists each circle and each broken rule.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# (importer prefix, imported prefix, why); a prefix matches the module itself and everything below it
RULES: list[tuple[str, str, str]] = [
    ("hkllm.kb", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.lang", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.services", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.apps", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.evals", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.store", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.runtime", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.engine", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.embedded", "hkllm.api", "nothing below api/ imports api/"),
    ("hkllm.lang", "hkllm.engine", "lang/ is pure text functions"),
    ("hkllm.lang", "hkllm.services", "lang/ is pure text functions"),
    ("hkllm.lang", "hkllm.kb", "lang/ is pure text functions"),
    ("hkllm.lang", "hkllm.store", "lang/ is pure text functions"),
    ("hkllm.lang", "hkllm.runtime", "lang/ is pure text functions"),
    ("hkllm.kb", "hkllm.services", "the knowledge base does not call the services built on it"),
    ("hkllm.kb", "hkllm.runtime", "library code does not reach the composition root"),
    ("hkllm.services", "hkllm.runtime", "library code does not reach the composition root"),
]


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(root, p): p for p in sorted(root.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def edges(root: Path) -> list[Edge]:
    """Every import of a package module by a package module."""
    known = modules(root)
    pkg = root.name
    out: list[Edge] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_pkg else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for target in targets:
                if target == pkg or target.startswith(pkg + "."):
                    resolved = _resolve(target, known)
                    if resolved and resolved != name:
                        out.append(Edge(name, resolved, node.lineno))
    return out


def cycles(graph_edges: Iterable[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in graph_edges:
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def broken_rules(graph_edges: Iterable[Edge], rules: list[tuple[str, str, str]] = RULES) -> list[str]:
    problems = []
    for e in graph_edges:
        if e.importer.endswith(".cli") and _under(e.imported, "hkllm.runtime"):
            continue  # an area's CLI commands build what they need through the composition root
        for importer, imported, why in rules:
            if _under(e.importer, importer) and _under(e.imported, imported):
                problems.append(f"{e.importer} (line {e.line}) imports {e.imported}: {why}")
    return sorted(set(problems))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("package", nargs="?", default="hkllm")
    parser.add_argument("--dot", type=Path, help="also write the graph in Graphviz dot format")
    args = parser.parse_args(argv)
    root = Path(args.package).resolve()
    found = edges(root)
    circles = cycles(found)
    problems = broken_rules(found)
    if args.dot:
        lines = [f'  "{e.importer}" -> "{e.imported}";' for e in sorted(set(found), key=lambda e: (e.importer, e.imported))]
        args.dot.write_text("digraph imports {\n" + "\n".join(lines) + "\n}\n")
    for circle in circles:
        print("import circle: " + " -> ".join(circle))
    for problem in problems:
        print("layer rule: " + problem)
    print(f"{len(modules(root))} modules, {len({(e.importer, e.imported) for e in found})} imports, "
          f"{len(circles)} circles, {len(problems)} layer-rule breaks")
    return 1 if circles or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
