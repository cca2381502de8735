"""torch.compile under the FLOP meter: it compiles as without it, and its FLOPs are counted.

Each side runs in its own interpreter (dynamo's counters and caches are per process). The
backend is ``aot_eager`` (inductor's C++ compile is too slow for tests on this machine); the
benchmark (benchmarks/compiled_overhead.py) uses the default backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from costlens.record.flops import flop_counter
from costlens.record.flops.replay import replay_flops
from tests.conftest import REPO as ROOT

STEPS = 4

SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("always")
    caught = warnings.catch_warnings(record=True)
    seen = caught.__enter__()
    meter = None
    if sys.argv[1] == "meter":
        from costlens.record.flops import FlopMeter
        meter = FlopMeter()
        meter.install()  # before torch is imported, as `costlens run` does
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.manual_seed(0)
    from torch._dynamo.utils import counters
    out = {}

    def snap(name):
        out[name] = {
            "frames": dict(counters["frames"]),
            "graph_break": sum(counters["graph_break"].values()),
            "unique_graphs": counters["stats"].get("unique_graphs", 0),
            "flops": meter.snapshot().flops if meter else 0.0,
            "steps": meter.snapshot().steps if meter else 0,
        }

    model = torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 5)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 32), torch.randint(0, 5, (16,))
    compiled = torch.compile(model, backend="aot_eager")
    for _ in range(STEPS):
        loss = F.cross_entropy(compiled(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    snap("module")

    other = torch.nn.Sequential(torch.nn.Linear(32, 48), torch.nn.Tanh(), torch.nn.Linear(48, 5))
    opt2 = torch.optim.SGD(other.parameters(), lr=0.01)

    @torch.compile(backend="aot_eager")
    def forward(inp):
        return F.cross_entropy(other(inp), y)

    for _ in range(STEPS):
        loss = forward(x)
        opt2.zero_grad()
        loss.backward()
        opt2.step()
    snap("function")
    if meter:
        meter.uninstall()
    out["warnings"] = [str(w.message) for w in seen]
    print("RESULT " + json.dumps(out))
    """
).replace("STEPS", str(STEPS))


def _run(mode: str, under_costlens_run: Path | None = None) -> dict:
    """The script in a fresh interpreter; under ``costlens run`` (store in that folder) if given."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "COSTLENS_QUIET": "1"}
    cmd = [sys.executable, "-c", SCRIPT, mode]
    if under_costlens_run is not None:
        script = under_costlens_run / "compiled_script.py"
        script.write_text(SCRIPT)
        db = f"sqlite:///{under_costlens_run / 'runs.db'}"
        cmd = [sys.executable, "-m", "costlens", "run", "--db", db, "--", sys.executable]
        cmd += [str(script), mode]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def _eager_flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    with flop_counter() as c:
        nn.functional.cross_entropy(model(x), y).backward()
    return c.get_total_flops()


@pytest.fixture(scope="module")
def runs() -> tuple[dict, dict]:
    return _run("bare"), _run("meter")


def test_compiles_exactly_as_without_costlens(runs):
    bare, meter = runs
    for case in ("module", "function"):
        for what in ("frames", "graph_break", "unique_graphs"):
            assert meter[case][what] == bare[case][what], (case, what)
    assert bare["function"]["frames"].get("ok", 0) >= 2  # both the module and the function
    assert meter["warnings"] == bare["warnings"]
    assert not [w for w in meter["warnings"] if "global hooks" in w]


def test_under_costlens_run_it_compiles_as_bare(runs, tmp_path):
    """The whole profiler (`costlens run`), not only the meter: same frames, no warning."""
    bare, _ = runs
    under = _run("bare", tmp_path)
    for case in ("module", "function"):
        assert under[case]["frames"] == bare[case]["frames"], case
        assert under[case]["graph_break"] == bare[case]["graph_break"], case
    assert under["warnings"] == bare["warnings"]


def test_compiled_flops_match_eager_flop_counter(runs):
    _, meter = runs
    torch.manual_seed(0)
    x, y = torch.randn(16, 32), torch.randint(0, 5, (16,))
    mod = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 5))
    fn_model = nn.Sequential(nn.Linear(32, 48), nn.Tanh(), nn.Linear(48, 5))
    want_module = STEPS * _eager_flops(mod, x, y)
    want_function = STEPS * _eager_flops(fn_model, x, y)
    got_module = meter["module"]["flops"]
    got_function = meter["function"]["flops"] - got_module
    assert got_module == pytest.approx(want_module, rel=0.05)
    assert got_function == pytest.approx(want_function, rel=0.05)
    assert meter["function"]["steps"] == 2 * STEPS


def test_replay_counts_like_flop_counter_and_leaves_the_model_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.Linear(16, 3))
    x = torch.randn(4, 8)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    fig = replay_flops(torch, model, (x,), {}, backward=True)
    # nothing the replay did reached the real model: statistics, grads, RNG
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert fig.modules == [model]
    with flop_counter() as c:
        model(x).sum().backward()
    assert fig.forward_flops + fig.backward_flops == c.get_total_flops()
    assert fig.backward_flops > fig.forward_flops > 0


def test_replay_of_a_function_finds_the_module_it_closes_over():
    model = nn.Linear(8, 4)

    def fn(inp):
        return model(inp).relu()

    fig = replay_flops(torch, fn, (torch.randn(2, 8),), {}, backward=True)
    assert fig.modules == [model]
    assert fig.forward_flops == 2 * 2 * 8 * 4
    assert model.weight.grad is None


def test_a_module_compiled_before_the_meter_is_adopted():
    """`costlens.profile()` entered after torch.compile: the first call is not counted (and the
    global hooks are still there for it: torch warns once), every later one is, and dynamo still
    compiles: once with the global hooks, once more when they are gone, never skipped."""
    from torch._dynamo.utils import counters

    from costlens.record.flops import FlopMeter

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 24), nn.ReLU(), nn.Linear(24, 5))
    compiled = torch.compile(model, backend="aot_eager")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    before = dict(counters["frames"])
    meter = FlopMeter()
    meter.install()
    try:
        for _ in range(STEPS):
            loss = nn.functional.cross_entropy(compiled(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        stats = meter.snapshot()
    finally:
        meter.uninstall()
    frames = {k: v - before.get(k, 0) for k, v in counters["frames"].items()}
    assert frames.get("ok", 0) == frames.get("total", 0) == 2
    want = (STEPS - 1) * _eager_flops(model, x, y)
    assert stats.steps == STEPS
    assert stats.flops == pytest.approx(want, rel=0.05)
    import torch.nn.modules.module as nn_module

    assert not nn_module._has_any_global_hook()
