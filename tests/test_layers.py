"""The package is layered along the data flow: imports point down the layers, never up, and the module
graph has no cycle. In-function imports count too (only heavy third-party packages may be imported
late, never a caseray module to dodge a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "caseray"
# lowest first: a module may import its own layer's modules and those of the layers before it
LAYERS = ["core", "data", "train", "lema", "trial", "sweep", "report", "presets", "cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def caseray_imports(path: Path) -> list[tuple[str, int]]:
    """(imported caseray module, line) for every import in the file, nested ones included; ``from
    caseray.pkg import mod`` names ``caseray.pkg.mod`` when ``mod`` is a module."""
    is_package = path.name == "__init__.py"
    here = module_name(path).split(".")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "caseray"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = here if is_package else here[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "caseray":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if module_exists(sub) else target, node.lineno))
    return found


def module_exists(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


FACADE = ("caseray", "caseray.__main__")  # the public names and ``python -m caseray``: above every layer


def layer(module: str) -> int | None:
    """The layer index of a caseray module; None for the facade."""
    return None if module in FACADE else LAYERS.index(module.split(".")[1])


def graph() -> dict[str, list[tuple[str, int]]]:
    return {module_name(p): caseray_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_in_a_layer():
    loose = [m for m in graph() if m not in FACADE and m.split(".")[1] not in LAYERS]
    assert not loose, f"modules outside the layers {LAYERS}: {loose}"
    assert len(LAYERS) >= 5


def test_imports_never_point_up():
    upward = []
    for module, imports in graph().items():
        if layer(module) is None:
            continue
        for target, line in imports:
            if layer(target) is None or layer(target) > layer(module):
                upward.append(f"{module}:{line} imports {target}")
    assert not upward, "\n".join(upward)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_module_graph_is_acyclic():
    edges = {m: {t for t, _ in imports if t != m} for m, imports in graph().items()}
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("edges, cyclic", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
    ({"a": {"a2"}, "a2": set(), "b": {"b"}}, True),  # a self-loop
    ({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}, False),  # a diamond is no cycle
])
def test_cycle_finder_itself(edges, cyclic):
    assert (find_cycle(edges) is not None) == cyclic


def test_an_upward_or_late_import_is_seen(tmp_path, monkeypatch):
    """The parser sees nested imports and relative ones: a checker that missed them would pass anything."""
    fake = tmp_path / "caseray"
    (fake / "core").mkdir(parents=True)
    (fake / "trial").mkdir()
    for p in (fake / "__init__.py", fake / "core" / "__init__.py", fake / "trial" / "__init__.py",
              fake / "trial" / "run.py"):
        p.write_text("")
    (fake / "core" / "specs.py").write_text("def f():\n    from ..trial import run\n    import caseray.trial.run\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    found = caseray_imports(fake / "core" / "specs.py")
    assert [t for t, _ in found] == ["caseray.trial.run", "caseray.trial.run"]
    assert layer("caseray.trial.run") > layer("caseray.core.specs")


def nested_caseray_imports(path: Path) -> list[int]:
    """Lines of caseray imports made inside a function."""
    lines = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if (module or "").startswith("caseray") or any(n.startswith("caseray") for n in names):
                    lines.append(node.lineno)
    return lines


def test_library_imports_are_at_the_top():
    """Below the command line, every caseray import is at module level (a late import would only hide
    a cycle); only the command line defers the layers that load torch, Ray or MLflow until a command
    needs them, so bad input and --help answer at once."""
    late = [f"{module_name(p)}:{line}" for p in sorted(PACKAGE.rglob("*.py")) if p.parent.name != "cli"
            for line in nested_caseray_imports(p)]
    assert not late, late


def test_public_names_from_the_top_package():
    import caseray

    assert {"TrialSpec", "run_trial", "SweepSpec", "run_sweep", "from_dict", "SpecError"} <= set(caseray.__all__)
    from caseray import SweepSpec, TrialSpec, run_trial

    assert callable(run_trial) and TrialSpec().name and SweepSpec().id


def test_the_command_line_loads_no_torch_ray_or_mlflow_until_a_command_needs_them():
    """``caseray --help`` and bad input answer without loading the heavy stacks (a sweep spec too is
    validated without torch)."""
    import subprocess
    import sys

    probe = ("import sys, caseray.cli.main, caseray.sweep.spec, caseray.report.plan; "
             "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_caseray_leaves_the_matplotlib_backend_alone():
    """A notebook that imports caseray keeps its own backend: pyplot is loaded (on Agg) only when
    caseray draws, and not at all when the program already has it."""
    import subprocess
    import sys

    probe = ("import sys, caseray.trial.run, caseray.report.build, caseray.cli.main; "
             "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
