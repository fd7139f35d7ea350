"""The shape of the ingestion package (issue 16): modules of at most 500 lines named after the
rule they hold, no import cycle, no test or benchmark code inside it."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ingestion"


def _runtime_imports(path: Path) -> set[str]:
    """ingestion modules imported when `path` is imported (not those under TYPE_CHECKING)."""
    out = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ingestion"):
            if node.module == "ingestion":
                out |= {f"ingestion.{a.name}" for a in node.names}
            else:
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("ingestion.")}
    return out


def _modules() -> dict[str, Path]:
    return {
        "ingestion." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts): p
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py"
    }


def test_no_module_of_ingestion_is_longer_than_500_lines():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert long == {}


def test_ingestion_modules_import_each_other_without_a_cycle():
    mods = _modules()
    graph = {m: {i for i in _runtime_imports(p) if i in mods} for m, p in mods.items()}
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


def test_no_test_or_benchmark_module_lives_in_the_package():
    assert not [m for m in _modules() if m.split(".")[-1] in ("testing", "bench", "synthetic")]
