"""The helpers package's shape: imports go one way, and config stays free of Keras."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

HELPERS = Path(__file__).resolve().parents[1] / "helpers"


def helper_imports() -> dict[str, set[str]]:
    """For each helpers module, the helpers modules it imports (at the top or inside a function)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(HELPERS.glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "helpers":
                    found |= {alias.name for alias in node.names}
                elif node.module.startswith("helpers."):
                    found.add(node.module.split(".")[1])
        graph[path.stem] = found - {path.stem}
    return graph


def test_no_two_helpers_modules_import_each_other_even_indirectly() -> None:
    graph = helper_imports()
    state: dict[str, str] = {}

    def visit(module: str, chain: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join([*chain, module])}"
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            visit(other, [*chain, module])
        state[module] = "done"

    for module in graph:
        visit(module, [])
    assert "models" not in graph["config"] and "backbones" in graph["config"]


def test_the_configuration_loads_without_keras_or_tensorflow() -> None:
    code = ("import sys; from helpers.config import load_config; load_config(env={}); "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_tools_read_results_and_splits_without_keras_or_tensorflow() -> None:
    """helpers.results (make tutorial's runner, the site), helpers.data and tools.accuracy load no TensorFlow."""
    code = ("import sys; import helpers.results, helpers.data, helpers.download, tools.accuracy; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
