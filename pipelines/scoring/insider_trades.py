"""Scoring input for insider signals: one `InsiderTrade` per Form 4 row, with data-quality issues.

A joint filing (several reporting owners) yields ONE trade per row carrying every owner CIK:
the XML does not attribute rows to owners, so counting a row once per owner would inflate
both the insider count and the dollars (data_formats.md section 2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pipelines.sources.edgar.form4_model import Form4Document, Transaction

# CEO/CFO/chair of the board: the only titles the notes' role table singles out.
_SENIOR_TITLE = re.compile(
    r"\b(ceo|cfo|cob|chief\s+executive|chief\s+financial|chair(man|woman|person)?|executive\s+chair)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class InsiderTrade:
    accession: str
    row: tuple[str, int]  # (table, index) inside the filing
    issuer_cik: int
    ticker: str | None
    owner_ciks: tuple[int, ...]
    owner_names: tuple[str, ...]
    is_director: bool
    is_officer: bool
    is_ten_percent_owner: bool
    officer_title: str | None
    table: str
    code: str
    trade_date: date
    filed_at: datetime  # aware; when the market could first read it
    shares: Decimal | None
    price: Decimal | None
    acquired_disposed: str | None
    shares_owned_after: Decimal | None
    ownership: str | None
    nature_of_ownership: str | None
    plan_10b5_1: bool
    amended: bool
    issues: tuple[str, ...] = ()
    # Non-derivative holdings the filing reports without a trade (other trusts, direct shares):
    # part of "owned before" for the change-in-ownership term.
    other_holdings: Decimal = Decimal(0)

    @property
    def value(self) -> Decimal | None:
        if self.shares is None or self.price is None:
            return None
        return self.shares * self.price

    @property
    def is_senior(self) -> bool:
        return bool(self.officer_title and _SENIOR_TITLE.search(self.officer_title))

    @property
    def dedupe_key(self) -> tuple[object, ...]:
        """Same economic trade even when filed twice (a restating 4/A, or joint filers filing apart).

        Includes ownership nature, shares, price and shares-after so split-price tranches and
        direct/indirect rows stay distinct (domain_and_scoring.md 2.1, [R61]). Direct shares
        belong to one person, so a direct row also keys on its owners; an indirect row is keyed
        by its vehicle (nature of ownership), which several filers can report at once.
        """
        owners = None if self.ownership == "I" else frozenset(self.owner_ciks)
        return (self.issuer_cik, self.table, self.trade_date, self.code, self.shares, self.price,
                self.shares_owned_after, self.ownership, self.nature_of_ownership, owners)


def _issues(doc: Form4Document, tx: Transaction, listed_issuer_cik: int | None) -> list[str]:
    found: list[str] = []
    if listed_issuer_cik is not None and listed_issuer_cik != doc.issuer.cik:
        found.append(f"issuer CIK {doc.issuer.cik} differs from the listing's CIK {listed_issuer_cik}")
    if tx.date is None:
        found.append(f"{tx.table} row {tx.index}: no transaction date (period of report used)")
    if tx.code == "P" and tx.acquired_disposed == "D":
        found.append(f"{tx.table} row {tx.index}: code P but marked disposed (D)")
    if tx.code == "S" and tx.acquired_disposed == "A":
        found.append(f"{tx.table} row {tx.index}: code S but marked acquired (A)")
    if tx.code in ("P", "S"):
        if tx.shares is None or tx.price is None:
            found.append(f"{tx.table} row {tx.index}: shares or price given only as a footnote")
        elif tx.price <= 0:
            found.append(f"{tx.table} row {tx.index}: open-market trade at price {tx.price}")
    if (tx.code == "P" and tx.shares is not None and tx.shares_owned_after is not None
            and tx.shares_owned_after < tx.shares):
        found.append(f"{tx.table} row {tx.index}: owns {tx.shares_owned_after} after buying {tx.shares}")
    undefined = [f for f in tx.footnote_ids if f not in doc.footnotes]
    if undefined:
        found.append(f"{tx.table} row {tx.index}: footnotes {undefined} referenced but not defined")
    return found


def trades_from_form4(
    doc: Form4Document, *, accession: str, filed_at: datetime, listed_issuer_cik: int | None = None
) -> list[InsiderTrade]:
    """Every transaction row of a parsed filing as an InsiderTrade (eligibility is the scorer's job).

    `listed_issuer_cik` is the issuer CIK the feed/index listed; a mismatch marks the trades
    inconsistent so the signal is held (trades shown under the wrong issuer are a known failure).
    """
    if filed_at.tzinfo is None:
        raise ValueError("filed_at must be timezone-aware")
    owners = doc.owners
    title = next((o.officer_title for o in owners if o.officer_title), None)
    other_holdings = sum(
        (h.shares_owned_after for h in doc.holdings
         if h.table == "non_derivative" and h.shares_owned_after is not None),
        Decimal(0),
    )
    trades = []
    for tx in doc.transactions:
        trades.append(InsiderTrade(
            accession=accession,
            row=(tx.table, tx.index),
            issuer_cik=doc.issuer.cik,
            ticker=doc.issuer.ticker,
            owner_ciks=tuple(o.cik for o in owners),
            owner_names=tuple(o.name for o in owners),
            is_director=any(o.is_director for o in owners),
            is_officer=any(o.is_officer for o in owners),
            is_ten_percent_owner=any(o.is_ten_percent_owner for o in owners),
            officer_title=title,
            table=tx.table,
            code=tx.code,
            trade_date=tx.date or doc.period_of_report,
            filed_at=filed_at,
            shares=tx.shares,
            price=tx.price,
            acquired_disposed=tx.acquired_disposed,
            shares_owned_after=tx.shares_owned_after,
            ownership=tx.ownership,
            nature_of_ownership=tx.nature_of_ownership,
            # The X0407+ checkbox covers the filing; before 2023 only footnotes say it ([R51][R53]).
            plan_10b5_1=tx.plan_10b5_1 or doc.aff10b5one is True,
            amended=doc.is_amendment,
            issues=tuple(_issues(doc, tx, listed_issuer_cik)),
            other_holdings=other_holdings,
        ))
    return trades
