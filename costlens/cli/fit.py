"""CLI: `costlens fit`, the cost model refitted from the store's runs."""

from __future__ import annotations

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    emit,
    emit_record,
    stdout_console,
)


def fit(db: DbOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Refit the cost model from the store's runs and save it beside the store (a SQLite
    runs.db: runs.db.costlens/model.pkl)."""
    from rich.progress import BarColumn, Progress, TextColumn

    from costlens import estimator as est
    from costlens.cli.common import open_cli_store
    from costlens.store.queries import list_runs

    steps = ("reading runs", "building features", "fitting groups and calibrating intervals")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), transient=True, console=_err_console()
    ) as bar:
        task = bar.add_task(steps[0], total=len(steps) + 1)
        with open_cli_store(db) as store:
            records = list_runs(store)

        def advance(what: str) -> None:
            bar.update(task, description=what, advance=1)

        model = est.fit_records(records, progress=advance)
        advance("saving")
        path = est.save_model(model, db=db)
    summary = model.summary()
    out = {
        "runs_seen": len(records),
        "runs_used": summary["runs"],
        "runs_skipped": model.n_skipped_,
        "groups": summary["groups"],
        "interval_low_factor": summary["interval_low_factor"],
        "interval_high_factor": summary["interval_high_factor"],
        "fingerprint": model.fingerprint_,
        "saved_to": str(path),
    }
    if fmt is OutputFormat.json:
        emit_record(out, fmt)
        return
    emit(
        summary["groups"],
        fmt,
        title="learned efficiency per accelerator and precision",
        empty_hint="no usable runs (completed, with FLOPs and a duration): prior-only model.",
    )
    console = stdout_console()
    for line in fit_notes(out, full_finetune=any(r.get("strategy") == FT for r in records)):
        console.print(line, markup=False, highlight=False)  # wrapped at the terminal's width


FT = "full-finetune"


def fit_notes(out: dict, *, full_finetune: bool) -> list[str]:
    """What the fit did, one short sentence a line: runs used, the interval, why full-finetune
    runs show as ``scratch``, where the model went."""
    lo, hi = out["interval_low_factor"], out["interval_high_factor"]
    lines = [
        f"runs used {out['runs_used']} of {out['runs_seen']} ({out['runs_skipped']} skipped: "
        "not completed, no FLOPs or unknown device)",
        f"80% interval of throughput: x{lo:.2f} .. x{hi:.2f} of the prediction"
        if lo is not None and hi is not None
        else "80% interval: fewer than 10 runs in all (a group with 3 or more uses its own "
        "runs' spread, its interval_low/high_factor; others the prior ranges)",
    ]
    if full_finetune:
        lines.append(
            f"{FT} runs are listed as scratch: both train every weight, so they run the same "
            "FLOPs per token at the same speed and are fitted as one strategy"
        )
    lines.append(f"saved to {out['saved_to']}")
    return lines


def _err_console():
    from rich.console import Console

    return Console(stderr=True)
