"""SEC 13F-HR: cover page and information table (amendments and diffs: thirteenf_reports).

The information table is parsed as a stream (a defusedxml parser feeding a row collector), so a table
of millions of rows never becomes one tree. Values are stored in whole dollars: filings made before
2023-01-03 reported thousands, and the digits cannot tell the two apart, so the filing date decides.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from pipelines.core.errors import DataError

SOURCE = "edgar.13f"
DOLLAR_VALUES_FROM = date(2023, 1, 3)
AMENDMENT_TYPES = ("RESTATEMENT", "NEW HOLDINGS")
DISCRETIONS = frozenset({"SOLE", "DFND", "OTR"})
_CUSIP = re.compile(r"[0-9A-Z]{9}")
_SPLIT = re.compile(r"[,\s]+")
_VALUE_USD = attrgetter("value_usd")


@dataclass(frozen=True)
class OtherManager:
    """A manager named on the cover; `sequence_number` is what infoTable `otherManager` refers to."""

    sequence_number: int | None
    cik: int | None
    name: str
    file_number: str


@dataclass(frozen=True)
class CoverPage:
    filer_cik: int | None
    filer_name: str
    submission_type: str
    period: date
    report_type: str
    is_amendment: bool
    amendment_number: int | None
    amendment_type: str | None
    entry_total: int | None
    value_total: int | None  # as printed: thousands for filings before 2023-01-03, dollars after
    other_included_managers_count: int | None
    other_managers: tuple[OtherManager, ...]
    is_confidential_omitted: bool
    signature_date: date | None


@dataclass(frozen=True)
class Holding:
    name_of_issuer: str
    title_of_class: str
    cusip: str
    value_usd: int
    shares_or_principal: int
    sh_prn_type: str  # SH | PRN
    put_call: str | None  # Put | Call
    investment_discretion: str  # SOLE | DFND | OTR
    other_managers: tuple[int, ...]
    voting_sole: int
    voting_shared: int
    voting_none: int
    filed: date  # each row cites the filing it came from (amendments mix filings)
    row: int  # 1-based position in its information table


@dataclass(frozen=True)
class BadRecord:
    """A record that failed to parse, with the raw bytes the quarantine keeps."""

    error: DataError
    raw: bytes


@dataclass(frozen=True)
class Report:
    """One manager's holdings for one period, as known from `filed` on."""

    cover: CoverPage
    holdings: tuple[Holding, ...]
    filed: date
    accession: str = ""
    sources: tuple[str, ...] = ()  # accession numbers this view is built from, oldest first

    def __post_init__(self) -> None:
        if not self.sources and self.accession:
            object.__setattr__(self, "sources", (self.accession,))


def value_multiplier(filed: date) -> int:
    """Dollars per reported unit of `value` for a filing made on `filed`."""
    return 1 if filed >= DOLLAR_VALUES_FROM else 1000


def parse_cover(raw: bytes, *, source: str = SOURCE) -> CoverPage:
    """Parse a 13F `primary_doc.xml` cover page; raises DataError naming the missing field."""
    try:
        root = _tree(raw)
    except ParseError as exc:
        raise DataError(f"13F cover page XML is malformed: {exc}", source=source) from None
    except DefusedXmlException as exc:
        raise DataError(f"13F cover page declares entities or a DTD, which are refused: {exc!r}",
                        source=source) from None
    if _local(root.tag) != "edgarSubmission":
        raise DataError(f"13F cover page root is <{_local(root.tag)}>, expected <edgarSubmission>", source=source)
    f = _flatten(root)
    key = f.get("headerData/filerInfo/filer/credentials/cik", "")
    period = f.get("headerData/filerInfo/periodOfReport") or f.get("formData/coverPage/reportCalendarOrQuarter")
    if not period:
        raise DataError("13F cover page has no periodOfReport or reportCalendarOrQuarter", source=source,
                        record_key=key)
    amendment_type = f.get("formData/coverPage/amendmentInfo/amendmentType", "").upper() or None
    if amendment_type is not None and amendment_type not in AMENDMENT_TYPES:
        raise DataError(f"13F amendmentType {amendment_type!r} is neither RESTATEMENT nor NEW HOLDINGS",
                        source=source, record_key=key)
    signed = f.get("formData/signatureBlock/signatureDate")

    def number(path: str) -> int | None:
        text = f.get(path)
        return None if text is None else _int(text, path.rpartition("/")[2], source, key)

    managers = [_other_manager(m, None) for m in _all(root, "formData/coverPage/otherManagersInfo/otherManager")]
    for m2 in _all(root, "formData/summaryPage/otherManagers2Info/otherManager2"):
        seq = _flatten(m2).get("sequenceNumber")
        managers.append(_other_manager(_first(m2, "otherManager"), _int(seq, "sequenceNumber", source, key)
                                       if seq else None))
    return CoverPage(
        filer_cik=number("headerData/filerInfo/filer/credentials/cik"),
        filer_name=f.get("formData/coverPage/filingManager/name", ""),
        submission_type=f.get("headerData/submissionType", ""),
        period=_cover_date(period, "periodOfReport", source, key),
        report_type=f.get("formData/coverPage/reportType", ""),
        is_amendment=_flag(f.get("formData/coverPage/isAmendment")),
        amendment_number=number("formData/coverPage/amendmentNo"),
        amendment_type=amendment_type,
        entry_total=number("formData/summaryPage/tableEntryTotal"),
        value_total=number("formData/summaryPage/tableValueTotal"),
        other_included_managers_count=number("formData/summaryPage/otherIncludedManagersCount"),
        other_managers=tuple(managers),
        is_confidential_omitted=_flag(f.get("formData/summaryPage/isConfidentialOmitted")),
        signature_date=_cover_date(signed, "signatureDate", source, key) if signed else None,
    )


def _tree(raw: bytes) -> Element:
    """A small document as an element tree, built by C code only.

    defusedxml's parser is ElementTree's pure-Python one, a Python call per element; here expat feeds
    the C TreeBuilder directly, while defusedxml's DTD and entity guards stay on. Tags keep expat's
    "uri}local" form (no leading "{"); only local names are read.
    """
    builder = TreeBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)  # EDGAR never sends a DTD
    expat = parser.parser
    expat.StartElementHandler, expat.EndElementHandler = builder.start, builder.end
    expat.CharacterDataHandler, expat.buffer_text = builder.data, True
    expat.ordered_attributes = False  # TreeBuilder.start takes a dict
    parser.feed(raw)
    return parser.close()


def parse_infotable(raw: bytes, *, filed: date,
                    source: str = SOURCE) -> tuple[Sequence[Holding], list[BadRecord]]:
    """Stream an information table (any namespace prefix) into holdings plus the rows that failed.

    A truncated or malformed document keeps the rows read before the break and reports one error
    carrying the whole payload. Plain tables (the usual case) go through a compiled-regex scanner,
    whose rows (`thirteenf_rows.ScannedRows`) build their Holdings only when first indexed or
    iterated; anything it does not recognise, every bad row included, is read by expat as before.
    """
    scanned = _scan.scan_infotable(raw, filed)
    if scanned is not None:
        return scanned, []
    return parse_infotable_expat(raw, filed=filed, source=source)


def parse_infotable_expat(raw: bytes, *, filed: date, source: str = SOURCE) -> tuple[list[Holding], list[BadRecord]]:
    """`parse_infotable` through expat alone: any well-formed table, and the errors of bad ones."""
    reader = _TableReader(raw, filed, source)
    parser = DefusedXMLParser(target=reader, forbid_dtd=True)  # EDGAR never sends a DTD
    expat = reader.expat = parser.parser
    # defusedxml's DTD/entity guards stay installed on this expat parser; only the element callbacks
    # are pointed straight at the reader, skipping ElementTree's per-element Python layer (a third
    # of the parse time on large tables).
    expat.StartElementHandler, expat.EndElementHandler = reader.start, reader.end
    expat.CharacterDataHandler = reader.data
    # One data callback per text run instead of one per buffer boundary or line.
    expat.buffer_text, expat.buffer_size = True, _CHUNK
    view = memoryview(raw)
    try:
        for offset in range(0, len(raw), _CHUNK):
            parser.feed(view[offset:offset + _CHUNK])
        parser.close()
    except ParseError as exc:
        error = DataError(f"13F information table XML is truncated or malformed after row {reader.row}: {exc}",
                          source=source, record_key=f"row {reader.row + 1}")
        reader.errors.append(BadRecord(error, raw))
    except DefusedXmlException as exc:
        error = DataError(f"13F information table declares entities or a DTD, which are refused: {exc!r}",
                          source=source)
        reader.errors.append(BadRecord(error, raw))
    except DataError as exc:  # raised by the reader when the root is not an information table
        reader.errors.append(BadRecord(exc, raw))
    return reader.holdings, reader.errors


_CHUNK = 1 << 16


class _TableReader:
    """Parser target that turns each infoTable into a Holding as soon as it closes.

    No tree is built: the row's leaf texts go into a flat dict (the leaf names inside one infoTable are
    unique), so memory stays flat however long the table is.
    """

    def __init__(self, raw: bytes, filed: date, source: str) -> None:
        self.raw, self.filed, self.source = raw, filed, source
        self.multiplier = value_multiplier(filed)
        self.holdings: list[Holding] = []
        self.errors: list[BadRecord] = []
        self.expat: Any = None  # the pyexpat parser, for byte offsets of bad rows
        self.row = 0
        self._locals: dict[str, str] = {}
        self._fields: dict[str, str] = {}
        self._text = ""  # buffer_text hands over each text run in one piece, so a str is enough
        self._depth = 0
        self._row_start = 0

    def _local(self, tag: str) -> str:
        local = self._locals.get(tag)
        if local is None:
            local = self._locals[tag] = tag.rpartition("}")[2]
        return local

    def start(self, tag: str, attrib: Any) -> None:
        self._depth += 1
        self._text = ""
        if self._depth == 2:
            self._fields = {}
            self._row_start = self.expat.CurrentByteIndex
        elif self._depth == 1 and self._local(tag) != "informationTable":
            raise DataError(f"13F information table root is <{self._local(tag)}>, expected <informationTable>",
                            source=self.source)

    def data(self, text: str) -> None:
        self._text += text

    def end(self, tag: str) -> None:
        self._depth -= 1
        if self._depth >= 2:
            self._fields[self._locals.get(tag) or self._local(tag)] = self._text.strip()
        elif self._depth == 1 and self._local(tag) == "infoTable":
            self.row += 1
            try:
                self.holdings.append(_holding(self._fields, self.row, self.filed, self.multiplier, self.source))
            except DataError as exc:
                self.errors.append(BadRecord(exc, self._row_bytes()))
        self._text = ""

    def close(self) -> None:
        return None

    def _row_bytes(self) -> bytes:
        end = self.raw.find(b">", self.expat.CurrentByteIndex)
        return self.raw[self._row_start:end + 1]


def check_against_cover(holdings: Sequence[Holding], cover: CoverPage) -> DataError | None:
    """Compare a table with its cover's entry count and value total; None when they agree.

    Each row is rounded to the reporting unit, so a total computed from unrounded values may differ
    from the sum of rows by up to half a unit per row; more than that is a mismatch.
    """
    key = f"{cover.filer_cik or ''}:{cover.period.isoformat()}"
    if cover.entry_total is not None and len(holdings) != cover.entry_total:
        return DataError(f"13F information table has {len(holdings)} rows but the cover's tableEntryTotal "
                         f"is {cover.entry_total}", source=SOURCE, record_key=key)
    if cover.value_total is None or not holdings:
        return None
    if isinstance(holdings, _rows.ScannedRows):  # its total without building its Holdings
        unit, total = value_multiplier(holdings.filed), holdings.value_total()
    else:
        unit, total = value_multiplier(holdings[0].filed), sum(map(_VALUE_USD, holdings))
    expected = cover.value_total * unit
    if abs(total - expected) * 2 > unit * len(holdings):
        return DataError(f"13F information table values sum to ${total:,} but the cover's tableValueTotal is "
                         f"{cover.value_total:,} (${expected:,})", source=SOURCE, record_key=key)
    return None


def thirteenf_to_json(cover: CoverPage | None, holdings: Sequence[Holding], *,
                      filed: date | None = None) -> dict[str, Any]:
    """The `signals inspect 13f ... --json` document: `cover` (or None) and `holdings`, values in dollars.

    The cover's value total is converted by the filing date (`filed`, else the rows' own), like the rows.
    """
    cover_json = None
    if cover is not None:
        when = filed or (holdings[0].filed if holdings else None)
        unit = value_multiplier(when) if when is not None else 1
        cover_json = {"period": cover.period.isoformat(), "entry_total": cover.entry_total,
                      "value_total": None if cover.value_total is None else cover.value_total * unit}
    return {"cover": cover_json, "holdings": [
        {"name_of_issuer": h.name_of_issuer, "title_of_class": h.title_of_class, "cusip": h.cusip,
         "value_usd": h.value_usd, "shares_or_principal": h.shares_or_principal, "sh_prn_type": h.sh_prn_type,
         "put_call": h.put_call, "investment_discretion": h.investment_discretion,
         "other_managers": list(h.other_managers), "voting_sole": h.voting_sole,
         "voting_shared": h.voting_shared, "voting_none": h.voting_none}
        for h in holdings]}


# --- element helpers -------------------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _flatten(elem: Element) -> dict[str, str]:
    """Local-name paths below `elem` to their stripped text; the first occurrence wins."""
    out: dict[str, str] = {}

    def walk(node: Element, prefix: str) -> None:
        for child in node:
            path = prefix + _local(child.tag)
            text = (child.text or "").strip()
            if text:
                out.setdefault(path, text)
            walk(child, path + "/")

    walk(elem, "")
    return out


def _all(elem: Element, path: str) -> list[Element]:
    nodes = [elem]
    for name in path.split("/"):
        nodes = [c for n in nodes for c in n if _local(c.tag) == name]
    return nodes


def _first(elem: Element, name: str) -> Element | None:
    return next((c for c in elem if _local(c.tag) == name), None)


def _flag(text: str | None) -> bool:
    return (text or "").lower() in ("true", "1", "y", "yes")


def _int(text: str | None, name: str, source: str, key: str) -> int:
    if not text:
        raise DataError(f"13F field {name} is missing", source=source, record_key=key)
    try:
        return int(text)
    except ValueError:
        raise DataError(f"13F field {name} is not a whole number: {text!r}", source=source, record_key=key) from None


def _cover_date(text: str, name: str, source: str, key: str) -> date:
    for fmt in ("%m-%d-%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise DataError(f"13F cover {name} {text!r} is not MM-DD-YYYY", source=source, record_key=key)


def _other_manager(elem: Element | None, sequence: int | None) -> OtherManager:
    f = _flatten(elem) if elem is not None else {}
    cik = f.get("cik", "")
    return OtherManager(sequence_number=sequence, cik=int(cik) if cik.isdigit() else None,
                        name=f.get("name", ""), file_number=f.get("form13FFileNumber", ""))


def _holding(f: Mapping[str, str], row: int, filed: date, multiplier: int, source: str) -> Holding:
    cusip = f.get("cusip", "").upper()
    key = f"row {row} cusip {cusip or '?'}"

    def bad(problem: str) -> DataError:
        return DataError(f"13F row {row}: {problem}", source=source, record_key=key)

    if not _CUSIP.fullmatch(cusip):
        raise bad(f"CUSIP {cusip!r} is not 9 letters or digits")
    name = f.get("nameOfIssuer")
    if not name:
        raise bad("nameOfIssuer is missing")
    value, shares = _int(f.get("value"), "value", source, key), _int(f.get("sshPrnamt"), "sshPrnamt", source, key)
    if value < 0 or shares < 0:
        raise bad(f"negative value ({value}) or sshPrnamt ({shares})")
    sh_prn = f.get("sshPrnamtType", "").upper()
    if sh_prn not in ("SH", "PRN"):
        raise bad(f"sshPrnamtType {sh_prn!r} is not SH or PRN")
    put_call = f.get("putCall", "").capitalize() or None
    if put_call not in (None, "Put", "Call"):
        raise bad(f"putCall {put_call!r} is not Put or Call")
    discretion = f.get("investmentDiscretion", "").upper()
    if discretion not in DISCRETIONS:
        raise bad(f"investmentDiscretion {discretion!r} is not SOLE, DFND or OTR")
    managers_text = f.get("otherManager", "")
    try:
        managers = tuple(int(m) for m in _SPLIT.split(managers_text) if m)
    except ValueError:
        raise bad(f"otherManager {managers_text!r} is not a list of sequence numbers") from None
    return Holding(
        name_of_issuer=name, title_of_class=f.get("titleOfClass", ""), cusip=cusip,
        value_usd=value * multiplier, shares_or_principal=shares, sh_prn_type=sh_prn, put_call=put_call,
        investment_discretion=discretion, other_managers=managers,
        voting_sole=_int(f.get("Sole"), "votingAuthority/Sole", source, key),
        voting_shared=_int(f.get("Shared"), "votingAuthority/Shared", source, key),
        voting_none=_int(f.get("None"), "votingAuthority/None", source, key),
        filed=filed, row=row,
    )


# The fast path reads Holding from this module, so it is bound last (see parse_infotable).
from . import thirteenf_rows as _rows  # noqa: E402
from . import thirteenf_scan as _scan  # noqa: E402
