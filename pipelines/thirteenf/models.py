"""Tables of the institutional_13f pipeline (created by migration 0006_13f_hiring).

A filing keeps its rows exactly as filed (values converted to dollars); a report is the
point-in-time view of one manager's quarter from one filing date on (amendments applied); position
changes are that view diffed against the manager's previous quarter as known on the same date.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from pipelines.core.ledger import Base, BigId, UTCDateTime, utcnow


class ThirteenFFiling(Base):
    __tablename__ = "thirteenf_filings"
    __table_args__ = (
        UniqueConstraint("accession", name="uq_thirteenf_filings_accession"),
        Index("ix_thirteenf_filings_cik_period", "cik", "period"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    accession: Mapped[str] = mapped_column(String(20))
    cik: Mapped[int] = mapped_column(BigInteger)
    manager_name: Mapped[str] = mapped_column(String(255))
    form_type: Mapped[str] = mapped_column(String(16))
    filed: Mapped[date] = mapped_column(Date)
    period: Mapped[date | None] = mapped_column(Date)  # None when the cover page could not be read
    report_type: Mapped[str | None] = mapped_column(String(64))
    amendment_type: Mapped[str | None] = mapped_column(String(16))  # RESTATEMENT | NEW HOLDINGS
    amendment_number: Mapped[int | None] = mapped_column(Integer)
    entry_total: Mapped[int | None] = mapped_column(Integer)
    value_total_reported: Mapped[int | None] = mapped_column(BigInteger)  # as printed on the cover
    value_total_usd: Mapped[int | None] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    # The loaded table's own figures (migration 0009; NULL before it and for filings not loaded): its
    # rows' value, and the manager screen's share positions by CUSIP, their value, the ten largest's.
    table_value_usd: Mapped[int | None] = mapped_column(BigInteger)
    share_positions: Mapped[int | None] = mapped_column(Integer)
    share_value_usd: Mapped[int | None] = mapped_column(BigInteger)
    share_top10_usd: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))  # loaded | quarantined | unavailable
    error: Mapped[str | None] = mapped_column(Text)
    infotable: Mapped[str | None] = mapped_column(String(255))  # file name in the filing folder
    discovered_via: Mapped[str] = mapped_column(String(64))  # submissions, daily_index or both
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ThirteenFHolding(Base):
    """One information-table row as filed; the same CUSIP may repeat (one row per manager combination).

    No foreign key to thirteenf_filings: rows are only written by `store.FilingLoader`, in the
    transaction that creates their filing, and the per-row key check was the largest part of loading a
    quarter (see benchmarks/thirteenf_load.py).
    """

    __tablename__ = "thirteenf_holdings"

    filing_id: Mapped[int] = mapped_column(BigId, primary_key=True)  # thirteenf_filings.id
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    cusip: Mapped[str] = mapped_column(String(9))
    name_of_issuer: Mapped[str] = mapped_column(String(255))
    title_of_class: Mapped[str] = mapped_column(String(255))
    value_usd: Mapped[int] = mapped_column(BigInteger)
    shares_or_principal: Mapped[int] = mapped_column(BigInteger)
    sh_prn_type: Mapped[str] = mapped_column(String(3))
    put_call: Mapped[str | None] = mapped_column(String(4))
    investment_discretion: Mapped[str] = mapped_column(String(4))
    other_managers: Mapped[str] = mapped_column(String(255))  # sequence numbers, comma-separated
    voting_sole: Mapped[int] = mapped_column(BigInteger)
    voting_shared: Mapped[int] = mapped_column(BigInteger)
    voting_none: Mapped[int] = mapped_column(BigInteger)


class ThirteenFReport(Base):
    """One manager's quarter as known from `as_of` (a filing date) on."""

    __tablename__ = "thirteenf_reports"
    __table_args__ = (UniqueConstraint("cik", "period", "as_of", name="uq_thirteenf_reports_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cik: Mapped[int] = mapped_column(BigInteger)
    manager_name: Mapped[str] = mapped_column(String(255))
    period: Mapped[date] = mapped_column(Date)
    as_of: Mapped[date] = mapped_column(Date)
    accession: Mapped[str] = mapped_column(String(20))  # the filing that made this version
    sources: Mapped[list[str]] = mapped_column(JSON)  # accessions this view combines, oldest first
    rows: Mapped[int] = mapped_column(Integer)
    value_usd: Mapped[int] = mapped_column(BigInteger)
    qualified: Mapped[bool] = mapped_column(Boolean)  # passes the manager screen (scoring.institutional)
    prev_period: Mapped[date | None] = mapped_column(Date)  # the quarter it was diffed against
    diff_state: Mapped[str] = mapped_column(String(16))  # diffed | no_prior
    link: Mapped[str] = mapped_column(String(512))
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def _code(length: int) -> TypeEngine[str]:
    """A key column compared bytewise: COLLATE "C" on PostgreSQL (SQLite's default already is)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class ThirteenFPositionChange(Base):
    """One position of a report version against the previous quarter (shares decide the status).

    No foreign key to thirteenf_reports and no index but the primary key (migration 0008): a quarter's
    diff writes millions of rows, only in the transaction that records their report; readers select
    by report_id first, and whoever deletes a report deletes its changes (`delete_reports`).
    """

    __tablename__ = "thirteenf_position_changes"

    report_id: Mapped[int] = mapped_column(BigId, primary_key=True)  # thirteenf_reports.id
    cusip: Mapped[str] = mapped_column(_code(9), primary_key=True)
    put_call: Mapped[str] = mapped_column(_code(4), primary_key=True)  # "" for share rows
    title_of_class: Mapped[str] = mapped_column(_code(255), primary_key=True)
    sh_prn_type: Mapped[str] = mapped_column(_code(3), primary_key=True)
    name_of_issuer: Mapped[str] = mapped_column(String(255))
    ticker: Mapped[str | None] = mapped_column(String(16))
    mapped: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(10))  # new | closed | increased | decreased | unchanged
    shares_prev: Mapped[int] = mapped_column(BigInteger)
    shares_cur: Mapped[int] = mapped_column(BigInteger)
    value_prev_usd: Mapped[int] = mapped_column(BigInteger)
    value_cur_usd: Mapped[int] = mapped_column(BigInteger)
    weight_cur: Mapped[float] = mapped_column(Float)
    rank_cur: Mapped[int | None] = mapped_column(Integer)
    rows_cur: Mapped[int] = mapped_column(Integer)
