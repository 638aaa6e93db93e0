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
from typing import Literal, cast

from pipelines.core.errors import DataError

from .form4_model import (
    Form4Document,
    Holding,
    Issuer,
    ReportingOwner,
    Signature,
    Table,
    Transaction,
    unchecked,
)
from .form4_render import form4_to_json, form4_to_text
from .form4_rows import BOOLEANS, TAG_NAMES, Reader, parse_row, read_date, text_of
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
# Filers write "10b5-1", "10b-5-1", "10b5 1" and use non-ASCII hyphens.
_PLAN = re.compile(r"10\s?b[\s\-\u2010\u2011\u2012\u2013]?5[\s\-\u2010\u2011\u2012\u2013]?1", re.IGNORECASE)
_NEGATION = re.compile(r"\b(not|no|neither|nor|outside)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.;])\s+")


def _prose(node: ET.Element | None) -> str | None:
    """Footnotes and remarks wrap across indented lines; collapse them to single spaces."""
    if node is None:
        return None
    whole = (node.text or "") if not len(node) else "".join(node.itertext())
    return " ".join(whole.split()) or None


def _grandchildren(node: ET.Element, child: str, grandchild: str) -> list[ET.Element]:
    """`node.findall("child/grandchild")` without ElementPath: simple tags are searched in C."""
    return [g for c in node.findall(child) for g in c.findall(grandchild)]


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


_FLAGS = (("is_director", "isDirector"), ("is_officer", "isOfficer"),
          ("is_ten_percent_owner", "isTenPercentOwner"), ("is_other", "isOther"))


def _owner(node: ET.Element, index: int, reader: Reader) -> ReportingOwner:
    where = f"reportingOwner[{index}]"
    owner_id = node.find("reportingOwnerId")
    rel = node.find("reportingOwnerRelationship")
    fields: dict[str, object] = {
        "cik": reader.cik(text_of(owner_id.find("rptOwnerCik")) if owner_id is not None else None,
                          f"{where}/reportingOwnerId/rptOwnerCik"),
        "name": (text_of(owner_id.find("rptOwnerName")) if owner_id is not None else None) or "",
    }
    for name, tag in _FLAGS:
        text = text_of(rel.find(tag)) if rel is not None else None
        flag = BOOLEANS.get(text.lower()) if text is not None else False
        fields[name] = flag if flag is not None else reader.boolean(text, f"{where}/{tag}")
    fields["officer_title"] = text_of(rel.find("officerTitle")) if rel is not None else None
    fields["other_text"] = text_of(rel.find("otherText")) if rel is not None else None
    return unchecked(ReportingOwner, fields)


def _optional_date(node: ET.Element | None, reader: Reader, where: str) -> date | None:
    text = text_of(node)
    return None if text is None else read_date(text, reader, where)


# (table, table element, row element, transaction rows?) in the order rows are read.
_TABLES: tuple[tuple[Table, str, str, bool], ...] = (
    ("non_derivative", "nonDerivativeTable", "nonDerivativeTransaction", True),
    ("non_derivative", "nonDerivativeTable", "nonDerivativeHolding", False),
    ("derivative", "derivativeTable", "derivativeTransaction", True),
    ("derivative", "derivativeTable", "derivativeHolding", False),
)


def parse_form4(raw: bytes, *, source: str = "") -> Form4Document:
    """Parse one ownership XML document (Form 4 or 4/A); bad input raises DataError."""
    reader = Reader(source)
    root = parse_xml(raw, source=source, what="Form 4", plain=True, names=TAG_NAMES)
    if root.tag.startswith("{"):
        namespace = root.tag[1:].split("}", 1)[0]
        raise reader.fail(f"root element is in namespace {namespace!r}; expected <{ROOT}> with no namespace")
    if root.tag != ROOT:
        raise reader.fail(f"root element is <{root.tag}>, expected <{ROOT}>")

    document_type = text_of(root.find("documentType"))
    if document_type is None:
        raise reader.fail("missing required element documentType", "documentType")
    if document_type not in ("4", "4/A"):
        raise reader.fail(f"documentType {document_type!r} is not a Form 4 or 4/A", "documentType")
    period = _optional_date(root.find("periodOfReport"), reader, "periodOfReport")
    if period is None:
        raise reader.fail("missing required element periodOfReport", "periodOfReport")
    issuer_node = root.find("issuer")
    if issuer_node is None:
        raise reader.fail("missing required element issuer", "issuer")
    issuer = unchecked(Issuer, {
        "cik": reader.cik(text_of(issuer_node.find("issuerCik")), "issuer/issuerCik"),
        "name": text_of(issuer_node.find("issuerName")) or "",
        "ticker": text_of(issuer_node.find("issuerTradingSymbol")),
    })
    owner_nodes = root.findall("reportingOwner")
    if not owner_nodes:
        raise reader.fail("missing required element reportingOwner", "reportingOwner")
    owners = tuple([_owner(node, i, reader) for i, node in enumerate(owner_nodes)])

    footnotes: dict[str, str] = {}
    for node in _grandchildren(root, "footnotes", "footnote"):
        footnotes[node.get("id", "").strip()] = _prose(node) or ""
    plan_footnotes = frozenset([fid for fid, text in footnotes.items() if mentions_10b5_1_plan(text)])

    transactions: list[Transaction] = []
    holdings: list[Holding] = []
    for table, table_tag, row_tag, is_transaction in _TABLES:
        bucket: list = transactions if is_transaction else holdings  # type: ignore[type-arg]
        for index, node in enumerate(_grandchildren(root, table_tag, row_tag)):
            bucket.append(parse_row(node, table=table, index=index, transaction=is_transaction,
                                    reader=reader, plan_footnotes=plan_footnotes))

    signatures = tuple([
        unchecked(Signature, {
            "name": text_of(node.find("signatureName")),
            "date": _optional_date(node.find("signatureDate"), reader, f"ownerSignature[{i}]/signatureDate"),
        })
        for i, node in enumerate(root.findall("ownerSignature"))
    ])
    return unchecked(Form4Document, {
        "schema_version": text_of(root.find("schemaVersion")),
        "document_type": cast(Literal["4", "4/A"], document_type),
        "period_of_report": period,
        "date_of_original_submission": _optional_date(
            root.find("dateOfOriginalSubmission"), reader, "dateOfOriginalSubmission"),
        "not_subject_to_section16": reader.boolean(
            text_of(root.find("notSubjectToSection16")), "notSubjectToSection16"),
        "issuer": issuer,
        "owners": owners,
        "transactions": tuple(transactions),
        "holdings": tuple(holdings),
        "footnotes": footnotes,
        "aff10b5one": reader.boolean(text_of(root.find("aff10b5One")), "aff10b5One"),
        "remarks": _prose(root.find("remarks")),
        "signatures": signatures,
    })


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
