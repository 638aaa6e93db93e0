"""The 13F holdings COPY on a background thread (pipelines.thirteenf.background_copy) on real
PostgreSQL: the step's own statements wait for it, its rows commit with the step, its errors are
raised in the step and nothing of the transaction stays, and nothing of it outlives the loader.
The rows are the recorded LTS One table's (../shared/fixtures/edgar_13f)."""
from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone
from types import SimpleNamespace
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from pipelines.core.db import get_engine, session_factory
from pipelines.core.ledger import Base
from pipelines.sources.edgar.thirteenf import parse_infotable
from pipelines.thirteenf.background_copy import BackgroundCopyError
from pipelines.thirteenf.load import load_filings
from pipelines.thirteenf.models import ThirteenFFiling, ThirteenFHolding
from pipelines.thirteenf.store import FilingLoader
from tests.conftest import shared_fixture

FILED = date(2023, 11, 14)
OWN_TABLES = ("thirteenf_position_changes", "thirteenf_reports", "thirteenf_holdings", "thirteenf_filings")


@pytest.fixture
def sessions(pg_url):
    with get_engine(pg_url).begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(OWN_TABLES) + " CASCADE"))
    return session_factory(pg_url)


@pytest.fixture(scope="module")
def table() -> bytes:
    return shared_fixture("edgar_13f", "13f_hr_ltsone_2023q3_infotable.xml").read_bytes()


def _values(n: int, rows: int) -> dict[str, Any]:
    return dict(accession=f"0001894188-23-{n:06d}", cik=1894188, manager_name="LTS One Management LP",
                form_type="13F-HR", filed=FILED, period=date(2023, 9, 30), state="loaded", rows=rows,
                discovered_via="test", loaded_at=datetime.now(timezone.utc))


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _copy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("copy")]


def test_statements_wait_for_the_copy_in_flight_and_rows_commit(sessions, pg_url, table: bytes) -> None:
    holdings, _ = parse_infotable(table, filed=FILED)
    # Another connection holds a lock the COPY needs, so the COPY is surely in flight when the
    # step's next statement comes; the lock goes 0.5 s later.
    blocker = psycopg2.connect(pg_url)
    blocker.cursor().execute("LOCK TABLE thirteenf_holdings IN ACCESS EXCLUSIVE MODE")
    with sessions() as s:
        with FilingLoader(s, batch_rows=1) as loader:
            loader.add(_values(1, len(holdings)), holdings)  # flushed: filing row inserted, COPY started
            watch = blocker.cursor()
            for _ in range(100):  # until the COPY waits for the lock
                watch.execute("SELECT count(*) FROM pg_locks WHERE NOT granted "
                              "AND relation = 'thirteenf_holdings'::regclass")
                if watch.fetchone()[0]:
                    break
                time.sleep(0.05)
            assert loader._copier is not None and loader._copier.busy
            threading.Timer(0.5, blocker.commit).start()
            started = time.monotonic()
            seen = _count(s, ThirteenFHolding)  # the same transaction: waits, then sees the COPY's rows
            assert time.monotonic() - started >= 0.4 and seen == len(holdings)
            loader.add(_values(2, len(holdings)), holdings)
        assert _copy_threads() == []
        s.commit()
    blocker.close()
    with sessions() as s:
        assert _count(s, ThirteenFHolding) == 2 * len(holdings) and _count(s, ThirteenFFiling) == 2
        rows = s.scalars(select(ThirteenFHolding.name_of_issuer).order_by(ThirteenFHolding.filing_id,
                                                                         ThirteenFHolding.row)).all()
        assert rows == [h.name_of_issuer for h in holdings] * 2


def test_a_failed_copy_is_raised_in_the_step_and_nothing_stays(sessions, table: bytes) -> None:
    holdings, _ = parse_infotable(table, filed=FILED)
    # A name longer than the column: the parser takes it, PostgreSQL refuses the row in the COPY.
    long_name, _ = parse_infotable(table.replace(b"AMAZON COM INC", b"A" * 300), filed=FILED)
    with sessions() as s:
        with pytest.raises(BackgroundCopyError, match="value too long") as raised:
            with FilingLoader(s, batch_rows=1) as loader:
                loader.add(_values(1, len(holdings)), holdings)
                loader.add(_values(2, len(long_name)), long_name)  # its COPY fails in the background
                loader.add(_values(3, len(holdings)), holdings)  # waits for it first, and raises
        assert isinstance(raised.value.__cause__, psycopg2.errors.StringDataRightTruncation)
        assert _copy_threads() == []
        s.rollback()
        assert _count(s, ThirteenFFiling) == 0 and _count(s, ThirteenFHolding) == 0


def test_a_commit_after_a_failed_copy_fails_instead_of_rolling_back_quietly(sessions, table: bytes) -> None:
    long_name, _ = parse_infotable(table.replace(b"AMAZON COM INC", b"A" * 300), filed=FILED)
    with sessions() as s:
        loader = FilingLoader(s, batch_rows=1)
        loader.add(_values(1, len(long_name)), long_name)  # its COPY fails in the background
        with pytest.raises(BackgroundCopyError):
            s.execute(text("SELECT 1"))  # every statement raises the error ...
        with pytest.raises(BackgroundCopyError):
            s.commit()  # ... and so does the commit, which must not turn into a quiet rollback
        loader.close()
        assert _copy_threads() == []
    # Closed without a rollback: the connection still went back to the pool with no transaction open.
    with sessions() as s:
        assert s.connection().connection.driver_connection.status == psycopg2.extensions.STATUS_READY
        assert _count(s, ThirteenFFiling) == 0
        s.rollback()
        assert s.execute(text("SELECT 1")).scalar() == 1


def test_leaving_on_another_error_waits_for_the_copy_and_keeps_that_error(sessions, table: bytes) -> None:
    holdings, _ = parse_infotable(table, filed=FILED)
    with sessions() as s:
        with pytest.raises(KeyError, match="parse trouble"):
            with FilingLoader(s, batch_rows=1) as loader:
                loader.add(_values(1, len(holdings)), holdings)
                raise KeyError("parse trouble")
        assert _copy_threads() == [] and not s.info
        s.rollback()


def test_sqlite_loads_with_executemany(table: bytes) -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[ThirteenFFiling.__table__, ThirteenFHolding.__table__])
    holdings, _ = parse_infotable(table, filed=FILED)
    with Session(engine) as s:
        with FilingLoader(s, batch_rows=20) as loader:
            for n in (1, 2, 3):
                loader.add(_values(n, len(holdings)), holdings)
            loader.add(_values(1, len(holdings)), holdings)  # an accession stored already: skipped whole
        s.commit()
        assert (len(loader.loaded), loader.skipped, loader.rows) == (3, ["0001894188-23-000001"], 3 * len(holdings))
        assert _count(s, ThirteenFHolding) == 3 * len(holdings)
        assert s.scalars(select(ThirteenFHolding.value_usd).where(ThirteenFHolding.filing_id == 2)
                         .order_by(ThirteenFHolding.row)).all() == [h.value_usd for h in holdings]


def test_load_filings_over_several_chunks(sessions, table: bytes) -> None:
    """The detect step's loading loop across chunks: each chunk's documents read, parsed, then its COPY
    started while the next chunk is read; filings stored earlier and ones the fetch could not get are
    counted, not loaded; every good filing's rows arrive whole."""
    cover = shared_fixture("edgar_13f", "13f_hr_ltsone_2023q3_primary_doc.xml").read_bytes()
    docs = {"cover.xml": cover, "table.xml": table}
    entries = [dict(accession=f"0001894188-23-{n:06d}", cik="1894188", form="13F-HR", filed=FILED.isoformat(),
                    via="test", cover="cover.xml", table="table.xml", table_name="infotable.xml") for n in range(1, 10)]
    entries[4] = {**entries[4], "error": "HTTP 404 for the information table"}
    holdings, _ = parse_infotable(table, filed=FILED)
    with sessions() as s:
        with FilingLoader(s) as loader:  # an earlier run stored the third filing
            loader.add(_values(3, len(holdings)), holdings)
        s.commit()
        ctx = SimpleNamespace(session=s, run_id=None, artifacts=SimpleNamespace(get=docs.__getitem__),
                              quarantine=lambda *a: pytest.fail(f"quarantined: {a}"))
        # Two filings' documents fill a chunk and three entries at most make one: four chunks here.
        counts = load_filings(ctx, entries, {1894188: "LTS One Management LP"}, chunk_filings=3,
                              chunk_bytes=len(cover) + len(table) + 1)
        s.commit()
        assert counts["filings_loaded"] == counts["filings_parsed"] == 7
        assert counts["holdings_loaded"] == 7 * len(holdings)
        assert counts["filings_already_stored"] == 1 and counts["filings_unavailable"] == 1
        stored = dict(s.execute(select(ThirteenFFiling.accession, ThirteenFFiling.state)).all())
        assert stored == {e["accession"]: "unavailable" if e.get("error") else "loaded" for e in entries}
        per_filing = s.execute(select(ThirteenFHolding.filing_id, func.count(), func.sum(ThirteenFHolding.value_usd))
                               .group_by(ThirteenFHolding.filing_id)).all()
        assert len(per_filing) == 8
        assert {(n, v) for _, n, v in per_filing} == {(len(holdings), sum(h.value_usd for h in holdings))}


def test_a_loader_without_batch_rows_loads_only_when_flushed(sessions, table: bytes) -> None:
    holdings, _ = parse_infotable(table, filed=FILED)
    with sessions() as s:
        with FilingLoader(s, batch_rows=None) as loader:
            for n in range(1, 4):
                loader.add(_values(n, len(holdings)), holdings)
            assert _count(s, ThirteenFFiling) == 0
            loader.flush()
            assert _count(s, ThirteenFFiling) == 3
        assert _count(s, ThirteenFHolding) == 3 * len(holdings)
