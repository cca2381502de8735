"""Assertions shared by the input-validation and fuzz tests."""

from __future__ import annotations


def assert_usage_error(res, *words: str) -> None:
    """Exit 2, one line naming what to fix, no traceback, no 'costlens bug', nothing on stdout."""
    assert res.code == 2, (res.code, res.out[-300:], res.err[-600:])
    assert "Traceback" not in res.err and "costlens bug" not in res.err, res.err
    assert res.out == "", res.out[:300]
    for w in words:
        assert w in res.err, (w, res.err)


def assert_clean_failure(res) -> None:
    """A non-zero exit with a message, never a traceback or a 'costlens bug'."""
    assert res.code != 0, (res.out[-300:], res.err[-300:])
    assert "Traceback" not in res.err and "costlens bug" not in res.err, res.err
    assert res.err.strip(), "a failure must say why"
