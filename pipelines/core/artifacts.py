"""Content-addressed raw payloads, linked to runs by name.

A fetch step stores what it downloaded exactly as received; later steps read it back by name.
A replay run points at the run it replays and reads that run's artifacts, so any run can be
re-computed from its raw inputs without touching the upstream again.
"""
from __future__ import annotations

import hashlib
import zlib
from datetime import datetime, timezone

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from .db import is_postgresql, upsert_insert
from .ledger import Artifact, RunArtifact


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _put_small():  # type: ignore[no-untyped-def]
    """Store a payload if new and (re)point a run's name at it: one statement, built once."""
    blobs, links = Artifact.__table__, RunArtifact.__table__
    blob = (postgresql.insert(blobs).values({c: bindparam(c, type_=blobs.c[c].type) for c in
                                             ("key", "size", "content_type", "compressed", "created_at")})
            .on_conflict_do_nothing(index_elements=["key"]).cte("blob"))
    link = postgresql.insert(links).values({c: bindparam(c, type_=links.c[c].type) for c in
                                            ("run_id", "step", "name", "key")})
    # A retried step overwrites what its failed attempt stored under the same name.
    return link.on_conflict_do_update(index_elements=["run_id", "name"],
                                      set_={"key": link.excluded.key, "step": link.excluded.step}).add_cte(blob)


_PUT_SMALL = _put_small()


def store_blob(session: Session, data: bytes, content_type: str = "application/octet-stream") -> str:
    key = content_key(data)
    if len(data) > 65536 and session.get(Artifact, key) is not None:
        return key  # a large payload seen before: skip compressing it again
    # Insert-if-absent: the same payload stored twice (by two workers, or two runs) is one row.
    session.execute(upsert_insert(session)(Artifact).values(
        key=key, size=len(data), content_type=content_type, compressed=zlib.compress(data, 6),
        created_at=datetime.now(timezone.utc)).on_conflict_do_nothing(index_elements=["key"]))
    return key


def load_blob(session: Session, key: str) -> bytes:
    row = session.get(Artifact, key)
    if row is None:
        raise KeyError(f"artifact {key} not found")
    return zlib.decompress(row.compressed)


class RunArtifacts:
    """`ArtifactAccess` for one run (see pipelines.core.model)."""

    def __init__(self, session: Session, run_id: int, step: str, replay_of: int | None = None) -> None:
        self._session = session
        self._run_id = run_id
        self._step = step
        self._replay_of = replay_of

    def _source_run_ids(self) -> list[int]:
        return [self._run_id] + ([self._replay_of] if self._replay_of else [])

    def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        if is_postgresql(self._session) and len(data) <= 65536:
            # Payload and name in one statement: a fetch step stores several, each a round trip less.
            key = content_key(data)
            self._session.execute(_PUT_SMALL, {"key": key, "size": len(data), "content_type": content_type,
                                               "compressed": zlib.compress(data, 6),
                                               "created_at": datetime.now(timezone.utc), "run_id": self._run_id,
                                               "step": self._step, "name": name})
            return key
        key = store_blob(self._session, data, content_type)
        # A retried step overwrites what its failed attempt stored under the same name.
        stmt = upsert_insert(self._session)(RunArtifact).values(run_id=self._run_id, step=self._step, name=name,
                                                                key=key)
        self._session.execute(stmt.on_conflict_do_update(index_elements=["run_id", "name"],
                                                         set_={"key": key, "step": self._step}))
        return key

    def key(self, name: str) -> str:
        for run_id in self._source_run_ids():
            key = self._session.scalar(select(RunArtifact.key).where(RunArtifact.run_id == run_id,
                                                                      RunArtifact.name == name))
            if key is not None:
                return key
        raise KeyError(f"run {self._run_id} has no artifact named {name!r}")

    def get(self, name: str) -> bytes:
        return load_blob(self._session, self.key(name))

    def names(self) -> list[str]:
        found: dict[str, None] = {}
        for run_id in self._source_run_ids():
            for (name,) in self._session.execute(select(RunArtifact.name).where(RunArtifact.run_id == run_id)
                                                 .order_by(RunArtifact.id)):
                found.setdefault(name, None)
        return list(found)
