"""Migration 0009 on both databases: 13F filing rows gain their table's figures, NULL on rows loaded
before it (whose versions the diff then sums in SQL, tests/integration/test_13f_diff_sql.py), and the
downgrade drops them again, keeping the rows."""
from __future__ import annotations

from datetime import date, datetime, timezone

from alembic import command
from sqlalchemy import inspect, text

from pipelines.core import migrate
from pipelines.core.db import get_engine
from tests.integration.test_13f_change_keys_migration import url  # noqa: F401  (the two-database fixture)

FIGURES = ["table_value_usd", "share_positions", "share_value_usd", "share_top10_usd"]
FILING = text("""INSERT INTO thirteenf_filings (accession, cik, manager_name, form_type, filed, period, rows, state,
    discovered_via, loaded_at) VALUES ('0000000001-23-000001', 1, 'M', '13F-HR', :d, :d, 3, 'loaded', 'test', :t)""")


def test_filing_figures_are_added_null_and_dropped_again(url: str) -> None:  # noqa: F811
    migrate.upgrade(url, "0008_13f_changes_keys")
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(FILING, {"d": date(2023, 9, 30), "t": datetime(2023, 11, 14, tzinfo=timezone.utc)})

    migrate.upgrade(url)
    assert set(FIGURES) <= {c["name"] for c in inspect(engine).get_columns("thirteenf_filings")}
    with engine.begin() as conn:
        assert conn.execute(text("SELECT rows, " + ", ".join(FIGURES) + " FROM thirteenf_filings")).all() == [
            (3, None, None, None, None)]

    command.downgrade(migrate.alembic_config(url), "0008_13f_changes_keys")
    engine = get_engine(url)
    assert not set(FIGURES) & {c["name"] for c in inspect(engine).get_columns("thirteenf_filings")}
    with engine.begin() as conn:
        assert conn.execute(text("SELECT accession, rows FROM thirteenf_filings")).all() == [
            ("0000000001-23-000001", 3)]
