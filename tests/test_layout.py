"""The house's arrows run one way. Every module of ``core`` and ``desktop`` is read with ``ast``
(its imports at the top and inside functions alike) and held against the layers of the engine:

    errors, metrics, settings -> progress, records, resources, protocol -> store -> models -> sampling
    -> reward -> superhf -> journey, selftest -> bench -> cli

A module may import its own layer or a lower one. ``desktop`` sits beside ``cli``: it uses the
store, the journey and the light top-level modules and never the model code, which runs in the
engine's child process. No module imports another that imports it back, however long the loop."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS = [
    {"core", "core.errors", "core.metrics", "core.settings"},
    {"core.progress", "core.records", "core.resources", "core.protocol"},
    {"core.store"},
    {"core.models"},
    {"core.sampling"},
    {"core.reward"},
    {"core.superhf"},
    {"core.journey", "core.selftest"},
    {"core.bench"},
    {"core.cli"},
]
# What the window may import of the engine: no package that loads torch at import time.
DESKTOP_MAY_USE = {"core", "core.errors", "core.settings", "core.progress", "core.records", "core.resources", "core.protocol",
                   "core.store", "core.journey", "core.superhf.config", "core.reward.config", "core.reward.verdict",
                   "core.cli.main",  # the bundle's one executable runs the CLI in its engine process
                   "core.selftest"}


def modules() -> dict[str, Path]:
    out = {}
    for top in ("core", "desktop"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(module: str) -> int:
    best = None
    for i, names in enumerate(LAYERS):
        for prefix in names:
            if module == prefix or (prefix != "core" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    assert best is not None, f"{module} belongs to no layer: add its package to LAYERS in {__file__}"
    return best[0]


def test_every_engine_module_has_a_layer():
    for name in graph():
        if name.startswith("core"):
            layer(name)


def test_engine_arrows_run_one_way():
    wrong = []
    for name, targets in graph().items():
        if not name.startswith("core"):
            continue
        for target in targets:
            if target.startswith("desktop"):
                wrong.append(f"{name} -> {target} (the engine never knows the window)")
            elif layer(target) > layer(name):
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports that run against the layers:\n" + "\n".join(sorted(wrong))


def test_desktop_uses_only_the_light_engine():
    wrong = []
    for name, targets in graph().items():
        if not name.startswith("desktop"):
            continue
        for target in targets:
            if target.startswith("core") and not any(target == p or target.startswith(p + ".") and p != "core"
                                                     for p in DESKTOP_MAY_USE):
                wrong.append(f"{name} -> {target}")
    assert not wrong, "the window imports model code (it belongs in the engine process):\n" + "\n".join(sorted(wrong))


def test_no_circles():
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)
    assert not circles, "modules that import each other:\n" + "\n".join(circles)


def test_the_walk_sees_imports_in_functions_and_relative_ones(tmp_path):
    """The checker itself: a lazy import inside a function counts, and so does a relative one."""
    pkg = tmp_path / "core" / "store"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from core.cli import main\n\nfrom . import b\n")
    known = {"core.store.a": pkg / "a.py", "core.store.b": pkg / "b.py", "core.cli": pkg, "core.store": pkg}
    assert imports("core.store.a", pkg / "a.py", known) == {"core.cli", "core.store.b", "core.store"}


SQL = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX))")


def test_sql_lives_only_in_the_store():
    outside = []
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "desktop").rglob("*.py"),
                        *(ROOT / "packaging").rglob("*.py")]):
        if (ROOT / "core" / "store") in path.parents:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if SQL.search(line):
                outside.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not outside, "SQL outside core/store/ (add a function to the store instead):\n" + "\n".join(outside)


def test_the_sql_check_sees_a_statement():
    assert SQL.search('store.all("SELECT text FROM prompts")') and SQL.search("db.execute('DELETE FROM ratings')")
    assert not SQL.search("Select a model, then delete from the list")
