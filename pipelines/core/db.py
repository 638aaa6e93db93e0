"""Database engine and sessions: one engine per process, one session per unit of work.

Celery prefork children must never share pooled connections with their parent (SQLAlchemy
"Using Connection Pools with Multiprocessing"; airflow #13265), so the engine is keyed on the pid
and rebuilt after a fork; the worker also calls `reset_after_fork()` from `worker_process_init`.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from sqlalchemy import Engine, Executable, Row, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

_engines: dict[tuple[int, str, str], Engine] = {}
_makers: dict[tuple[int, str, str], sessionmaker[Session]] = {}
IDLE_PING_SECONDS = 10.0


def normalize_url(url: str) -> str:
    """SQLAlchemy 2 rejects `postgres://`; Heroku-style URLs are common in env files."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg2://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def upsert_insert(session: Session):  # type: ignore[no-untyped-def]
    """The session's dialect's `insert`, which has ON CONFLICT (both PostgreSQL and SQLite do)."""
    return postgresql.insert if is_postgresql(session) else sqlite.insert


def table_of(model: type) -> Table:
    """A mapped class's Table (`__table__` is typed as a FromClause, which insert() and update() refuse)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table), model
    return table


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle a while.

    `pool_pre_ping` costs a round trip on every checkout, as much as the ledger statement it
    guards. A connection in steady use is known good; one idle past
    IDLE_PING_SECONDS (a database restart, a proxy's idle cut-off) is pinged, and the pool swaps in
    a fresh connection when the ping fails (SQLAlchemy "Disconnect Handling - Pessimistic").
    """
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            if not dbapi_conn.autocommit:
                dbapi_conn.rollback()  # the ping must not leave a transaction open
        except Exception as exc:  # noqa: BLE001 - any failure means this connection is unusable
            raise DisconnectionError(f"stale pooled connection: {exc}") from exc


# Engine kinds: "session" for transactions; "autocommit" and "relaxed" (autocommit whose commits
# skip the WAL flush) for the ledger's single-statement records. The mode is fixed when a
# connection is made: switching it per checkout costs psycopg2 round trips of its own.
SESSION, AUTOCOMMIT, RELAXED = "session", "autocommit", "relaxed"


def _make_engine(url: str, kind: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The embedded mode shares one file between the CLI and a worker; wait on locks rather
        # than failing at once.
        engine = create_engine(url, connect_args={"timeout": 30},
                               **({"isolation_level": "AUTOCOMMIT"} if kind != SESSION else {}))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    options: dict[str, object] = {}
    if kind != SESSION:
        options["isolation_level"] = "AUTOCOMMIT"
    if kind == RELAXED:
        options["connect_args"] = {"options": "-c synchronous_commit=off"}
    # Sessions run a step's own work: check the connection on every checkout, as before. The
    # single-statement engines are the hot path and check only connections left idle a while.
    engine = create_engine(url, pool_size=5, max_overflow=5, pool_recycle=1800, pool_pre_ping=kind == SESSION,
                           **options)  # type: ignore[arg-type]
    if kind != SESSION:
        _ping_when_idle(engine)
    return engine


def _engine(url: str, kind: str) -> Engine:
    key = (os.getpid(), normalize_url(url), kind)
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = _make_engine(url, kind)
    return engine


def get_engine(url: str) -> Engine:
    return _engine(url, SESSION)


def session_factory(url: str) -> sessionmaker[Session]:
    key = (os.getpid(), normalize_url(url), SESSION)
    maker = _makers.get(key)
    if maker is None:
        maker = _makers[key] = sessionmaker(get_engine(url), expire_on_commit=False)
    return maker


def execute_autocommit(url: str, statement: Executable, params: Mapping[str, Any],
                       relaxed: bool = False) -> list[Row[Any]]:
    """Run one statement that commits by itself: one round trip, no BEGIN or COMMIT; its rows.

    For single statements that decide everything themselves (insert-if-absent, a step's start and
    success records), written so that running one twice does no harm; anything needing several
    statements uses a session and a transaction. A connection the server dropped (a restart within
    IDLE_PING_SECONDS of its last use) invalidates the pool, and the statement is tried once more
    on a fresh connection.

    `relaxed` commits skip the WAL flush (PostgreSQL `synchronous_commit=off`): only for
    bookkeeping that a later synchronous commit covers. WAL is flushed in order, so the step's own
    synchronous commit makes its start record durable too, and a crash before that means the step
    never finished and its message is still unacked.
    """
    engine = _engine(url, RELAXED if relaxed and not is_sqlite(url) else AUTOCOMMIT)
    for tries_left in (1, 0):
        try:
            with engine.connect() as conn:
                return list(conn.execute(statement, params).all())
        except DBAPIError as exc:
            if not exc.connection_invalidated or not tries_left:
                raise
    raise AssertionError("unreachable")


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success, rolls back on error and is always closed."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_after_fork() -> None:
    """Drop engines inherited from a parent process without closing the parent's connections."""
    for (pid, _, _), engine in list(_engines.items()):
        if pid != os.getpid():
            engine.dispose(close=False)
    _engines.clear()
    _makers.clear()
