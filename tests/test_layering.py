"""The house rules: layers without upward imports, Qt only in app/ui, torch only where models
are built, trained or aggregated, and no import cycle anywhere in `app`.

The rules themselves are import-linter contracts in pyproject.toml; these tests run them
and check what import-linter cannot say (cycles, and that no app.core module escapes the
torch rule)."""

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
# The only modules that may import torch: they build, train, aggregate or evaluate models.
TORCH_MODULES = {
    "app.core.models",
    "app.core.training",
    "app.core.optimizers",
    "app.core.run.server",
    "app.core.edge",
    "app.core.tasks.runtime",
    "app.core.tasks.simulated",
    "app.core.tasks.tabular",
    "app.core.onnx_export",
    "app.core.edge_runs",
    "app.core.warmup",
    "app.core.centralized",
    "app.core.peer.node",
    "app.core.gkt.models",
    "app.core.gkt.distill",
    "app.core.gkt.node",
    "app.core.gkt.server",
    "app.core.gkt.alone",
}


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in out.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_round_a_cycle():
    """Every import counts, the lazy ones inside functions too."""
    graph = grimp.build_graph("app", cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle():
    graph = grimp.ImportGraph()
    for a, b in (("m.a", "m.b"), ("m.b", "m.c"), ("m.c", "m.a"), ("m.c", "m.d")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["m.a", "m.b", "m.c"]]


def test_every_core_module_is_under_the_torch_rule():
    """A new module under app.core must be named in the torch contract (itself or a package
    above it: the contract covers a package's modules) or in TORCH_MODULES."""
    (torch_rule,) = [c for c in _contracts() if c.get("forbidden_modules") == ["torch"]]
    sources = set(torch_rule["source_modules"])
    graph = grimp.build_graph("app", cache_dir=None)
    core = {m for m in graph.find_descendants("app.core") if not graph.find_children(m)}

    def covered(module: str) -> bool:
        parts = module.split(".")
        return any(".".join(parts[:i]) in sources for i in range(1, len(parts) + 1))

    assert {m for m in core if not covered(m)} == TORCH_MODULES
    assert not sources & TORCH_MODULES


NON_UI = [
    "app.config",
    "app.wire.messages",
    "app.core.fl_config",
    "app.core.run.spec",
    "app.backends.factory",
    "app.storage",
    "app.services",
    "app.services.runs.control_center",
    "app.cli",
]


def test_non_ui_packages_never_load_qt_or_torch_at_import():
    """What the contracts cannot see: nothing pulls Qt or torch in at import time."""
    code = (
        "import sys, importlib\n"
        f"for m in {NON_UI!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'torch'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
