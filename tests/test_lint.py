"""The tree lints clean (ruff: pycodestyle, pyflakes, import order; pyproject.toml [tool.ruff])."""

import subprocess
import sys
from pathlib import Path


def test_ruff_finds_nothing():
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(root)], capture_output=True,
                          text=True, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]


def test_no_function_in_the_package_is_longer_than_40_lines():
    """Long functions are split into named steps (docs/ARCHITECTURE.md): this keeps them so."""
    import ast

    package = Path(__file__).resolve().parents[1] / "caseray"
    long = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 40:
                long.append(f"{path.relative_to(package.parent)}: {node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long, long
