"""Typed records for an SEC ownership document (Form 4 / 4/A).

Any field may be None: EDGAR lets a footnote stand in for a value (`<exerciseDate><footnoteId
id="F1"/></exerciseDate>`). Such a field keeps value None and its footnote ids in
`field_footnotes`, so a missing number is never read as zero.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeVar

Table = Literal["non_derivative", "derivative"]
FieldFootnotes = tuple[tuple[str, tuple[str, ...]], ...]
_Record = TypeVar("_Record")


def unchecked(cls: type[_Record], values: dict[str, object]) -> _Record:
    """A frozen record from a dict that names every one of its fields, without calling __init__.

    A frozen dataclass's __init__ sets each field through object.__setattr__: about 2 us for a
    24-field row, a tenth of a Form 4's parse. The caller must supply every field (the parser
    starts from a template of all of them; a test checks each parsed row against __init__).
    """
    record = object.__new__(cls)  # type: ignore[call-overload]
    record.__dict__.update(values)
    return record  # type: ignore[no-any-return]


class _Footnoted:
    """Field-level footnote look-ups shared by transactions and holdings."""

    field_footnotes: FieldFootnotes

    def footnotes_for(self, field_name: str) -> tuple[str, ...]:
        """Footnote ids attached to one field (e.g. "price", "exercise_date")."""
        for name, ids in self.field_footnotes:
            if name == field_name:
                return ids
        return ()

    def is_footnote_only(self, field_name: str) -> bool:
        """True when the filer gave only a footnote, no value, for this field."""
        return getattr(self, field_name) is None and bool(self.footnotes_for(field_name))


@dataclass(frozen=True)
class Issuer:
    cik: int
    name: str
    ticker: str | None


@dataclass(frozen=True)
class ReportingOwner:
    cik: int
    name: str
    is_director: bool
    is_officer: bool
    is_ten_percent_owner: bool
    is_other: bool
    officer_title: str | None
    other_text: str | None


@dataclass(frozen=True)
class Transaction(_Footnoted):
    """One row of Table I (non_derivative) or Table II (derivative).

    Rows belong to the joint filing, not to one of several reporting owners.
    """

    table: Table
    index: int  # position within its table, for record keys and error messages
    security_title: str | None
    date: dt.date | None
    code: str
    shares: Decimal | None
    price: Decimal | None
    acquired_disposed: Literal["A", "D"] | None
    shares_owned_after: Decimal | None
    ownership: Literal["D", "I"] | None
    nature_of_ownership: str | None
    footnote_ids: tuple[str, ...]
    plan_10b5_1: bool
    form_type: str | None = None
    equity_swap_involved: bool | None = None
    deemed_execution_date: dt.date | None = None
    timeliness: str | None = None
    value_owned_after: Decimal | None = None
    conversion_or_exercise_price: Decimal | None = None
    exercise_date: dt.date | None = None
    expiration_date: dt.date | None = None
    underlying_security_title: str | None = None
    underlying_shares: Decimal | None = None
    field_footnotes: FieldFootnotes = ()

    @property
    def value(self) -> Decimal | None:
        """shares x price, or None when either is missing."""
        if self.shares is None or self.price is None:
            return None
        return self.shares * self.price


@dataclass(frozen=True)
class Holding(_Footnoted):
    """A position reported without a transaction (same shape minus the transaction fields)."""

    table: Table
    index: int
    security_title: str | None
    shares_owned_after: Decimal | None
    ownership: Literal["D", "I"] | None
    nature_of_ownership: str | None
    footnote_ids: tuple[str, ...]
    value_owned_after: Decimal | None = None
    conversion_or_exercise_price: Decimal | None = None
    exercise_date: dt.date | None = None
    expiration_date: dt.date | None = None
    underlying_security_title: str | None = None
    underlying_shares: Decimal | None = None
    field_footnotes: FieldFootnotes = ()


@dataclass(frozen=True)
class Signature:
    name: str | None
    date: dt.date | None


@dataclass(frozen=True)
class Form4Document:
    schema_version: str | None
    document_type: Literal["4", "4/A"]
    period_of_report: dt.date
    date_of_original_submission: dt.date | None
    not_subject_to_section16: bool | None
    issuer: Issuer
    owners: tuple[ReportingOwner, ...]
    transactions: tuple[Transaction, ...]
    holdings: tuple[Holding, ...]
    footnotes: Mapping[str, str]  # id -> text, in document order
    aff10b5one: bool | None
    remarks: str | None
    signatures: tuple[Signature, ...]

    @property
    def is_amendment(self) -> bool:
        return self.document_type == "4/A"

    @property
    def signature_date(self) -> dt.date | None:
        """Latest owner signature date (joint filings carry one signature per owner)."""
        dates = [s.date for s in self.signatures if s.date is not None]
        return max(dates) if dates else None
