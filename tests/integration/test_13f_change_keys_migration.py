"""Migration 0008 on both databases: the 13F change rows lose their foreign key and cusip index, keep
their primary key (bytewise on PostgreSQL), and the downgrade puts both back."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from pipelines.core import migrate
from pipelines.core.db import get_engine, session_factory
from pipelines.thirteenf.models import ThirteenFPositionChange, ThirteenFReport
from pipelines.thirteenf.store import delete_reports
from tests.support.services import create_database, drop_database

TABLE = "thirteenf_position_changes"
CHANGE = text(f"""INSERT INTO {TABLE} (report_id, cusip, put_call, title_of_class, sh_prn_type, name_of_issuer,
    ticker, mapped, status, shares_prev, shares_cur, value_prev_usd, value_cur_usd, weight_cur, rank_cur, rows_cur)
    VALUES (:report, :cusip, '', 'COM', 'SH', 'X', NULL, false, 'new', 0, 1, 0, 1, 1.0, 1, 1)""")


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'signals.db'}"
        return
    made = create_database()
    try:
        yield made
    finally:
        get_engine(made).dispose()
        drop_database(made)


def _report(url: str, cik: int = 1) -> int:
    with get_engine(url).begin() as conn:
        return conn.execute(text(
            "INSERT INTO thirteenf_reports (cik, manager_name, period, as_of, accession, sources, rows, value_usd, "
            "qualified, diff_state, link, created_at) VALUES (:cik, 'M', :p, :p, 'a', '[]', 1, 1, true, 'diffed', "
            "'l', :p) RETURNING id"), {"cik": cik, "p": date(2023, 9, 30)}).scalar_one()


def test_upgrade_drops_the_foreign_key_and_cusip_index_and_downgrade_restores_them(url: str) -> None:
    migrate.upgrade(url, "0007_merge_pipelines")
    engine = get_engine(url)
    report = _report(url)
    with engine.begin() as conn:
        conn.execute(CHANGE, {"report": report, "cusip": "594918104"})
    with pytest.raises(IntegrityError), engine.begin() as conn:  # 0007: the key to the reports holds
        conn.execute(CHANGE, {"report": report + 1000, "cusip": "594918104"})

    migrate.upgrade(url)
    schema = inspect(engine)
    assert schema.get_foreign_keys(TABLE) == []
    assert schema.get_indexes(TABLE) == []
    assert schema.get_pk_constraint(TABLE)["constrained_columns"] == [
        "report_id", "cusip", "put_call", "title_of_class", "sh_prn_type"]
    with engine.begin() as conn:
        assert conn.execute(text(f"SELECT cusip FROM {TABLE}")).scalars().all() == ["594918104"]  # rows kept
        conn.execute(CHANGE, {"report": report + 1000, "cusip": "594918104"})  # no key to check any more
        if engine.dialect.name == "postgresql":
            collations = dict(conn.execute(text(
                "SELECT column_name, collation_name FROM information_schema.columns WHERE table_name = :t "
                "AND column_name IN ('cusip', 'put_call', 'title_of_class', 'sh_prn_type')"), {"t": TABLE}).all())
            assert collations == dict.fromkeys(("cusip", "put_call", "title_of_class", "sh_prn_type"), "C")
        conn.execute(text(f"DELETE FROM {TABLE} WHERE report_id = :r"), {"r": report + 1000})
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the primary key still holds
        conn.execute(CHANGE, {"report": report, "cusip": "594918104"})

    command.downgrade(migrate.alembic_config(url), "0007_merge_pipelines")
    schema = inspect(get_engine(url))
    assert [fk["referred_table"] for fk in schema.get_foreign_keys(TABLE)] == ["thirteenf_reports"]
    assert [ix["column_names"] for ix in schema.get_indexes(TABLE)] == [["cusip"]]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(CHANGE, {"report": report + 1000, "cusip": "023135106"})


def test_deleting_a_report_deletes_its_changes(url: str) -> None:
    """With no cascade left, `delete_reports` removes a report's change rows itself, and only its own."""
    migrate.upgrade(url)
    gone, kept = _report(url), _report(url, cik=2)
    with get_engine(url).begin() as conn:
        for report in (gone, kept):
            conn.execute(CHANGE, {"report": report, "cusip": "594918104"})
    with session_factory(url).begin() as s:
        delete_reports(s, select(ThirteenFReport.id).where(ThirteenFReport.cik == 1))
    with session_factory(url)() as s:
        assert s.scalars(select(ThirteenFReport.id)).all() == [kept]
        assert s.scalars(select(ThirteenFPositionChange.report_id)).all() == [kept]
