"""The offline journal: replay is idempotent, left alone while held, torn lines skipped."""

from __future__ import annotations

from costlens.record import journal
from costlens.store.queries import count_samples, get_run


def test_replay_is_idempotent_and_a_no_op_without_a_journal(store, tmp_path):
    assert journal.replay_pending(store) == 0
    from datetime import datetime

    header = {"id": "r1", "project": "j", "status": "running", "started_at": datetime(2026, 1, 1)}
    j = journal.Journal("r1", 0, header=header)
    rows = [
        ("r1", 1.0 + i, 0, -1, None, None, None, None, None, None, None, 5.0, 10) for i in range(3)
    ]
    j.samples(rows)
    j.rank_progress(
        {
            "run_id": "r1",
            "rank": 0,
            "host": "h",
            "steps": 4,
            "samples": 8,
            "tokens": 0,
            "flops": 0.0,
            "updated_at": datetime(2026, 1, 1),
        }
    )
    j.update("r1", {"status": "completed", "ended_at": datetime(2026, 1, 1, 0, 1)})
    path = j.path
    text = path.read_text()
    assert journal.replay_pending(store) == 0  # still held by its writer: left alone
    j.close()
    assert journal.replay_pending(store) == 4
    path.write_text(text)  # as if the process died before removing it: replay again
    assert journal.replay_pending(store) == 4
    assert count_samples(store, "r1") == 3
    rec = get_run(store, "r1")
    assert rec["status"] == "completed" and rec["steps"] == 4


def test_torn_last_line_is_skipped(store):
    from datetime import datetime

    j = journal.Journal("r2", 0, header={"id": "r2", "started_at": datetime(2026, 1, 1)})
    j.update("r2", {"status": "failed"})
    j.close()
    with open(j.path, "a") as fh:
        fh.write('{"k": "samples", "rows": [["r2", 1.0')  # SIGKILL mid-write
    assert journal.replay_pending(store) == 2
    assert get_run(store, "r2")["status"] == "failed"
