"""Output forms of a parsed Form 4: the `signals inspect form4 --json` dict and a text table."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from .form4_model import Form4Document, Holding, Transaction


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _transaction_json(tx: Transaction) -> dict[str, Any]:
    return {
        "table": tx.table,
        "security_title": tx.security_title,
        "date": _iso(tx.date),
        "code": tx.code,
        "shares": _number(tx.shares),
        "price": _number(tx.price),
        "acquired_disposed": tx.acquired_disposed,
        "shares_owned_after": _number(tx.shares_owned_after),
        "ownership": tx.ownership,
        "nature_of_ownership": tx.nature_of_ownership,
        "footnote_ids": list(tx.footnote_ids),
    }


def _holding_json(holding: Holding) -> dict[str, Any]:
    return {
        "table": holding.table,
        "security_title": holding.security_title,
        "shares_owned_after": _number(holding.shares_owned_after),
        "ownership": holding.ownership,
        "nature_of_ownership": holding.nature_of_ownership,
        "footnote_ids": list(holding.footnote_ids),
    }


def form4_to_json(doc: Form4Document) -> dict[str, Any]:
    """JSON-ready dict: CIKs as ints, numbers as int (integral) or float, dates ISO, absent -> None."""
    return {
        "document_type": doc.document_type,
        "period_of_report": doc.period_of_report.isoformat(),
        "issuer": {"cik": doc.issuer.cik, "name": doc.issuer.name, "ticker": doc.issuer.ticker},
        "owners": [
            {
                "cik": o.cik,
                "name": o.name,
                "is_director": o.is_director,
                "is_officer": o.is_officer,
                "is_ten_percent_owner": o.is_ten_percent_owner,
                "is_other": o.is_other,
                "officer_title": o.officer_title,
            }
            for o in doc.owners
        ],
        "transactions": [_transaction_json(tx) for tx in doc.transactions],
        "holdings": [_holding_json(h) for h in doc.holdings],
        "aff10b5one": doc.aff10b5one,
    }


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value:,f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    # Numbers right-aligned so magnitudes line up; text left-aligned.
    numeric = [all(isinstance(row[i], Decimal) or row[i] is None for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)]


def form4_to_text(doc: Form4Document) -> str:
    """Readable plain-text report: header, owners, transactions, holdings, footnotes."""
    out = [
        f"Form {doc.document_type}  period {doc.period_of_report.isoformat()}"
        + (f"  amends filing of {doc.date_of_original_submission.isoformat()}"
           if doc.date_of_original_submission else ""),
        f"Issuer: {doc.issuer.name} (CIK {doc.issuer.cik}, {doc.issuer.ticker or 'no ticker'})",
        "10b5-1 box: " + {True: "checked", False: "not checked", None: "absent"}[doc.aff10b5one],
        "",
        "Reporting owners:",
    ]
    for o in doc.owners:
        roles = [name for flag, name in ((o.is_director, "director"), (o.is_officer, "officer"),
                                         (o.is_ten_percent_owner, "10% owner"), (o.is_other, "other")) if flag]
        title = f" - {o.officer_title}" if o.officer_title else ""
        out.append(f"  {o.name} (CIK {o.cik}): {', '.join(roles) or 'no relationship box'}{title}")
    if doc.transactions:
        out += ["", "Transactions:"]
        out += ["  " + s for s in _table(
            ("table", "security", "date", "code", "A/D", "shares", "price", "owned after", "D/I",
             "nature", "footnotes", "10b5-1"),
            [(t.table, t.security_title, t.date, t.code, t.acquired_disposed, t.shares, t.price,
              t.shares_owned_after, t.ownership, t.nature_of_ownership, t.footnote_ids,
              "yes" if t.plan_10b5_1 else "") for t in doc.transactions],
        )]
    if doc.holdings:
        out += ["", "Holdings:"]
        out += ["  " + s for s in _table(
            ("table", "security", "owned", "D/I", "nature", "footnotes"),
            [(h.table, h.security_title, h.shares_owned_after, h.ownership, h.nature_of_ownership,
              h.footnote_ids) for h in doc.holdings],
        )]
    if doc.footnotes:
        out += ["", "Footnotes:"]
        out += [f"  {fid}: {text}" for fid, text in doc.footnotes.items()]
    return "\n".join(out) + "\n"
