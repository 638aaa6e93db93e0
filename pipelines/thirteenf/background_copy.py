"""COPY on a worker thread, overlapped with the caller's parsing, inside the session's own transaction.

Loading a quarter is parsing (Python, holding the GIL) and COPY (PostgreSQL's work, in its own process;
psycopg2 lets go of the GIL while it sends and waits). One after the other they add up; here the COPY
of one batch runs while the caller parses the next, on the session's own psycopg2 connection, so the
rows still commit or roll back with the rest of the step.

A connection must never be used by two threads at once, so:
- at most one COPY is in flight: `submit` waits for the previous one first;
- while one is in flight, every statement, commit or rollback the session sends on that connection
  waits for it first (connection event listeners, so a query added to the step later cannot forget
  to), and so does every raw use of the connection in `bulk` (`wait_for_copy`);
- a COPY's error is raised in the caller's thread (by the next `submit`, `wait`, statement or commit)
  and keeps being raised until the transaction is rolled back: the server has aborted the
  transaction, and a COMMIT there would silently roll it back instead of failing (a commit raises
  it after rolling the transaction back itself);
- `close` waits for the last COPY and stops the thread; `FilingLoader` is a context manager that
  always calls it.
"""
from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

_INFO_KEY = "thirteenf.background_copy"  # Session.info entry of the session's open BackgroundCopy
READ_SIZE = 1 << 20  # bytes psycopg2 reads per call (its default, 8 KiB, is a call per ~90 rows)


def wait_for_copy(session: Session) -> None:
    """Before a raw use of the session's connection: wait for a background COPY on it (raising its error)."""
    copier = session.info.get(_INFO_KEY)
    if copier is not None:
        copier.wait()


class BackgroundCopyError(RuntimeError):
    """A background COPY failed; the psycopg2 error is the cause. The transaction is aborted."""


def _copy(raw: Any, sql: str, text: str) -> None:
    with raw.cursor() as cur:
        cur.copy_expert(sql, io.StringIO(text), size=READ_SIZE)


class BackgroundCopy:
    """One session's COPYs, run one at a time on a worker thread (PostgreSQL only)."""

    def __init__(self, session: Session) -> None:
        if session.info.get(_INFO_KEY) is not None:
            raise RuntimeError("this session already has a background COPY open")
        self._session = session
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy")
        self._future: Future[None] | None = None
        self._error: BaseException | None = None
        self._sql = ""
        self._watched: Connection | None = None
        session.info[_INFO_KEY] = self

    def submit(self, sql: str, text: str) -> None:
        """Start `sql` (a COPY ... FROM STDIN) with `text` as its data once the previous COPY is done."""
        if self._pool is None:
            raise RuntimeError("background COPY already closed")
        self.wait()
        self._session.flush()  # the ORM's pending rows go first, from this thread
        conn = self._session.connection()  # begins the session's transaction if it has not yet
        self._watch(conn)
        raw = conn.connection.driver_connection
        self._sql = sql
        self._future = self._pool.submit(_copy, raw, sql, text)

    def wait(self) -> None:
        """Wait for the COPY in flight, if any; raise the error of a failed one."""
        self._settle()
        self._raise()

    @property
    def busy(self) -> bool:
        return self._future is not None and not self._future.done()

    def close(self, *, raise_error: bool = True) -> None:
        """Wait for the last COPY and stop the thread; raise its error unless told not to (on an
        exception already unwinding the step, which is the error worth seeing)."""
        try:
            self._settle()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            self._unwatch()
            if self._session.info.get(_INFO_KEY) is self:
                del self._session.info[_INFO_KEY]
        if raise_error:
            self._raise()

    def _raise(self) -> None:
        # A new exception each time, chained to the driver's: raised inside a statement of the main
        # thread, the driver's own error class would pass for that statement's failure.
        if self._error is not None:
            raise BackgroundCopyError(f"background {self._sql.partition(' (')[0]} failed, the transaction is "
                                      f"aborted: {self._error}") from self._error

    def _settle(self) -> None:
        future, self._future = self._future, None
        if future is None:
            return
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001 - kept and raised in the caller's thread
            self._error = exc

    # -- the connection guard -----------------------------------------------------------------------
    def _watch(self, conn: Connection) -> None:
        if conn is self._watched:
            return
        self._unwatch()  # a commit ended the old transaction; the session has a new connection now
        event.listen(conn, "before_cursor_execute", self._before_statement)
        event.listen(conn, "commit", self._before_commit)
        event.listen(conn, "rollback", self._before_rollback)
        self._watched = conn

    def _unwatch(self) -> None:
        conn, self._watched = self._watched, None
        if conn is None:
            return
        event.remove(conn, "before_cursor_execute", self._before_statement)
        event.remove(conn, "commit", self._before_commit)
        event.remove(conn, "rollback", self._before_rollback)

    def _before_statement(self, *_args: Any) -> None:
        self.wait()

    def _before_commit(self, conn: Connection) -> None:
        self._settle()
        if self._error is not None:
            # Raised from here, before the driver's COMMIT, the error would leave the server's
            # (aborted) transaction open under a connection SQLAlchemy then treats as finished: it
            # skips its own rollback and pools the connection as it is. So roll back first.
            conn.connection.driver_connection.rollback()  # type: ignore[union-attr]
            try:
                self._raise()
            finally:
                self._error = None  # that transaction is gone; so is its error

    def _before_rollback(self, _conn: Connection) -> None:
        # Rolling back is the answer to a failed COPY, so its error is not raised here; the
        # transaction it aborted is gone afterwards, and so is the error.
        self._settle()
        self._error = None
