"""Database engine and sessions: one engine per process, one session per unit of work.

Celery prefork children must never share pooled connections with their parent (SQLAlchemy
"Using Connection Pools with Multiprocessing"; airflow #13265), so the engine is keyed on the pid
and rebuilt after a fork; the worker also calls `reset_after_fork()` from `worker_process_init`.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_engines: dict[tuple[int, str], Engine] = {}
_makers: dict[tuple[int, str], sessionmaker[Session]] = {}


def normalize_url(url: str) -> str:
    """SQLAlchemy 2 rejects `postgres://`; Heroku-style URLs are common in env files."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg2://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def _make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The embedded mode shares one file between the CLI and a worker; wait on locks rather
        # than failing at once.
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_recycle=1800)


def get_engine(url: str) -> Engine:
    key = (os.getpid(), normalize_url(url))
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = _make_engine(url)
    return engine


def session_factory(url: str) -> sessionmaker[Session]:
    key = (os.getpid(), normalize_url(url))
    maker = _makers.get(key)
    if maker is None:
        maker = _makers[key] = sessionmaker(get_engine(url), expire_on_commit=False)
    return maker


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
    for (pid, _), engine in list(_engines.items()):
        if pid != os.getpid():
            engine.dispose(close=False)
    _engines.clear()
    _makers.clear()


def relax_commit(session: Session) -> None:
    """Let this transaction's commit skip the WAL flush (PostgreSQL `synchronous_commit=off`).

    Only for bookkeeping that a later synchronous commit covers: WAL is flushed in order, so the
    next synchronous commit (the step's own transaction) makes this one durable too, and a crash
    before that means the step never finished and its message is still unacked. Saves an fsync
    (about 0.5 ms here) per step.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
