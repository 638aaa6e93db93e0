"""The insider_form4 tables and their idempotent loads (PostgreSQL and SQLite).

- `form4_filings`: every Form 4 / 4/A accession we have seen, once (the dedup across polls, the
  morning reconcile and backfill), with where its XML is, its raw artifact and its state.
- `form4_transactions`: one row per table row of a parsed filing; rows a 4/A restated are marked
  superseded rather than deleted, so history stays auditable.
- `insider_purchase_months`: the (year, month) pairs in which each reporting owner bought (code P),
  for the routine/opportunistic test; built by every run, backfill included.

Decimal values are stored as text: SQLite has no exact decimal type and prices carry 4+ places.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Mapped, Session, mapped_column

from pipelines.core.ledger import Base, BigId, UTCDateTime, utcnow
from pipelines.scoring.insider_trades import InsiderTrade
from pipelines.core.db import upsert_insert


class FilingState:
    PENDING = "pending"  # discovered; the document is still to be fetched
    FETCHED = "fetched"  # raw XML stored as an artifact
    PARSED = "parsed"
    QUARANTINED = "quarantined"  # bad document or listing; raw payload kept in `quarantine`
    FAILED = "failed"  # gave up fetching after MAX_FETCH_ATTEMPTS


class Form4Filing(Base):
    __tablename__ = "form4_filings"
    __table_args__ = (
        UniqueConstraint("accession", name="uq_form4_filings_accession"),
        Index("ix_form4_filings_state", "state"),
        Index("ix_form4_filings_issuer", "issuer_cik"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    accession: Mapped[str] = mapped_column(String(20))
    form_type: Mapped[str] = mapped_column(String(8))
    # The listing's issuer CIK until the document is parsed, then the document's issuerCik.
    issuer_cik: Mapped[int | None] = mapped_column(BigInteger)
    listed_issuer_cik: Mapped[int | None] = mapped_column(BigInteger)  # an (Issuer) feed entry's CIK
    listed_ciks: Mapped[list[int]] = mapped_column(JSON)
    folder_cik: Mapped[int] = mapped_column(BigInteger)
    company: Mapped[str] = mapped_column(String(255))
    filed: Mapped[date] = mapped_column(Date)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    discovered_by: Mapped[str] = mapped_column(String(8))  # feed | index
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    document: Mapped[str | None] = mapped_column(String(255))
    artifact_key: Mapped[str | None] = mapped_column(String(64))
    document_type: Mapped[str | None] = mapped_column(String(8))
    period_of_report: Mapped[date | None] = mapped_column(Date)
    issuer_name: Mapped[str | None] = mapped_column(String(255))
    ticker: Mapped[str | None] = mapped_column(String(16))
    owner_ciks: Mapped[list[int] | None] = mapped_column(JSON)
    amends: Mapped[str | None] = mapped_column(String(20))  # a 4/A: the accession it restates, when found
    superseded_by: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Form4Transaction(Base):
    __tablename__ = "form4_transactions"
    __table_args__ = (
        Index("uq_form4_transactions_row", "accession", "table_name", "row_index", unique=True),
        Index("ix_form4_transactions_issuer_date", "issuer_cik", "trade_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    accession: Mapped[str] = mapped_column(String(20))
    table_name: Mapped[str] = mapped_column(String(16))  # non_derivative | derivative
    row_index: Mapped[int] = mapped_column(Integer)
    issuer_cik: Mapped[int] = mapped_column(BigInteger)
    ticker: Mapped[str | None] = mapped_column(String(16))
    owner_ciks: Mapped[list[int]] = mapped_column(JSON)
    owner_names: Mapped[list[str]] = mapped_column(JSON)
    is_director: Mapped[bool] = mapped_column(Boolean)
    is_officer: Mapped[bool] = mapped_column(Boolean)
    is_ten_percent_owner: Mapped[bool] = mapped_column(Boolean)
    officer_title: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(4))
    trade_date: Mapped[date] = mapped_column(Date)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    shares: Mapped[str | None] = mapped_column(String(40))
    price: Mapped[str | None] = mapped_column(String(40))
    acquired_disposed: Mapped[str | None] = mapped_column(String(1))
    shares_owned_after: Mapped[str | None] = mapped_column(String(40))
    ownership: Mapped[str | None] = mapped_column(String(1))
    nature_of_ownership: Mapped[str | None] = mapped_column(Text)
    plan_10b5_1: Mapped[bool] = mapped_column(Boolean)
    amended: Mapped[bool] = mapped_column(Boolean)
    issues: Mapped[list[str]] = mapped_column(JSON)
    other_holdings: Mapped[str] = mapped_column(String(40))
    superseded_by: Mapped[str | None] = mapped_column(String(20))


class InsiderPurchaseMonth(Base):
    __tablename__ = "insider_purchase_months"

    owner_cik: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    month: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_accession: Mapped[str] = mapped_column(String(20))


TABLES = ("form4_transactions", "insider_purchase_months", "form4_filings")


def insert_if_absent(session: Session, model: type, values: Mapping[str, Any], conflict: list[str]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on either dialect; True when the row was inserted."""
    stmt = upsert_insert(session)(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    result = cast(CursorResult[Any], session.execute(stmt))
    return bool(result.rowcount)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def save_trades(session: Session, trades: Iterable[InsiderTrade], run_id: int) -> int:
    """Insert each trade once per (accession, table, row); returns how many were new."""
    added = 0
    for t in trades:
        added += insert_if_absent(session, Form4Transaction, dict(
            accession=t.accession, table_name=t.row[0], row_index=t.row[1], issuer_cik=t.issuer_cik,
            ticker=t.ticker, owner_ciks=list(t.owner_ciks), owner_names=list(t.owner_names),
            is_director=t.is_director, is_officer=t.is_officer, is_ten_percent_owner=t.is_ten_percent_owner,
            officer_title=t.officer_title, code=t.code, trade_date=t.trade_date, filed_at=t.filed_at,
            shares=_text(t.shares), price=_text(t.price), acquired_disposed=t.acquired_disposed,
            shares_owned_after=_text(t.shares_owned_after), ownership=t.ownership,
            nature_of_ownership=t.nature_of_ownership, plan_10b5_1=t.plan_10b5_1, amended=t.amended,
            issues=list(t.issues), other_holdings=str(t.other_holdings), superseded_by=None,
        ), ["accession", "table_name", "row_index"])
    return added


def _trade(row: Form4Transaction) -> InsiderTrade:
    return InsiderTrade(
        accession=row.accession, row=(row.table_name, row.row_index), issuer_cik=row.issuer_cik,
        ticker=row.ticker, owner_ciks=tuple(row.owner_ciks), owner_names=tuple(row.owner_names),
        is_director=row.is_director, is_officer=row.is_officer, is_ten_percent_owner=row.is_ten_percent_owner,
        officer_title=row.officer_title, table=row.table_name, code=row.code, trade_date=row.trade_date,
        filed_at=row.filed_at, shares=_decimal(row.shares), price=_decimal(row.price),
        acquired_disposed=row.acquired_disposed, shares_owned_after=_decimal(row.shares_owned_after),
        ownership=row.ownership, nature_of_ownership=row.nature_of_ownership, plan_10b5_1=row.plan_10b5_1,
        amended=row.amended, issues=tuple(row.issues or ()), other_holdings=Decimal(row.other_holdings),
    )


def stored_trades(session: Session, issuer_ciks: Iterable[int], first: date, last: date) -> list[InsiderTrade]:
    """Current (not superseded) trades of these issuers with trade dates in [first, last]."""
    ciks = sorted(set(issuer_ciks))
    if not ciks:
        return []
    rows = session.scalars(select(Form4Transaction).where(
        Form4Transaction.issuer_cik.in_(ciks), Form4Transaction.trade_date >= first,
        Form4Transaction.trade_date <= last, Form4Transaction.superseded_by.is_(None))
        .order_by(Form4Transaction.id))
    return [_trade(r) for r in rows]


ROLES = ("officer", "director", "owner", "senior")  # senior: CEO, CFO or chair, by officer title


def recent_trades(session: Session, *, ticker: str | None = None, since: date | None = None,
                  codes: Iterable[str] = (), derivative: bool = False, roles: Iterable[str] = (),
                  min_value: Decimal | None = None, limit: int = 50) -> list[InsiderTrade]:
    """Current trades, the latest filed first: one ticker's or all; by trade date, transaction codes,
    table (the non-derivative one unless `derivative`), the insider's role (any of `roles`: officer,
    director, 10% owner, or senior: a CEO, CFO or chair by title) and the trade's value (shares x price)."""
    t = Form4Transaction
    q = select(t).where(t.superseded_by.is_(None)).order_by(t.filed_at.desc(), t.id.desc())
    if ticker is not None:
        q = q.where(t.ticker == ticker.upper())
    if since is not None:
        q = q.where(t.trade_date >= since)
    if wanted := sorted({c.upper() for c in codes}):
        q = q.where(t.code.in_(wanted))
    if not derivative:
        q = q.where(t.table_name == "non_derivative")
    roles = {r.strip().lower() for r in roles}
    if unknown := roles - set(ROLES):
        raise ValueError(f"unknown insider role(s) {', '.join(sorted(unknown))}: use {', '.join(ROLES)}")
    flags = {"officer": t.is_officer, "director": t.is_director, "owner": t.is_ten_percent_owner}
    if roles:  # a senior title is an officer's: the title test itself is the scoring's regex, below
        q = q.where(or_(*(flags[r] for r in sorted(roles - {"senior"})),
                        *([t.officer_title.is_not(None)] if "senior" in roles else [])))
    if "senior" not in roles and min_value is None:
        return [_trade(r) for r in session.scalars(q.limit(limit))]

    def wanted_trade(x: InsiderTrade) -> bool:
        held = (("officer" in roles and x.is_officer) or ("director" in roles and x.is_director)
                or ("owner" in roles and x.is_ten_percent_owner) or ("senior" in roles and x.is_senior))
        return (not roles or held) and (min_value is None or (x.value is not None and x.value >= min_value))

    # Shares and price are kept as filed (text), so these two filters run here, on the rows in order,
    # until `limit` pass.
    found: list[InsiderTrade] = []
    rows = session.scalars(q.execution_options(yield_per=1000))
    try:
        for row in rows:
            if wanted_trade(trade := _trade(row)):
                found.append(trade)
                if len(found) >= limit:
                    break
    finally:
        rows.close()  # a server-side cursor on PostgreSQL: not read to its end
    return found


def trades_of(session: Session, accessions: Iterable[str]) -> list[InsiderTrade]:
    """Current trades of these filings."""
    wanted = sorted(set(accessions))
    if not wanted:
        return []
    rows = session.scalars(select(Form4Transaction).where(
        Form4Transaction.accession.in_(wanted), Form4Transaction.superseded_by.is_(None))
        .order_by(Form4Transaction.id))
    return [_trade(r) for r in rows]


def supersede(session: Session, original: str, amendment: str) -> None:
    """Mark the original filing and its rows as restated by `amendment` (a 4/A)."""
    session.execute(update(Form4Transaction).where(Form4Transaction.accession == original)
                    .values(superseded_by=amendment))
    session.execute(update(Form4Filing).where(Form4Filing.accession == original)
                    .values(superseded_by=amendment, updated_at=utcnow()))


def record_purchase_months(session: Session, trades: Iterable[InsiderTrade]) -> int:
    """Remember the (year, month) of every open-market purchase per reporting owner."""
    added = 0
    for t in trades:
        if t.table != "non_derivative" or t.code != "P":
            continue
        for cik in t.owner_ciks:
            added += insert_if_absent(session, InsiderPurchaseMonth, dict(
                owner_cik=cik, year=t.trade_date.year, month=t.trade_date.month, first_accession=t.accession,
            ), ["owner_cik", "year", "month"])
    return added


def purchase_history(session: Session, owner_ciks: Iterable[int]) -> dict[int, set[tuple[int, int]]]:
    """Owner CIK -> the (year, month) pairs in which it bought, from everything stored so far."""
    ciks = sorted(set(owner_ciks))
    history: dict[int, set[tuple[int, int]]] = {c: set() for c in ciks}
    if ciks:
        for cik, year, month in session.execute(select(
                InsiderPurchaseMonth.owner_cik, InsiderPurchaseMonth.year, InsiderPurchaseMonth.month)
                .where(InsiderPurchaseMonth.owner_cik.in_(ciks))):
            history[cik].add((year, month))
    return history


def find_original(session: Session, *, issuer_cik: int, owner_ciks: Iterable[int], original_date: date | None,
                  before: str) -> Form4Filing | None:
    """The stored Form 4 a 4/A restates: same issuer, a shared owner, filed on its dateOfOriginalSubmission.

    EDGAR names no amended accession; without a date the latest earlier match is taken.
    """
    owners = set(owner_ciks)
    query = select(Form4Filing).where(
        Form4Filing.issuer_cik == issuer_cik, Form4Filing.document_type == "4",
        Form4Filing.state == FilingState.PARSED, Form4Filing.accession != before)
    if original_date is not None:
        query = query.where(Form4Filing.filed == original_date)
    for filing in session.scalars(query.order_by(Form4Filing.filed.desc(), Form4Filing.id.desc())):
        if owners & set(filing.owner_ciks or ()):
            return filing
    return None
