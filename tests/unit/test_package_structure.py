"""The shape of the packages (issue 16): modules of at most 500 lines named after the rule they
hold, no import cycle within or between the packages, no test or benchmark code inside them."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingestion", "orchestration", "dashboards", "numlake")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _runtime_imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of the packages imported when `path` is imported: module-level imports only
    (an import inside a function is deliberately lazy and cannot make an import cycle)."""
    out = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m in known}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_of_a_package_is_longer_than_500_lines(package):
    long = {
        m: n
        for m, p in _modules().items()
        if m.split(".")[0] == package and (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}


def test_the_packages_import_each_other_without_a_cycle():
    mods = _modules()
    graph = {m: _runtime_imports(p, mods) - {m} for m, p in mods.items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError(" -> ".join(stack[stack.index(n) :] + [n]) if n in stack else f"{m} -> {n}")
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_no_test_or_benchmark_module_lives_in_a_package():
    assert not [m for m in _modules() if m.split(".")[-1] in ("testing", "bench", "synthetic", "conftest")]
