"""The house's rules, held by tests: the hot path loads no analysis libraries, the analysis path
loads no torch, no import cycles between our modules, and no module over 400 lines."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

SOURCE_PACKAGES = ("costlens", "dashboard")
MAX_LINES = 400
FROZEN = ("costlens/store/migrations/versions/",)  # migrations never change once released
ANALYSIS_LIBRARIES = ("pandas", "sklearn", "scipy", "dash", "plotly")


def _run_python(code: str, home: Path) -> dict:
    """Run ``code`` in a fresh interpreter importing this checkout; its last stdout line (JSON)."""
    env = {**os.environ, "COSTLENS_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("COSTLENS_DB", None)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


HOT_PATH = """
    import json, sys
    import torch
    import costlens

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with costlens.profile(project="layers", name="tiny", strategy="scratch",
                          db={db!r}, sample_interval_s=0.05) as run:
        for _ in range(5):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(torch.randn(4, 16)),
                                              torch.randint(0, 2, (4,))).backward()
            opt.step()
        run.log(accuracy=0.5)
    loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({libs!r}))
    print(json.dumps({{"run_id": run.id, "loaded": loaded}}))
"""

ANALYSIS_PATH = """
    import json, sys
    import costlens.price, costlens.estimator, costlens.budget.files, costlens.budget.forecast
    from costlens.core.paths import data_dir
    from costlens.store import open_store
    from costlens.store.queries import list_runs

    with open_store({db!r}) as store:
        (record,) = list_runs(store)
    from costlens.price.tables import PriceTable
    cost = costlens.price.run_cost(record, prices=PriceTable.load())
    est = costlens.estimator.estimate(
        costlens.estimator.Scenario(params=7e9, tokens=2e9, strategy="lora", gpu="A100-80GB")
    )
    fc = costlens.budget.forecast.forecast(data_dir() / "example_plan.csv")
    files = costlens.budget.files
    written = [str(files.write(fc, f"plan.{{ext}}")) for ext in ("json", "csv", "xlsx")]
    print(json.dumps({{
        "torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
        "cost_keys": sorted(cost), "cost_usd": est.cost_usd.point, "written": written,
        "total": json.load(open("plan.json"))["total_cost_usd"],
    }}))
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, Path]:
    """A profiled training run of a tiny torch model, in a fresh interpreter."""
    home = tmp_path_factory.mktemp("layers")
    db = f"sqlite:///{home / 'runs.db'}"
    seen = _run_python(HOT_PATH.format(db=db, libs=ANALYSIS_LIBRARIES), home)
    return db, seen, home


def test_a_profiled_training_run_loads_no_analysis_library(recorded):
    _db, seen, _home = recorded
    assert seen["run_id"]
    assert seen["loaded"] == [], f"the hot path imported {seen['loaded']}"


def test_the_analysis_path_loads_no_torch(recorded):
    db, _seen, home = recorded
    seen = _run_python(ANALYSIS_PATH.format(db=db), home)
    assert seen["total"] > 0 and seen["cost_usd"] > 0 and "cost_usd" in seen["cost_keys"]
    assert all((home / name).is_file() for name in seen["written"])
    assert seen["torch"] == [], f"the analysis path imported {seen['torch'][:5]}"


# ------------------------------------------------------------------------- the import graph


def _modules(root: Path = REPO, packages: tuple[str, ...] = SOURCE_PACKAGES) -> dict[str, Path]:
    """Dotted name -> file, for every module of our packages (a package is its __init__)."""
    found = {}
    for pkg in packages:
        for path in (root / pkg).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def import_graph(
    root: Path = REPO, packages: tuple[str, ...] = SOURCE_PACKAGES
) -> dict[str, set[str]]:
    """Module -> our modules it imports anywhere in its file: top level, inside functions and
    under ``if TYPE_CHECKING`` alike (a type-only import still ties the two layers together).

    ``from pkg import name`` imports ``pkg.name`` when that is a module, else ``pkg``. A package's
    ``__init__`` importing its own submodules (re-exporting them) is not counted.
    """
    modules = _modules(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if _is_package(path) else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                while target and target not in modules:  # `import a.b.attr` style: nearest module
                    target = target.rpartition(".")[0]
                if not target or target == name:
                    continue
                if _is_package(path) and target.startswith(name + "."):
                    continue  # a package re-exporting its own submodules
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
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
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def test_the_cycle_finder_finds_cycles_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}, "g": set()}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["e", "f"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_lazy_relative_and_type_only_imports(tmp_path):
    files = {
        "pkg/__init__.py": "from pkg.sub import thing\nfrom pkg import lazy\n",
        "pkg/sub/__init__.py": "from .inner import x\n",
        "pkg/sub/inner.py": "def f():\n    from ..lazy import g\n",
        "pkg/lazy.py": "import typing\nif typing.TYPE_CHECKING:\n    import pkg.typed\n",
        "pkg/typed.py": "from pkg import sub\nfrom pkg.sub import x\nimport pkg.lazy.attr\n",
        "pkg/stdlib_only.py": "import os\nfrom json import dumps\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    graph = import_graph(tmp_path, ("pkg",))
    assert graph == {
        "pkg": set(),  # re-exporting its own submodules
        "pkg.sub": set(),
        "pkg.sub.inner": {"pkg.lazy"},  # relative, inside a function
        "pkg.lazy": {"pkg.typed"},  # type-only
        "pkg.typed": {"pkg.sub", "pkg.lazy"},
        "pkg.stdlib_only": set(),
    }
    assert cycles(graph) == [["pkg.lazy", "pkg.typed"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_module_is_over_400_lines():
    too_long = {}
    for path in _modules().values():
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(FROZEN):
            continue
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            too_long[rel] = n
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


MAX_BODY_LINES = 80
LONG_REASON = "long because"  # a function over the limit says why in its docstring


def _long_functions() -> dict[str, int]:
    """Functions whose body (after the signature) is over MAX_BODY_LINES without a reason."""
    out: dict[str, int] = {}
    for package in SOURCE_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(FROZEN):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                body_lines = node.end_lineno - node.body[0].lineno + 1
                doc = (ast.get_docstring(node) or "").lower()
                if body_lines > MAX_BODY_LINES and LONG_REASON not in doc:
                    out[f"{rel}:{node.lineno} {node.name}"] = body_lines
    return out


def test_no_function_is_over_80_lines_without_a_reason():
    too_long = _long_functions()
    assert not too_long, f"functions over {MAX_BODY_LINES} lines (say why, or split): {too_long}"


def test_every_package_ships_in_the_wheel():
    """pyproject lists packages by name: a new package left out would be missing from the wheel."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        init.parent.relative_to(REPO).as_posix().replace("/", ".")
        for package in SOURCE_PACKAGES
        for init in (REPO / package).rglob("__init__.py")
    }
    assert found - listed == set(), f"packages missing from pyproject.toml: {found - listed}"


# The one-way flow, in order: a module may import only from its own layer or layers above it in
# this list (docs/architecture.md draws the same picture). The package roots `costlens` and
# `dashboard` only re-export lazily and are left out.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("costlens.core",),  # foundation: words, units, rules, settings, formatting
    ("costlens.store",),  # all SQL
    ("costlens.record",),  # the hot path: profile, telemetry, FLOPs, journal, writer
    ("costlens.price.tables",),  # dated reference tables
    ("costlens.price",),  # what a run cost
    ("costlens.estimator",),
    ("costlens.budget.plan", "costlens.budget.forecast"),
    ("costlens.budget.files", "costlens.budget"),
    ("costlens.apps",),  # what composes the layers: the priced profile, the demo, transfer
    ("dashboard",),
    ("costlens.cli", "costlens.__main__"),
)  # fmt: skip
HOT_PATH_UNITS = LAYERS[2]
ANALYSIS_UNITS = (*LAYERS[3], *LAYERS[4], *LAYERS[5], *LAYERS[6], *LAYERS[7])


def _layer_of(module: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if any(module == unit or module.startswith(unit + ".") for unit in layer):
            return i
    return None


def test_every_module_has_a_layer():
    unplaced = [m for m in import_graph() if m not in ("costlens", "dashboard") and
                _layer_of(m) is None]  # fmt: skip
    assert not unplaced, f"add these to LAYERS (and docs/architecture.md): {unplaced}"


def test_imports_flow_one_way():
    against = []
    for module, targets in import_graph().items():
        here = _layer_of(module)
        for target in targets:
            there = _layer_of(target)
            if here is not None and there is not None and there > here:
                against.append(f"{module} -> {target}")
    assert not against, "imports against the flow:\n" + "\n".join(sorted(against))


def test_the_hot_path_and_the_analysis_path_never_meet():
    """The profiler never reaches pricing or estimation code, and the analysis never reaches
    the profiler (whose modules import torch)."""
    crossing = []
    for module, targets in import_graph().items():
        for target in targets:
            hot = any(target == u or target.startswith(u + ".") for u in HOT_PATH_UNITS)
            analysis = any(target == u or target.startswith(u + ".") for u in ANALYSIS_UNITS)
            from_analysis, from_hot = (
                module.startswith(ANALYSIS_UNITS),
                module.startswith(HOT_PATH_UNITS),
            )
            if (from_analysis and hot) or (from_hot and analysis):
                crossing.append(f"{module} -> {target}")
    assert not crossing, "\n".join(sorted(crossing))
