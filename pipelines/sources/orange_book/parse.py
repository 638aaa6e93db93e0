"""Parse the FDA Orange Book data files (products.txt, patent.txt, exclusivity.txt).

The files are tilde-delimited with one header row. Fields are split on `~` without any quote
handling, because a quote-aware reader merges fields around the one CSV-quoted trade name.
Bad rows become `OrangeBookRowError`s (a DataError carrying the line number and raw text) and the
rest of the file is still read.
"""
from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from pipelines.core.errors import DataError

SOURCE = "fda_orange_book"

PRODUCTS_HEADER = (
    "Ingredient", "DF;Route", "Trade_Name", "Applicant", "Strength", "Appl_Type", "Appl_No",
    "Product_No", "TE_Code", "Approval_Date", "RLD", "RS", "Type", "Applicant_Full_Name",
)
PATENT_HEADER = (
    "Appl_Type", "Appl_No", "Product_No", "Patent_No", "Patent_Expire_Date_Text",
    "Drug_Substance_Flag", "Drug_Product_Flag", "Patent_Use_Code", "Delist_Flag", "Submission_Date",
)
EXCLUSIVITY_HEADER = ("Appl_Type", "Appl_No", "Product_No", "Exclusivity_Code", "Exclusivity_Date")

PRE_1982 = "Approved Prior to Jan 1, 1982"
PED_SUFFIX = "*PED"
APPL_TYPES = ("N", "A")
PRODUCT_TYPES = ("RX", "OTC", "DISCN")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_DATE_RE = re.compile(r"([A-Z][a-z]{2}) (\d{1,2}), (\d{4})")
_APPL_NO_RE = re.compile(r"\d{6}")
_PRODUCT_NO_RE = re.compile(r"\d{3}")


class OrangeBookRowError(DataError):
    """One unreadable row: which file, which line, and the raw text to quarantine."""

    def __init__(self, message: str, *, file: str, line_no: int, raw: str, record_key: str = "") -> None:
        super().__init__(f"{file} line {line_no}: {message}", source=SOURCE, record_key=record_key)
        self.file = file
        self.line_no = line_no
        self.raw = raw


@dataclass(frozen=True)
class Product:
    """One row of products.txt."""

    appl_type: str  # "N" (NDA) or "A" (ANDA)
    appl_no: str  # 6 digits, zero-padded; kept as text
    product_no: str  # 3 digits
    ingredient: str
    df_route: str  # "DOSAGE FORM;ROUTE"
    trade_name: str
    applicant: str
    applicant_full_name: str
    strength: str
    te_code: str  # "" when FDA gives none
    approval_date: date | None  # None for products approved before 1982
    approved_pre_1982: bool
    rld: bool
    rs: bool
    type: str  # RX, OTC or DISCN

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.appl_type, self.appl_no, self.product_no)

    @property
    def dosage_form(self) -> str:
        return self.df_route.split(";", 1)[0]

    @property
    def route(self) -> str:
        return self.df_route.split(";", 1)[1] if ";" in self.df_route else ""

    @property
    def strength_base(self) -> str:
        """Strength without FDA's appended `**...**` notes, for matching generics to brands."""
        return self.strength.split("**", 1)[0].strip()


@dataclass(frozen=True)
class Patent:
    """One row of patent.txt (one patent can have several rows, one per use code)."""

    appl_type: str
    appl_no: str
    product_no: str
    patent_no: str  # without the "*PED" suffix
    expire_date: date
    drug_substance: bool
    drug_product: bool
    use_code: str  # "" when blank
    delisted: bool
    submission_date: date | None
    ped: bool  # a pediatric-extension row ("<patent>*PED"), expiry = base + 6 months

    @property
    def product_key(self) -> tuple[str, str, str]:
        return (self.appl_type, self.appl_no, self.product_no)

    @property
    def listed_no(self) -> str:
        """The patent number as FDA lists it, with the *PED suffix when present."""
        return self.patent_no + (PED_SUFFIX if self.ped else "")


@dataclass(frozen=True)
class Exclusivity:
    """One row of exclusivity.txt. Expired rows stay listed; filter on `date` yourself."""

    appl_type: str
    appl_no: str
    product_no: str
    code: str
    date: date

    @property
    def product_key(self) -> tuple[str, str, str]:
        return (self.appl_type, self.appl_no, self.product_no)


@dataclass(frozen=True)
class Release:
    """One monthly edition: the parsed rows of the three files plus the rows that failed."""

    products: tuple[Product, ...]
    patents: tuple[Patent, ...]
    exclusivities: tuple[Exclusivity, ...]
    errors: tuple[OrangeBookRowError, ...] = ()
    sha256: str = ""
    observed_at: datetime | None = None


def parse_date(text: str) -> date:
    """Parse FDA's `Mon D, YYYY` (no zero padding); locale-independent, unlike strptime's %b."""
    m = _DATE_RE.fullmatch(text.strip())
    if not m or m.group(1) not in _MONTHS:
        raise ValueError(f"unknown date text {text!r} (expected like 'Aug 24, 2025')")
    return date(int(m.group(3)), _MONTHS[m.group(1)], int(m.group(2)))


def release_hash(raw: bytes) -> str:
    """sha256 hex digest of the release ZIP, to skip a release already processed."""
    return hashlib.sha256(raw).hexdigest()


def _unquote(field: str) -> str:
    # Only a field wholly wrapped in quotes is CSV-quoted ("HY-PAM ""25"""); inner quotes double.
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


def _flag(value: str, column: str) -> bool:
    if value == "Y":
        return True
    if value == "":
        return False
    raise ValueError(f"{column} must be 'Y' or blank, got {value!r}")


def _yes_no(value: str, column: str) -> bool:
    if value in ("Yes", "No"):
        return value == "Yes"
    raise ValueError(f"{column} must be 'Yes' or 'No', got {value!r}")


def _check_keys(appl_type: str, appl_no: str, product_no: str) -> None:
    if appl_type not in APPL_TYPES:
        raise ValueError(f"Appl_Type must be N or A, got {appl_type!r}")
    if not _APPL_NO_RE.fullmatch(appl_no):
        raise ValueError(f"Appl_No must be 6 digits, got {appl_no!r}")
    if not _PRODUCT_NO_RE.fullmatch(product_no):
        raise ValueError(f"Product_No must be 3 digits, got {product_no!r}")


def _product(f: list[str]) -> Product:
    _check_keys(f[5], f[6], f[7])
    if f[12] not in PRODUCT_TYPES:
        raise ValueError(f"Type must be one of {PRODUCT_TYPES}, got {f[12]!r}")
    pre_1982 = f[9] == PRE_1982
    return Product(
        appl_type=f[5], appl_no=f[6], product_no=f[7], ingredient=f[0], df_route=f[1],
        trade_name=_unquote(f[2]), applicant=f[3], applicant_full_name=f[13], strength=f[4],
        te_code=f[8], approval_date=None if pre_1982 else parse_date(f[9]),
        approved_pre_1982=pre_1982, rld=_yes_no(f[10], "RLD"), rs=_yes_no(f[11], "RS"), type=f[12],
    )


def _patent(f: list[str]) -> Patent:
    _check_keys(f[0], f[1], f[2])
    number = f[3]
    ped = number.endswith(PED_SUFFIX)
    if ped:
        number = number[: -len(PED_SUFFIX)]
    if not number:
        raise ValueError("Patent_No is empty")
    return Patent(
        appl_type=f[0], appl_no=f[1], product_no=f[2], patent_no=number,
        expire_date=parse_date(f[4]), drug_substance=_flag(f[5], "Drug_Substance_Flag"),
        drug_product=_flag(f[6], "Drug_Product_Flag"), use_code=f[7],
        delisted=_flag(f[8], "Delist_Flag"),
        submission_date=parse_date(f[9]) if f[9] else None, ped=ped,
    )


def _exclusivity(f: list[str]) -> Exclusivity:
    _check_keys(f[0], f[1], f[2])
    if not f[3]:
        raise ValueError("Exclusivity_Code is empty")
    return Exclusivity(appl_type=f[0], appl_no=f[1], product_no=f[2], code=f[3], date=parse_date(f[4]))


T = TypeVar("T")


def _parse_file(
    text: str, file: str, header: tuple[str, ...], build: Callable[[list[str]], T], key_cols: tuple[int, ...]
) -> tuple[list[T], list[OrangeBookRowError]]:
    lines = text.splitlines()  # handles CRLF, LF and a missing final newline alike
    if not lines or tuple(h.strip() for h in lines[0].lstrip("\ufeff").split("~")) != header:
        got = lines[0] if lines else ""
        raise DataError(f"{file}: header {got!r} is not the expected {'~'.join(header)!r}",
                        source=SOURCE, record_key=file)
    rows: list[T] = []
    errors: list[OrangeBookRowError] = []
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("~")
        key = "~".join(fields[i] for i in key_cols if i < len(fields))
        if len(fields) != len(header):
            errors.append(OrangeBookRowError(
                f"expected {len(header)} fields, found {len(fields)}",
                file=file, line_no=line_no, raw=line, record_key=key))
            continue
        try:
            rows.append(build([v.strip() for v in fields]))
        except ValueError as exc:
            errors.append(OrangeBookRowError(str(exc), file=file, line_no=line_no, raw=line, record_key=key))
    return rows, errors


def parse_products(text: str) -> tuple[list[Product], list[OrangeBookRowError]]:
    """Rows of products.txt and the rows that could not be read."""
    return _parse_file(text, "products.txt", PRODUCTS_HEADER, _product, (5, 6, 7))


def parse_patents(text: str) -> tuple[list[Patent], list[OrangeBookRowError]]:
    """Rows of patent.txt (all use-code rows kept) and the rows that could not be read."""
    return _parse_file(text, "patent.txt", PATENT_HEADER, _patent, (0, 1, 2, 3))


def parse_exclusivities(text: str) -> tuple[list[Exclusivity], list[OrangeBookRowError]]:
    """Rows of exclusivity.txt (expired ones included) and the rows that could not be read."""
    return _parse_file(text, "exclusivity.txt", EXCLUSIVITY_HEADER, _exclusivity, (0, 1, 2, 3))


def decode(raw: bytes) -> str:
    """Text of one data file. FDA calls them ASCII; a stray Windows-1252 byte must not sink a release."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def build_release(
    products_text: str, patents_text: str, exclusivity_text: str,
    *, sha256: str = "", observed_at: datetime | None = None,
) -> Release:
    """Parse the three files into one Release; row errors of all three are collected."""
    products, e1 = parse_products(products_text)
    patents, e2 = parse_patents(patents_text)
    exclusivities, e3 = parse_exclusivities(exclusivity_text)
    return Release(tuple(products), tuple(patents), tuple(exclusivities), tuple(e1 + e2 + e3),
                   sha256=sha256, observed_at=observed_at)


_FILES = ("products.txt", "patent.txt", "exclusivity.txt")


def read_release_zip(raw: bytes, *, observed_at: datetime | None = None) -> Release:
    """Read FDA's Orange Book ZIP. A truncated or invalid ZIP, or a missing file, raises DataError."""
    digest = release_hash(raw)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            # Match by base name, case-insensitively: FDA has shipped the files with varying case.
            members = {Path(n).name.lower(): n for n in zf.namelist() if not n.endswith("/")}
            missing = [f for f in _FILES if f not in members]
            if missing:
                raise DataError(f"Orange Book ZIP lacks {', '.join(missing)}; has {sorted(members)}",
                                source=SOURCE, record_key=digest)
            texts = [decode(zf.read(members[f])) for f in _FILES]
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        # EOFError and zlib.error come from a member cut short; NotImplementedError from an
        # unsupported compression method: all mean this download is unusable.
        raise DataError(f"Orange Book ZIP is truncated or invalid ({len(raw)} bytes): {exc}",
                        source=SOURCE, record_key=digest) from exc
    return build_release(*texts, sha256=digest, observed_at=observed_at)


def read_release_dir(path: str | Path, *, observed_at: datetime | None = None) -> Release:
    """Read the three unpacked files from a folder (names matched case-insensitively)."""
    folder = Path(path)
    found = {p.name.lower(): p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
    missing = [f for f in _FILES if f not in found]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)}", source=SOURCE, record_key=str(folder))
    raws = [found[f].read_bytes() for f in _FILES]
    return build_release(*(decode(r) for r in raws),
                         sha256=hashlib.sha256(b"".join(raws)).hexdigest(), observed_at=observed_at)
