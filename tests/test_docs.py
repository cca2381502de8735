"""The docs say one thing: the demo's time is one figure in the README and docs/demo.md, dated,
and every module path the README and docs/ name exists in the tree (the package was reorganised
in round 2; prose that still said ``catalog/`` or ``costlens.profiler`` sent readers nowhere)."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MEASURED_ON = "2026-12-06"
# "`costlens demo --no-serve` took 312 s": the one phrasing of the demo's wall time.
DEMO_TIME = re.compile(r"`costlens demo[^`]*` took (\d+) s\b")
# Backticked code in prose; fenced blocks are commands and examples, not references.
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
PATH_ROOTS = ("costlens/", "dashboard/", "tests/", "benchmarks/", "data/", "examples/", ".ci/")
DOTTED = re.compile(r"(?<![\w/.~-])costlens(?:\.[A-Za-z_]\w*)+")  # not `~/.costlens/costlens.db`
# Packages and modules that round 2 moved or renamed: prose naming them as code (`catalog/`,
# `profiler.live`, `cost/breakdown.py`) points at nothing. Their homes now: price/tables,
# record, price, budget/files and cli/trackers, store/url, store/runs_page.
GONE = ("catalog", "profiler", "cost", "export", "settings", "dashboard_queries", "costing")
GONE_REF = re.compile(rf"^(?:costlens[./])?(?:{'|'.join(GONE)})[./](?:\w|$)")
# Names written under the "costlens." prefix into MLflow (apps/tracking/trackers.MLFLOW_PREFIX):
# keys of the tracker figures, not modules. Each must still be a key the code writes.
TRACKER_KEYS = {"costlens.cost_so_far_usd": "costlens/apps/tracking/figures.py"}


def _prose(path: Path) -> str:
    return re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)


def test_the_demo_time_is_one_figure_in_the_readme_and_docs_demo():
    found = {}
    for name in ("README.md", "docs/demo.md"):
        text = (REPO / name).read_text(encoding="utf-8")
        hits = list(DEMO_TIME.finditer(text))
        assert hits, f"{name} gives no `costlens demo ...` took N s figure"
        for hit in hits:
            around = text[max(0, hit.start() - 400) : hit.end() + 400]
            assert MEASURED_ON in around and "2 shared cores" in around, (
                f"{name}: the demo time {hit.group(0)!r} needs its date and machine beside it"
            )
        found[name] = {int(h.group(1)) for h in hits}
    figures = set().union(*found.values())
    assert len(figures) == 1, f"the demo time differs between the docs: {found}"


def _inline_code() -> list[tuple[str, str]]:
    return [
        (doc.relative_to(REPO).as_posix(), code)
        for doc in DOCS
        for code in INLINE_CODE.findall(_prose(doc))
    ]


def _path_refs() -> list[tuple[str, str]]:
    refs = []
    for doc, code in _inline_code():
        for token in code.split():
            token = token.strip("(),;:")
            if token.startswith(PATH_ROOTS) and "<" not in token and "*" not in token:
                refs.append((doc, token))
    return refs


def _otel_names() -> set[str]:
    """The OpenTelemetry metric names costlens exports (``costlens.cost``...): not modules."""
    from costlens.apps.fleet import FleetExporter
    from costlens.record.metrics import RunSnapshot, run_metrics

    fleet = FleetExporter(None, None)
    fleet_metrics = fleet._in_flight([], None) + fleet._spend([], None) + fleet._scrape_figures()
    run = run_metrics(RunSnapshot(labels={}, elapsed_s=0.0, steps=0, tokens=0, flops=0.0))
    return {m.otel_name for m in run + fleet_metrics}


def _dotted_refs() -> list[tuple[str, str]]:
    otel = _otel_names()
    return [(doc, m) for doc, code in _inline_code() for m in DOTTED.findall(code) if m not in otel]


@cache
def _top_level_names(path: Path) -> frozenset[str]:
    """Names a module defines or imports at its top level (what ``module.name`` can reach)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = [n for node in tree.body for n in (node.body if isinstance(node, ast.If) else [node])]
    for node in body:  # an `if TYPE_CHECKING:` block's imports included
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    if "__getattr__" in names:  # lazy names (costlens.profile, hf.CostlensCallback): strings
        names.update(
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.isidentifier()
        )
    return frozenset(names)


def resolve_dotted(ref: str) -> str | None:
    """None when ``ref`` names a module (or a name defined in one) of this tree, else why not."""
    parts = ref.split(".")
    for cut in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:cut])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.is_file():
            rest = parts[cut:]
            if not rest or rest[0] in _top_level_names(module):
                return None
            return f"{module.relative_to(REPO)} defines no {rest[0]!r}"
    return "no such module"


def test_the_scan_finds_references_and_would_catch_the_old_names():
    assert len(_path_refs()) > 20 and len(_dotted_refs()) > 5
    assert resolve_dotted("costlens.record.integrations.hf.CostlensCallback") is None
    assert resolve_dotted("costlens.profile") is None
    assert "integrations" in resolve_dotted("costlens.integrations.hf")  # before round 2
    assert resolve_dotted("costlens.store.url.nothing_here") is not None
    assert not (REPO / "costlens/cost/breakdown.py").exists()
    assert GONE_REF.match("catalog.cheapest_instance") and GONE_REF.match("costlens/profiler/")
    assert not GONE_REF.match("costlens.price.breakdown") and not GONE_REF.match("cost_usd")


@pytest.mark.parametrize("doc", [d.relative_to(REPO).as_posix() for d in DOCS])
def test_the_docs_name_no_module_that_round_2_moved(doc):
    stale = [
        f"`{code}`"
        for code in INLINE_CODE.findall(_prose(REPO / doc))
        for token in code.split()
        if GONE_REF.match(token.strip("(),;:"))
    ]
    assert not stale, f"{doc} names moved modules: " + ", ".join(stale)


@pytest.mark.parametrize("doc,ref", sorted(set(_path_refs())))
def test_every_path_the_docs_name_exists(doc, ref):
    path, _, test_name = ref.partition("::")
    assert (REPO / path).exists(), f"{doc} names `{ref}`, which is not in the tree"
    if test_name:
        source = (REPO / path).read_text(encoding="utf-8")
        assert f"def {test_name.split('[')[0]}(" in source, f"{doc}: no test `{ref}`"


@pytest.mark.parametrize("doc,ref", sorted(set(_dotted_refs())))
def test_every_module_the_docs_name_exists(doc, ref):
    if ref in TRACKER_KEYS:
        key = ref.removeprefix("costlens.")
        assert f'"{key}"' in (REPO / TRACKER_KEYS[ref]).read_text(encoding="utf-8")
        return
    why = resolve_dotted(ref)
    assert why is None, f"{doc} names `{ref}`: {why}"


def _table_columns(markdown: str) -> list[str]:
    """The backticked names in the first cell of each row of the markdown's first table."""
    rows = re.findall(r"^\| (.+?) \|", markdown.split("\n\n| column")[1], re.M)
    return [name for row in rows for name in re.findall(r"`(\w+)`", row)]


def test_docs_plans_lists_the_columns_the_plan_reader_requires_and_takes():
    """docs/plans.md listed `tokens` as required and `samples` as informational, while the reader
    takes `tokens` or `samples` with `seq_len` (and `packing`, which it did not mention)."""
    from costlens.budget.plan import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

    text = (REPO / "docs" / "plans.md").read_text(encoding="utf-8")
    required = text.split("## Required columns")[1].split("\n## ")[0]
    assert _table_columns(required) == list(REQUIRED_COLUMNS)
    documented = set(re.findall(r"^\| (.+?) \|", text, re.M))
    named = {n for row in documented for n in re.findall(r"`(\w+)`", row)}
    assert set(OPTIONAL_COLUMNS) <= named, set(OPTIONAL_COLUMNS) - named
    for where in ("README.md", "docs/plans.md"):
        said = (REPO / where).read_text(encoding="utf-8")
        assert "`tokens`" in said and "`samples`" in said and "`seq_len`" in said, where
