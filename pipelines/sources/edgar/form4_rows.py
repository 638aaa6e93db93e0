"""Leaf values and table rows of an ownership document -> typed values and records.

Split from `form4` to keep the per-row hot path in one place. A row is walked once: each child
is matched against per-row-kind tables of tag -> field number (nested for groups such as
transactionAmounts), and the leaves found are converted in document order. Results match a
conversion in field order: field footnotes are sorted back into field order, and when a value
is bad the row is converted again in field order so that the same first error is reported.
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from pipelines.core.errors import DataError

from .form4_model import FieldFootnotes, Holding, Table, Transaction, unchecked

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?$")
BOOLEANS = {"1": True, "true": True, "0": False, "false": False}


class Reader:
    """Converts leaf text to typed values, raising DataError that names the element path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, message: str, where: str = "") -> DataError:
        return DataError(f"Form 4: {message}", source=self.source, record_key=where)

    def decimal(self, text: str | None, where: str) -> Decimal | None:
        if text is None:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise self.fail(f"{where}: {text!r} is not a number", where) from None
        if not number.is_finite():
            raise self.fail(f"{where}: {text!r} is not a finite number", where)
        return number

    def date(self, text: str | None, where: str) -> date | None:
        if text is None:
            return None
        match = _DATE.match(text)
        if not match:
            raise self.fail(f"{where}: {text!r} is not a YYYY-MM-DD date", where)
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            raise self.fail(f"{where}: {text!r} is not a valid date", where) from None

    def boolean(self, text: str | None, where: str) -> bool | None:
        if text is None:
            return None
        value = BOOLEANS.get(text.lower())
        if value is None:
            raise self.fail(f"{where}: {text!r} is not a boolean (0/1/true/false)", where)
        return value

    def cik(self, text: str | None, where: str) -> int:
        if text is None:
            raise self.fail(f"missing required element {where}", where)
        if not text.isdigit():
            raise self.fail(f"{where}: {text!r} is not a CIK", where)
        return int(text)


def text_of(node: ET.Element | None) -> str | None:
    """A leaf's own text, stripped; None when absent or blank."""
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def footnote_ids(node: ET.Element) -> tuple[str, ...]:
    """Distinct footnote ids anywhere under `node`, in document order."""
    return _distinct([f.get("id", "").strip() for f in node.iter("footnoteId")])


def direct_footnote_ids(node: ET.Element) -> tuple[str, ...]:
    """Distinct footnote ids directly in `node`, in document order."""
    return _distinct([f.get("id", "").strip() for f in node.findall("footnoteId")])


def _distinct(ids: list[str]) -> tuple[str, ...]:
    # Runs for every row and most leaves, which mostly cite one footnote or none: those two
    # cases skip building the de-duplicating dict.
    if len(ids) < 2:
        return (ids[0],) if ids and ids[0] else ()
    return tuple(dict.fromkeys(filter(None, ids)))


# Conversion kinds.
_TEXT, _DECIMAL, _DATE_KIND, _BOOLEAN, _CHOICE = range(5)
_CHOICES = {"acquired_disposed": ("A", "D"), "ownership": ("D", "I")}
_DECIMALS = {
    "shares", "price", "shares_owned_after", "value_owned_after",
    "conversion_or_exercise_price", "underlying_shares",
}
_DATES = {"date", "deemed_execution_date", "exercise_date", "expiration_date"}

# (field name, path under the row element), in the order fields are converted; `code` is
# special-cased because its footnotes sit beside it under transactionCoding.
_COMMON_FIELDS = (
    ("security_title", "securityTitle"),
    ("shares_owned_after", "postTransactionAmounts/sharesOwnedFollowingTransaction"),
    ("value_owned_after", "postTransactionAmounts/valueOwnedFollowingTransaction"),
    ("ownership", "ownershipNature/directOrIndirectOwnership"),
    ("nature_of_ownership", "ownershipNature/natureOfOwnership"),
)
_TRANSACTION_FIELDS = (
    ("date", "transactionDate"),
    ("deemed_execution_date", "deemedExecutionDate"),
    ("form_type", "transactionCoding/transactionFormType"),
    ("equity_swap_involved", "transactionCoding/equitySwapInvolved"),
    ("timeliness", "transactionTimeliness"),
    ("shares", "transactionAmounts/transactionShares"),
    ("price", "transactionAmounts/transactionPricePerShare"),
    ("acquired_disposed", "transactionAmounts/transactionAcquiredDisposedCode"),
)
_DERIVATIVE_FIELDS = (
    ("conversion_or_exercise_price", "conversionOrExercisePrice"),
    ("exercise_date", "exerciseDate"),
    ("expiration_date", "expirationDate"),
    ("underlying_security_title", "underlyingSecurity/underlyingSecurityTitle"),
    ("underlying_shares", "underlyingSecurity/underlyingSecurityShares"),
)
# Groups under a row whose children are the leaves; every other child of a row is a leaf itself.
_GROUPS = frozenset({"transactionAmounts", "postTransactionAmounts", "ownershipNature", "transactionCoding",
                     "underlyingSecurity"})
_CODE = "transactionCoding/transactionCode"


def _kind(name: str) -> int:
    if name in _DECIMALS:
        return _DECIMAL
    if name in _DATES:
        return _DATE_KIND
    if name == "equity_swap_involved":
        return _BOOLEAN
    return _CHOICE if name in _CHOICES else _TEXT


class _Spec:
    """Look-up tables for one kind of row (transaction or holding, derivative table or not).

    Fields are numbered in conversion order; `fields[n]` is (name, path, kind) of field n and
    `code` (the transaction code, read apart) is numbered after them.
    """

    def __init__(self, is_transaction: bool, is_derivative: bool) -> None:
        fields = _COMMON_FIELDS + (_TRANSACTION_FIELDS if is_transaction else ()) \
            + (_DERIVATIVE_FIELDS if is_derivative else ())
        self.fields = tuple((name, path, _kind(name)) for name, path in fields)
        self.code = len(fields)
        paths = [path for _, path in fields] + ([_CODE] if is_transaction else [])
        self.leaves: dict[str, int] = {}
        # Every group tag is present (empty when this kind of row reads nothing under it), so that
        # one look-up tells a group from a leaf.
        self.groups: dict[str, dict[str, int]] = {group: {} for group in _GROUPS}
        for number, path in enumerate(paths):
            group, _, leaf = map(sys.intern, path.rpartition("/"))  # see TAG_NAMES
            if group:
                self.groups[group][leaf] = number
            else:
                self.leaves[path] = number
        assert not self.leaves.keys() & _GROUPS and self.groups.keys() == _GROUPS
        record = Transaction if is_transaction else Holding
        # Every field of the record, at its default or None; required ones are set per row.
        self.template: dict[str, object] = {
            name: getattr(record, name, None) for name in record.__dataclass_fields__
        }


_SPECS = {(tx, deriv): _Spec(tx, deriv) for tx in (False, True) for deriv in (False, True)}

# Every element and attribute name the parser looks up, interned (literals in code that look
# like identifiers are interned by the compiler): passed to `parse_xml(names=...)` so that the
# parsed tags are these same objects and tag comparisons succeed on identity.
_HEADER_NAMES = (
    "ownershipDocument", "schemaVersion", "documentType", "periodOfReport", "dateOfOriginalSubmission",
    "notSubjectToSection16", "issuer", "issuerCik", "issuerName", "issuerTradingSymbol", "reportingOwner",
    "reportingOwnerId", "rptOwnerCik", "rptOwnerName", "reportingOwnerRelationship", "isDirector",
    "isOfficer", "isTenPercentOwner", "isOther", "officerTitle", "otherText", "aff10b5One",
    "nonDerivativeTable", "nonDerivativeTransaction", "nonDerivativeHolding", "derivativeTable",
    "derivativeTransaction", "derivativeHolding", "footnotes", "footnote", "remarks", "ownerSignature",
    "signatureName", "signatureDate", "value", "footnoteId", "id",
)
TAG_NAMES: Mapping[str, str] = MappingProxyType({
    name: name for name in map(sys.intern, (
        *_HEADER_NAMES, *_GROUPS,
        *(name for spec in _SPECS.values() for name in spec.leaves),
        *(name for spec in _SPECS.values() for names in spec.groups.values() for name in names),
    ))
})


def parse_row(
    row: ET.Element, *, table: Table, index: int, transaction: bool, reader: Reader,
    plan_footnotes: frozenset[str],
) -> Transaction | Holding:
    """One table row (transaction or holding) as its typed record."""
    spec = _SPECS[(transaction, table == "derivative")]
    leaves, groups = spec.leaves, spec.groups
    found: dict[int, ET.Element] = {}  # field number -> its first leaf element, in document order
    for child in row:
        numbers = groups.get(child.tag)
        if numbers is None:
            number = leaves.get(child.tag)
            if number is not None and number not in found:
                found[number] = child
        elif numbers:
            for leaf in child:
                number = numbers.get(leaf.tag)
                if number is not None and number not in found:
                    found[number] = leaf
    code_node = found.pop(spec.code, None)

    values = dict(spec.template)
    try:
        # Document order is the cheap one to walk; the fields' own order decides which bad
        # value is reported, and in which order field footnotes are listed.
        notes = _convert(found.items(), spec, values, row, index, reader)
    except DataError:
        _convert([(n, found[n]) for n in sorted(found)], spec, values, row, index, reader)
        raise
    all_ids = footnote_ids(row)
    values["table"] = table
    values["index"] = index
    values["footnote_ids"] = all_ids
    field_notes: FieldFootnotes = () if not notes else (notes[0][1],) if len(notes) == 1 \
        else tuple([note for _, note in sorted(notes)])
    values["field_footnotes"] = field_notes
    if not transaction:
        return unchecked(Holding, values)
    code = text_of(code_node)
    if code is None:
        where = f"{row.tag}[{index}]"
        raise reader.fail(f"{where}: missing required element transactionCoding/transactionCode", where)
    coding = row.find("transactionCoding")
    code_ids = direct_footnote_ids(coding) if coding is not None else ()
    if code_ids:
        values["field_footnotes"] = (("code", code_ids), *field_notes)
    values["code"] = code.upper()
    values["plan_10b5_1"] = not plan_footnotes.isdisjoint(all_ids)
    return unchecked(Transaction, values)


def _convert(
    found: Iterable[tuple[int, ET.Element]], spec: _Spec, values: dict[str, object], row: ET.Element,
    index: int, reader: Reader,
) -> list[tuple[int, tuple[str, tuple[str, ...]]]]:
    """Typed values of a row's leaves into `values`; returns (field number, field footnotes)."""
    fields = spec.fields
    notes = []
    for number, node in found:
        name, path, kind = fields[number]
        # The value may be wrapped in <value> and may carry footnotes beside it or instead of it.
        text = node.findtext("value")  # "" for an empty <value/>, None without one
        if text is None:
            text = node.text
            ids = footnote_ids(node) if len(node) else ()
        else:
            # Most leaves hold only their <value>: skip the footnote search.
            ids = footnote_ids(node) if len(node) > 1 else ()
        if ids:
            notes.append((number, (name, ids)))
        if text is None:
            continue
        text = text.strip()
        if not text:
            continue
        if kind == _DECIMAL:
            try:
                number_value = Decimal(text)
            except InvalidOperation:
                number_value = None
            values[name] = number_value if number_value is not None and number_value.is_finite() \
                else reader.decimal(text, f"{row.tag}[{index}]/{path}")
        elif kind == _DATE_KIND:
            if len(text) == 10 and text[4] == "-" and text[7] == "-":  # see read_date
                try:
                    values[name] = date.fromisoformat(text)
                    continue
                except ValueError:
                    pass
            values[name] = reader.date(text, f"{row.tag}[{index}]/{path}")
        elif kind == _TEXT:
            values[name] = text
        elif kind == _CHOICE:
            upper = text.upper()
            if upper not in _CHOICES[name]:
                at = f"{row.tag}[{index}]/{path}"
                raise reader.fail(f"{at}: {text!r} is not one of {_CHOICES[name]}", at)
            values[name] = upper
        else:
            flag = BOOLEANS.get(text.lower())
            values[name] = flag if flag is not None else reader.boolean(text, f"{row.tag}[{index}]/{path}")
    return notes


def read_date(text: str, reader: Reader, where: str) -> date:
    """A non-empty YYYY-MM-DD leaf as a date (DataError naming `where` otherwise)."""
    # fromisoformat is exact for ASCII YYYY-MM-DD (it also takes week dates, which the dash
    # positions exclude); anything else, valid or not, goes through the reader's checks.
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    return reader.date(text, where)  # type: ignore[return-value]

