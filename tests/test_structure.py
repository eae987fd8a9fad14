"""The helpers package's shape: imports go one way, in CONTRIBUTING's order, and config stays free of Keras."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from helpers.config import REPO_ROOT

HELPERS = REPO_ROOT / "helpers"


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


def documented_order() -> list[str]:
    """The modules of CONTRIBUTING.md's architecture table, in its order (first column, in backticks)."""
    text = (REPO_ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## Architecture", 1)[1]
    return re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)


def test_contributing_lists_every_helpers_module_once() -> None:
    order = documented_order()
    modules = {name for name in helper_imports() if name != "__init__"}
    assert len(order) == len(set(order)), f"listed twice: {sorted({m for m in order if order.count(m) > 1})}"
    assert set(order) == modules, (f"not in CONTRIBUTING's table: {sorted(modules - set(order))}; "
                                   f"listed but missing: {sorted(set(order) - modules)}")


def test_each_helpers_module_imports_only_modules_above_it_in_contributing() -> None:
    order = documented_order()
    graph = helper_imports()
    wrong = [f"{module} imports {other}, listed below it" for module in order
             for other in sorted(graph.get(module, ())) if other in order and order.index(other) > order.index(module)]
    assert not wrong, "; ".join(wrong)


def test_the_order_check_catches_an_upward_import(monkeypatch) -> None:
    """The check above is not vacuous: a module that imports one listed below it fails it."""
    graph = helper_imports()
    graph["files"] = {"results"}
    monkeypatch.setattr(sys.modules[__name__], "helper_imports", lambda: graph)
    try:
        test_each_helpers_module_imports_only_modules_above_it_in_contributing()
    except AssertionError as exc:
        assert "files imports results, listed below it" in str(exc)
    else:
        raise AssertionError("an upward import was not caught")


def test_the_configuration_loads_without_keras_or_tensorflow() -> None:
    code = ("import sys; from helpers.config import load_config; load_config(env={}); "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_tools_read_results_and_splits_without_keras_or_tensorflow() -> None:
    """helpers.results (make tutorial's runner, the site), helpers.data and tools.accuracy load no TensorFlow."""
    code = ("import sys; import helpers.results, helpers.runs, helpers.data, helpers.download, helpers.inputs, "
            "helpers.flowers17, tools.accuracy, tools.course_site; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_helpers_module_but_flowers17_states_the_class_count() -> None:
    """The class count of Flowers17 has one home; the models take theirs from the data."""
    literal = re.compile(r"(?<![\w/.])17(?![\w/.])")    # not Flowers17, 17flowers or the URL's /17/
    found = [f"{path.name}:{number}: {line.strip()}" for path in sorted(HELPERS.glob("*.py"))
             if path.stem != "flowers17"
             for number, line in enumerate(path.read_text().splitlines(), 1) if literal.search(line)]
    assert not found, found


def test_the_modules_the_test_scheduler_hands_out_first_exist() -> None:
    """conftest.py's SLOW_MODULES go right after the lessons; a renamed module would silently go last."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", REPO_ROOT / "conftest.py")
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)                        # the repository's conftest.py, not tests/conftest.py
    missing = [name for name in (*root.SLOW_MODULES, *root.AFTER_LESSONS_MODULES) if not (REPO_ROOT / name).is_file()]
    assert not missing, f"conftest.py names test modules that do not exist: {missing}"
