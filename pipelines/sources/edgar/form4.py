"""SEC Form 4 / 4/A ownership XML -> typed `Form4Document`.

Public API: `parse_form4`, `apply_amendment`, `form4_to_json`, `form4_to_text` and the record
types from `form4_model`. Quirks handled (data_formats.md section 2): leaf values wrapped in
`<value>` or not; footnote ids next to or instead of a value; 0/1 and true/false booleans; blank
lines and stray whitespace; `aff10b5One` absent before schema X0407.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal, cast

from pipelines.core.errors import DataError

from .form4_model import (
    FieldFootnotes,
    Form4Document,
    Holding,
    Issuer,
    ReportingOwner,
    Signature,
    Table,
    Transaction,
)
from .form4_render import form4_to_json, form4_to_text
from .xml_safety import parse_xml

__all__ = [
    "Form4Document",
    "Holding",
    "Issuer",
    "ReportingOwner",
    "Signature",
    "Transaction",
    "apply_amendment",
    "form4_to_json",
    "form4_to_text",
    "mentions_10b5_1_plan",
    "parse_form4",
]

ROOT = "ownershipDocument"
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?$")
# Filers write "10b5-1", "10b-5-1", "10b5 1" and use non-ASCII hyphens.
_PLAN = re.compile(r"10\s?b[\s\-\u2010\u2011\u2012\u2013]?5[\s\-\u2010\u2011\u2012\u2013]?1", re.IGNORECASE)
_NEGATION = re.compile(r"\b(not|no|neither|nor|outside)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.;])\s+")

# (field name, path under the row element); `code` is special-cased because its footnotes
# sit beside it under transactionCoding.
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
# Field specs per (transaction row?, derivative table?).
_SPECS = {
    (is_tx, is_deriv): _COMMON_FIELDS + (_TRANSACTION_FIELDS if is_tx else ())
    + (_DERIVATIVE_FIELDS if is_deriv else ())
    for is_tx in (False, True) for is_deriv in (False, True)
}
_DECIMALS = {
    "shares", "price", "shares_owned_after", "value_owned_after",
    "conversion_or_exercise_price", "underlying_shares",
}
_DATES = {"date", "deemed_execution_date", "exercise_date", "expiration_date"}
_CHOICES = {"acquired_disposed": ("A", "D"), "ownership": ("D", "I")}


class _Reader:
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
        lowered = text.lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("0", "false"):
            return False
        raise self.fail(f"{where}: {text!r} is not a boolean (0/1/true/false)", where)

    def cik(self, text: str | None, where: str) -> int:
        if text is None:
            raise self.fail(f"missing required element {where}", where)
        if not text.isdigit():
            raise self.fail(f"{where}: {text!r} is not a CIK", where)
        return int(text)


def _text(node: ET.Element | None) -> str | None:
    if node is None or node.text is None:
        return None
    stripped = node.text.strip()
    return stripped or None


def _prose(node: ET.Element | None) -> str | None:
    """Footnotes and remarks wrap across indented lines; collapse them to single spaces."""
    if node is None:
        return None
    text = " ".join("".join(node.itertext()).split())
    return text or None


# Groups under a row whose children are the leaves; every other child of a row is a leaf itself.
_GROUPS = frozenset({"transactionAmounts", "postTransactionAmounts", "ownershipNature", "transactionCoding",
                     "underlyingSecurity"})


def _leaves(row: ET.Element) -> dict[str, ET.Element]:
    """Leaf elements of a table row by path ("transactionAmounts/transactionShares"), first wins.

    One pass over the row instead of a path search per field: ElementPath look-ups with a "/"
    run in Python and dominated the parse time.
    """
    found: dict[str, ET.Element] = {}
    for child in row:
        tag = child.tag
        if tag in _GROUPS:
            for leaf in child:
                found.setdefault(f"{tag}/{leaf.tag}", leaf)
        else:
            found.setdefault(tag, child)
    return found


def _fact(node: ET.Element | None) -> tuple[str | None, tuple[str, ...]]:
    """(value text, footnote ids) of a leaf that may or may not wrap its value in <value>."""
    if node is None:
        return None, ()
    children = len(node)
    if not children:
        return _text(node), ()
    first = node[0]  # <value> comes first when there is one
    value_node = first if first.tag == "value" else node.find("value")
    text = _text(value_node) if value_node is not None else _text(node)
    # Most leaves hold only their <value>: skip the footnote search (a third of the parse time).
    if children <= (value_node is not None):
        return text, ()
    return text, _footnote_ids(node)


def _grandchildren(node: ET.Element, child: str, grandchild: str) -> list[ET.Element]:
    """`node.findall("child/grandchild")` without ElementPath: simple tags are searched in C."""
    return [g for c in node.findall(child) for g in c.findall(grandchild)]


def _footnote_ids(node: ET.Element, *, direct_only: bool = False) -> tuple[str, ...]:
    found = node.findall("footnoteId") if direct_only else node.iter("footnoteId")
    ids = [i for i in (f.get("id", "").strip() for f in found) if i]
    return tuple(dict.fromkeys(ids)) if ids else ()


def mentions_10b5_1_plan(text: str) -> bool:
    """True when footnote text says a trade was made under a Rule 10b5-1 plan.

    A sentence that negates the plan ("not made pursuant to a Rule 10b5-1 plan") does not count.
    """
    if not _PLAN.search(text):  # most footnotes never mention a plan: skip the sentence split
        return False
    for sentence in _SENTENCE_END.split(text):
        for match in _PLAN.finditer(sentence):
            if not _NEGATION.search(sentence[: match.start()]):
                return True
    return False


def _row(
    row: ET.Element, *, table: Table, index: int, kind: str, reader: _Reader,
    plan_footnotes: frozenset[str],
) -> Transaction | Holding:
    where = f"{row.tag}[{index}]"
    is_transaction = kind == "transaction"
    leaves = _leaves(row)
    values: dict[str, object] = {}
    field_notes: list[tuple[str, tuple[str, ...]]] = []
    for name, path in _SPECS[(is_transaction, table == "derivative")]:
        node = leaves.get(path)
        if node is None:
            values[name] = None
            continue
        text, ids = _fact(node)
        if text is None:
            values[name] = None
        elif name in _DECIMALS:
            values[name] = reader.decimal(text, f"{where}/{path}")
        elif name in _DATES:
            values[name] = reader.date(text, f"{where}/{path}")
        elif name == "equity_swap_involved":
            values[name] = reader.boolean(text, f"{where}/{path}")
        elif name in _CHOICES:
            if text.upper() not in _CHOICES[name]:
                at = f"{where}/{path}"
                raise reader.fail(f"{at}: {text!r} is not one of {_CHOICES[name]}", at)
            values[name] = text.upper()
        else:
            values[name] = text
        if ids:
            field_notes.append((name, ids))
    all_ids = _footnote_ids(row)
    common = dict(
        table=table, index=index, footnote_ids=all_ids,
        field_footnotes=cast(FieldFootnotes, tuple(field_notes)), **values,
    )
    if not is_transaction:
        return Holding(**common)  # type: ignore[arg-type]
    coding = row.find("transactionCoding")
    code = _text(leaves.get("transactionCoding/transactionCode"))
    if code is None:
        raise reader.fail(f"{where}: missing required element transactionCoding/transactionCode", where)
    code_ids = _footnote_ids(coding, direct_only=True) if coding is not None else ()
    if code_ids:
        common["field_footnotes"] = cast(FieldFootnotes, (("code", code_ids), *field_notes))
    plan = any(i in plan_footnotes for i in all_ids)
    return Transaction(code=code.upper(), plan_10b5_1=plan, **common)  # type: ignore[arg-type]


def _owner(node: ET.Element, index: int, reader: _Reader) -> ReportingOwner:
    where = f"reportingOwner[{index}]"
    owner_id = node.find("reportingOwnerId")
    rel = node.find("reportingOwnerRelationship")

    def flag(tag: str) -> bool:
        return bool(reader.boolean(_text(rel.find(tag)) if rel is not None else None, f"{where}/{tag}"))

    return ReportingOwner(
        cik=reader.cik(_text(owner_id.find("rptOwnerCik")) if owner_id is not None else None,
                       f"{where}/reportingOwnerId/rptOwnerCik"),
        name=(_text(owner_id.find("rptOwnerName")) if owner_id is not None else None) or "",
        is_director=flag("isDirector"),
        is_officer=flag("isOfficer"),
        is_ten_percent_owner=flag("isTenPercentOwner"),
        is_other=flag("isOther"),
        officer_title=_text(rel.find("officerTitle")) if rel is not None else None,
        other_text=_text(rel.find("otherText")) if rel is not None else None,
    )


def parse_form4(raw: bytes, *, source: str = "") -> Form4Document:
    """Parse one ownership XML document (Form 4 or 4/A); bad input raises DataError."""
    reader = _Reader(source)
    root = parse_xml(raw, source=source, what="Form 4", plain=True)
    if root.tag.startswith("{"):
        namespace = root.tag[1:].split("}", 1)[0]
        raise reader.fail(f"root element is in namespace {namespace!r}; expected <{ROOT}> with no namespace")
    if root.tag != ROOT:
        raise reader.fail(f"root element is <{root.tag}>, expected <{ROOT}>")

    document_type = _text(root.find("documentType"))
    if document_type is None:
        raise reader.fail("missing required element documentType", "documentType")
    if document_type not in ("4", "4/A"):
        raise reader.fail(f"documentType {document_type!r} is not a Form 4 or 4/A", "documentType")
    period = reader.date(_text(root.find("periodOfReport")), "periodOfReport")
    if period is None:
        raise reader.fail("missing required element periodOfReport", "periodOfReport")
    issuer_node = root.find("issuer")
    if issuer_node is None:
        raise reader.fail("missing required element issuer", "issuer")
    issuer = Issuer(
        cik=reader.cik(_text(issuer_node.find("issuerCik")), "issuer/issuerCik"),
        name=_text(issuer_node.find("issuerName")) or "",
        ticker=_text(issuer_node.find("issuerTradingSymbol")),
    )
    owner_nodes = root.findall("reportingOwner")
    if not owner_nodes:
        raise reader.fail("missing required element reportingOwner", "reportingOwner")
    owners = tuple(_owner(node, i, reader) for i, node in enumerate(owner_nodes))

    footnotes: dict[str, str] = {}
    for node in _grandchildren(root, "footnotes", "footnote"):
        footnotes[node.get("id", "").strip()] = _prose(node) or ""
    plan_footnotes = frozenset(fid for fid, text in footnotes.items() if mentions_10b5_1_plan(text))

    transactions: list[Transaction] = []
    holdings: list[Holding] = []
    for table, table_tag, prefix in (
        ("non_derivative", "nonDerivativeTable", "nonDerivative"),
        ("derivative", "derivativeTable", "derivative"),
    ):
        for kind, bucket in (("transaction", transactions), ("holding", holdings)):
            tag = f"{prefix}{kind.capitalize()}"
            for index, node in enumerate(_grandchildren(root, table_tag, tag)):
                row = _row(node, table=cast(Table, table), index=index, kind=kind,
                           reader=reader, plan_footnotes=plan_footnotes)
                bucket.append(row)  # type: ignore[arg-type]

    signatures = tuple(
        Signature(
            name=_text(node.find("signatureName")),
            date=reader.date(_text(node.find("signatureDate")), f"ownerSignature[{i}]/signatureDate"),
        )
        for i, node in enumerate(root.findall("ownerSignature"))
    )
    return Form4Document(
        schema_version=_text(root.find("schemaVersion")),
        document_type=cast(Literal["4", "4/A"], document_type),
        period_of_report=period,
        date_of_original_submission=reader.date(
            _text(root.find("dateOfOriginalSubmission")), "dateOfOriginalSubmission"),
        not_subject_to_section16=reader.boolean(
            _text(root.find("notSubjectToSection16")), "notSubjectToSection16"),
        issuer=issuer,
        owners=owners,
        transactions=tuple(transactions),
        holdings=tuple(holdings),
        footnotes=footnotes,
        aff10b5one=reader.boolean(_text(root.find("aff10b5One")), "aff10b5One"),
        remarks=_prose(root.find("remarks")),
        signatures=signatures,
    )


def apply_amendment(original: Form4Document | None, amendment: Form4Document) -> Form4Document:
    """The document that stands after a 4/A: the amendment's full content replaces the original's.

    EDGAR names no amended accession, so the caller links the pair (issuer, owner CIKs,
    dateOfOriginalSubmission); here the link is only checked (same issuer, a shared owner).
    One exception guards against the "4/A wiped the original's trades" failure: an amendment
    with no table rows at all (e.g. it corrects a relationship box) keeps the original's
    transactions, holdings and footnotes. An amendment that restates only some rows cannot be
    told apart from a full restatement, so it still replaces everything; the insider scorer
    holds every 4/A for review rather than alerting on it.
    """
    if not amendment.is_amendment:
        raise DataError(f"Form 4: documentType {amendment.document_type!r} is not an amendment (4/A)")
    if original is None:
        return amendment
    if original.issuer.cik != amendment.issuer.cik:
        raise DataError(
            f"Form 4/A: issuer CIK {amendment.issuer.cik} does not match the original's {original.issuer.cik}"
        )
    if not {o.cik for o in original.owners} & {o.cik for o in amendment.owners}:
        raise DataError("Form 4/A: no reporting owner in common with the original filing")
    if amendment.transactions or amendment.holdings:
        return amendment
    return replace(
        amendment,
        transactions=original.transactions,
        holdings=original.holdings,
        footnotes={**amendment.footnotes, **original.footnotes},  # kept rows cite the original's ids
    )
