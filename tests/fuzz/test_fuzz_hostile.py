"""A fixed corpus of hostile inputs (issue 24): numbers written to slip through (other scripts'
digits, stray commas, thousands of digits, values past any plausible bound), text that is a
spreadsheet formula or HTML, line separators, store URLs that name no store, and plans built to
explode. Each must be refused with one clear message (or answered correctly): never a traceback,
"a costlens bug", a hang or a silent acceptance. The counts are in the fuzz summary."""

from __future__ import annotations

import pytest

from tests.fuzz.conftest import outcome
from tests.validation.checks import assert_clean_failure
from tests.validation.test_exit_codes import COMMANDS, _argv

# each of these is wrong for any numeric flag: it must be a usage error naming the flag
BAD_NUMBERS = [
    "1,2,3", "12,34", "1,,000", ",5", "\u0663", "\u0661\u0660", "\uff11", "\u00b2", "1e40",
    "1e300", "1e308", "1e309", "-1e400", "9" * 50, "9" * 500, "9" * 5000, "9223372036854775808",
    "nan", "inf", "=1+1", "+cmd", "@SUM(A1)", "0x10", "1/2", "1e", "--1", "1 000", "\u20281",
    "1\u2028", "1e4000k",
]  # fmt: skip
NUMERIC_FLAGS = [
    (("estimate",), "params"), (("estimate",), "tokens"), (("estimate",), "samples"),
    (("estimate",), "seq_len"), (("estimate",), "epochs"), (("estimate",), "n_layers"),
    (("estimate",), "d_model"), (("estimate",), "tokens_per_step"), (("runs",), "limit"),
    (("forecast",), "budget"),
]  # fmt: skip
BAD_NAMES = ["\u2028", "a\u2029b", "x\u202e", "\ud800", "\x00", "a\nb"]
NAME_FLAGS = [(("runs",), "project"), (("estimate",), "provider"), (("estimate",), "gpu")]


def _option(path, name):
    return next(p for p in COMMANDS[path].params if p.name == name)


@pytest.mark.parametrize("which", NUMERIC_FLAGS, ids=lambda w: f"{w[0][0]}-{w[1]}")
def test_hostile_numbers_are_usage_errors_on_every_numeric_flag(which):
    path, name = which
    cmd = COMMANDS[path]
    for value in BAD_NUMBERS:
        try:
            ctx = cmd.make_context(path[-1], _argv(path, name, value)[len(path) :])
        except Exception as exc:
            assert type(exc).__name__ in ("BadParameter", "UsageError"), repr(exc)
            assert str(exc).strip() and "Traceback" not in str(exc)
            assert len(str(exc)) < 400, "a 5000-digit value is not echoed whole"
            outcome("hostile numbers", False)
            continue
        raise AssertionError(f"{path} --{name} {value[:40]!r} accepted as {ctx.params[name]!r}")


@pytest.mark.parametrize("which", NAME_FLAGS, ids=lambda w: f"{w[0][0]}-{w[1]}")
def test_hostile_names_are_usage_errors(which):
    path, name = which
    cmd = COMMANDS[path]
    for value in BAD_NAMES:
        with pytest.raises(Exception) as info:
            cmd.make_context(path[-1], _argv(path, name, value)[len(path) :])
        assert type(info.value).__name__ in ("BadParameter", "UsageError"), repr(info.value)
        outcome("hostile names", False)


BAD_URLS = [
    "sqlite:////dev/null", "sqlite:///:memory:", "sqlite:///", "sqlite:////dev/zero",
    "sqlite:////tmp", "postgresql://u:pw@[::1:5432/x", "postgresql://u@h:99999/x",
    "postgresql://u@h:port/x", "postgresql://u@127.0.0.1:1/x?password=S3cretPW",
    "postgresql://u:S3cretPW@127.0.0.1:1/x", "mysql://u@h/x", "sqlite:///nonexistent/dir/x.db",
]  # fmt: skip


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("command", [["runs"], ["db", "info"], ["show", "x"]])
def test_hostile_store_urls_are_clear_errors_and_keep_secrets(cli, url, command):
    res = cli(*command, "--db", url)
    assert_clean_failure(res)
    assert "S3cretPW" not in res.err + res.out
    outcome("hostile store URLs", False)


PLAN_JOB = (
    "{name: j, month: 2027-01, project: p, strategy: scratch, params: %s, tokens: 1B, "
    "gpu: A100-80GB, gpus: 1, provider: lambda, repeats: 2}"
)
HOSTILE_PLANS = {
    "alias.yaml": "jobs:\n  - &a " + PLAN_JOB % "1B" + "\n  - *a\n",
    "laughs.yaml": "a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "jobs: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
    "merge.yaml": "base: &b {gpus: 1}\njobs:\n  - {<<: *b, name: j}\n",
    "deep.yaml": "jobs: " + "[" * 3000 + "]" * 3000 + "\n",
    "deepmap.yaml": "jobs: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "deep.toml": "x = " + "[" * 3000 + "]" * 3000 + "\n",
    "deeptable.toml": "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n",
    "digits.yaml": "jobs:\n  - " + PLAN_JOB % ("9" * 5000) + "\n",
    "digits.toml": '[[job]]\nname = "j"\nparams = ' + "9" * 5000 + "\n",
    "float.yaml": "jobs:\n  - " + PLAN_JOB % "1e400" + "\n",
    "arabic.yaml": "jobs:\n  - " + PLAN_JOB % "'\u0663B'" + "\n",
    "commas.csv": "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats\n"
    'j,2027-01,p,scratch,"1,2,3",1B,A100-80GB,1,lambda,2\n',
    "huge.csv": "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats\n"
    "j,2027-01,p,scratch,1e40,1B,A100-80GB,1,lambda,2\n",
    "sep.csv": "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats\n"
    "j\u2028,2027-01,p,scratch,1B,1B,A100-80GB,1,lambda,2\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PLANS))
def test_hostile_plans_are_plan_errors(cli, tmp_path, name):
    plan = tmp_path / name
    plan.write_text(HOSTILE_PLANS[name], encoding="utf-8")
    out = tmp_path / "out.json"
    res = cli("forecast", str(plan), "--sims", "100", "--out", str(out))
    assert_clean_failure(res)
    assert name in res.err and not out.exists()
    outcome("hostile plans", False)
