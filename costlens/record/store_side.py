"""Where the recorder's store writes run: in this process, or in a child process for SQLite.

A SQLite store in WAL mode maps its ``-shm`` file into memory. When that file is truncated, made
immutable or its disk fails, the next access to the map is a SIGBUS, which no Python code can
catch: it kills the process, and in-process that is the training (issue 24, failure 8). So for a
SQLite file the writer's store work runs in a child process (:class:`ChildSide`): a SIGBUS, a
crash or a hang there costs the child, the journal keeps the run, and the next write starts a new
child. PostgreSQL maps nothing, and writes in this process (:class:`LocalSide`).

Both sides offer the same operations (``open``, ``replay_head``, ``write``, ``check_identity``,
``close``); the child runs a :class:`LocalSide` and answers each call over a pipe (pickled,
length-prefixed). The child ignores SIGINT and SIGTERM (the final write still happens after a
Ctrl-C or a preemption) and exits when its pipe closes (the parent ended, however it ended).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_HEADER = struct.Struct("!Q")
ANSWER_GRACE_S = 10.0  # a call may take its write timeout plus this (imports, a first migration)


class StoreGone(Exception):
    """The SQLite file the run was written to is no longer the file at its path."""


class SideFailed(Exception):
    """A store operation failed (on the child's side: its type and message), or the child died."""


class LocalSide:
    """The store, opened and written in this process."""

    def __init__(self, db: str | None, write_timeout_s: float) -> None:
        self.db = db
        self.write_timeout_s = write_timeout_s
        self.store: Any = None
        self.identity: tuple[int, int] | None = None

    @property
    def opened(self) -> bool:
        return self.store is not None

    def prestart(self) -> None:
        """Nothing to start in this process."""

    def open(self, header: dict[str, Any], is_owner: bool, identity: Any = None) -> Any:
        """Open (once), check the file is the one first opened, make sure the run row exists;
        returns the file's identity (``st_dev``, ``st_ino``) or None (not a SQLite file)."""
        from costlens.store.db import OpenMode, open_store, sqlite_path
        from costlens.store.ingest import ensure_run

        if self.store is None:
            store = open_store(self.db, OpenMode.WRITE, write_timeout_s=self.write_timeout_s)
            path = sqlite_path(store)
            if path and path != ":memory:" and identity is None:
                try:
                    st = os.stat(path)
                except OSError as exc:
                    store.dispose()
                    raise StoreGone(f"{path} was deleted or its folder removed") from exc
                identity = (st.st_dev, st.st_ino)
            self.identity = tuple(identity) if identity else None
            self.store = store
        self.check_identity()
        ensure_run(self.store, header, update_facts=is_owner)
        return self.identity

    def check_identity(self) -> None:
        if self.identity is None or self.store is None:
            return
        from costlens.store.db import sqlite_path

        path = sqlite_path(self.store)
        try:
            st = os.stat(path)  # type: ignore[arg-type]
        except OSError as exc:
            raise StoreGone(f"{path} was deleted or its folder removed") from exc
        if (st.st_dev, st.st_ino) != self.identity:
            raise StoreGone(f"{path} was replaced or moved")

    def replay_head(self, path: str, size: int) -> int:
        """Replay the first ``size`` bytes of the journal at ``path`` (idempotent)."""
        from costlens.record.journal import Journal

        j = Journal("", 0)
        j.path = Path(path)
        return j.replay_head(self.store, size)

    def write(
        self,
        rows: list,
        rank_values: dict[str, Any],
        run_update: dict[str, Any],
        replace: bool,
        energy_source: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """One batch: samples (``replace``: delete the same keys first), metric points, the
        rank's progress, the run's columns; ``energy_source`` given (the last batch of a
        multi-node owner): the run's energy becomes the last reading of every device of every
        node."""
        from costlens.store.ingest import insert_samples, replace_samples, update_run, upsert_rank
        from costlens.store.progress import rank_sums
        from costlens.store.series import apply_metric_ops

        self.check_identity()
        if rows:
            (replace_samples if replace else insert_samples)(self.store, rows)
        if metrics:
            apply_metric_ops(self.store, metrics)  # idempotent: deletes its keys first
        if energy_source is not None:
            run_update = {**run_update, **self._all_nodes_energy(rank_values, energy_source)}
        upsert_rank(self.store, rank_values)
        run_id = rank_values["run_id"]
        update_run(self.store, run_id, {**rank_sums(run_id), **run_update})

    def _all_nodes_energy(self, rank_values: dict[str, Any], source: str) -> dict[str, Any]:
        from costlens.core.units import MJ_PER_J
        from costlens.store.progress import devices_energy_mj

        try:
            got = devices_energy_mj(self.store, rank_values["run_id"])
        except Exception:  # the energy of other nodes is a nicety: the batch still goes in
            return {}
        return {} if got is None else {"energy_j": got / MJ_PER_J, "energy_source": source or None}

    def close(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            store.dispose()


def uses_child(db: str | None) -> bool:
    """True for a SQLite file store (its ``-shm`` map could kill this process)."""
    from costlens.store.url import resolve_db_url

    url = resolve_db_url(db)
    path = url.split(":///", 1)[-1] if url.startswith("sqlite") else ""
    return bool(path) and path != ":memory:"


class ChildSide:
    """The same operations as :class:`LocalSide`, run by a child process."""

    def __init__(self, db: str | None, write_timeout_s: float) -> None:
        self.db = db
        self.write_timeout_s = write_timeout_s
        self.proc: subprocess.Popen | None = None
        self.identity: tuple[int, int] | None = None
        self.opened = False
        self.died: str | None = None  # how the last child ended, when it died
        self._init_pending = False  # "init" sent, its answer not read yet

    def _start(self) -> subprocess.Popen:
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p),
        }
        code = "from costlens.record.store_side import child_main; child_main()"
        return subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )

    def prestart(self) -> None:
        """Start the child now (its imports overlap the samplers' set-up); never raises."""
        try:
            if self.proc is None:
                self.proc = self._start()
                self._send("init", self.db, self.write_timeout_s)
                self._init_pending = True
        except Exception:
            self.proc = None

    def _call(self, op: str, *args: Any) -> Any:
        if self.proc is None or self.proc.poll() is not None:
            self.opened = False
            self.proc = self._start()
            self._send("init", self.db, self.write_timeout_s)
            self._init_pending = True
        if self._init_pending:
            self._init_pending = False
            self._receive(self.write_timeout_s + ANSWER_GRACE_S)
        self._send(op, *args)
        return self._receive(self.write_timeout_s + ANSWER_GRACE_S)

    def _send(self, *message: Any) -> None:
        data = pickle.dumps(message)
        try:
            self.proc.stdin.write(_HEADER.pack(len(data)) + data)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except OSError as exc:
            raise self._lost("its pipe closed") from exc

    def _receive(self, timeout_s: float) -> Any:
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        head = _read_exactly(fd, _HEADER.size, deadline)
        body = None if head is None else _read_exactly(fd, _HEADER.unpack(head)[0], deadline)
        if body is None:
            raise self._lost(f"no answer within {timeout_s:g} s")
        kind, value = pickle.loads(body)
        if kind == "ok":
            return value
        if kind == "gone":
            raise StoreGone(value)
        raise SideFailed(value)

    def _lost(self, why: str) -> SideFailed:
        """The child died or hung: end it, say how (a signal by name: SIGBUS...)."""
        proc, self.proc, self.opened = self.proc, None, False
        self._init_pending = False
        code = None
        if proc is not None:
            try:
                code = proc.wait(0.5)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        if code is not None and code < 0:
            why = f"it died of {signal.Signals(-code).name}"
        self.died = why
        return SideFailed(f"the store writer process stopped ({why}); this process is unharmed")

    def open(self, header: dict[str, Any], is_owner: bool, identity: Any = None) -> Any:
        got = self._call("open", header, is_owner, identity or self.identity)
        self.identity = tuple(got) if got else None
        self.opened = True
        return self.identity

    def check_identity(self) -> None:
        if self.opened:
            self._call("check_identity")

    def replay_head(self, path: str, size: int) -> int:
        return self._call("replay_head", path, size)

    def write(self, *args: Any) -> None:
        self._call("write", *args)

    def close(self) -> None:
        proc, self.proc, self.opened = self.proc, None, False
        self._init_pending = False
        if proc is None:
            return
        try:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(2.0)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()


def _read_exactly(fd: int, n: int, deadline: float) -> bytes | None:
    """``n`` bytes from ``fd`` before ``deadline`` (None: end of file or too late)."""
    chunks: list[bytes] = []
    while n > 0:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def child_main() -> None:
    """The child: answer calls on stdin with a :class:`LocalSide` until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the run ends
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # No PR_SET_PDEATHSIG: it fires when the *thread* that started the child ends (the recorder's
    # thread ends before the writer's last write). The pipe's end of file ends the child.
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    side: LocalSide | None = None
    try:  # the store's imports now, while the parent sets its samplers up, not once "open" comes
        import costlens.store.db
        import costlens.store.ingest  # noqa: F401
    except Exception:  # the "open" call that needs them says what is wrong
        pass
    while True:
        head = inp.read(_HEADER.size)
        if len(head) < _HEADER.size:
            break
        op, *args = pickle.loads(inp.read(_HEADER.unpack(head)[0]))
        try:
            if op == "init":
                side, value = LocalSide(*args), None
            else:
                value = getattr(side, op)(*args)
            answer: tuple[str, Any] = ("ok", value)
        except StoreGone as exc:
            answer = ("gone", str(exc))
        except Exception as exc:
            answer = ("error", f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(answer)
        out.write(_HEADER.pack(len(data)) + data)
        out.flush()
    if side is not None:
        side.close()
