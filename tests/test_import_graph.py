"""The parts of kfm_gate and their arrows: no cycle, dagster only in orchestration, and the
gate imports neither the publisher nor the catalogs.

A part is a subpackage or a top-level module of ``kfm_gate``; an arrow is any import of one part
by another, at module level or inside a function (a lazy import is still an arrow). Read from
the source with ``ast``, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kfm_gate"


def _imports(path: Path, module: str) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                names.append(".".join([*base, *(node.module.split(".") if node.module else [])]))
            else:
                names.append(node.module or "")
    return names


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(part -> parts it imports, part -> other top-level packages it imports)."""
    arrows: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "_compiled" or "_compiled" in rel.parts:
            continue
        part = rel.parts[0].removesuffix(".py")
        if part in ("__init__", "__main__"):
            continue
        module = ".".join(("kfm_gate", *rel.with_suffix("").parts))
        for name in _imports(path, module):
            bits = name.split(".")
            if bits[0] == "kfm_gate" and len(bits) > 1 and bits[1] != part:
                arrows.setdefault(part, set()).add(bits[1])
            elif bits[0] != "kfm_gate":
                external.setdefault(part, set()).add(bits[0])
    return arrows, external


def _cycles(arrows: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(arrows.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(set(arrows) | {w for ws in arrows.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


def test_no_cycle_between_parts() -> None:
    arrows, _ = _graph()
    assert len(arrows) > 10  # the walk found the package
    assert _cycles(arrows) == []


def test_only_orchestration_imports_dagster() -> None:
    _, external = _graph()
    assert "dagster" in external.get("orchestration", set())
    leaks = sorted(
        p for p, names in external.items() if "dagster" in names and p != "orchestration"
    )
    assert leaks == []


def test_the_gate_imports_neither_the_publisher_nor_the_catalogs() -> None:
    arrows, _ = _graph()
    assert "runs" in arrows["gate"]  # it records
    assert not {"publication", "catalog"} & arrows["gate"]
    # nor does anything the gate stands on
    reach: set[str] = set()
    todo = ["gate"]
    while todo:
        for nxt in arrows.get(todo.pop(), ()):
            if nxt not in reach:
                reach.add(nxt)
                todo.append(nxt)
    assert not {"publication", "catalog", "orchestration", "cli"} & reach, sorted(reach)


def test_the_checker_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
