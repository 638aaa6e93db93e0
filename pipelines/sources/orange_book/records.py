"""Orange Book row types, the shared helpers of the parser, and its fast paths.

`pipelines.sources.orange_book.parse` is the public entry point and re-exports these names.
"""
from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

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


class OrangeBookRowError(DataError):
    """One unreadable row: which file, which line, and the raw text to quarantine."""

    def __init__(self, message: str, *, file: str, line_no: int, raw: str, record_key: str = "") -> None:
        super().__init__(f"{file} line {line_no}: {message}", source=SOURCE, record_key=record_key)
        self.file = file
        self.line_no = line_no
        self.raw = raw


# Row types are NamedTuples, not dataclasses: a release has ~70,000 rows and a frozen dataclass
# costs ~6x more to build (benchmarks/orange_book.py). They are just as immutable and typed.
class Product(NamedTuple):
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
        return self.strength.split("**", 1)[0].strip() if "**" in self.strength else self.strength


class Patent(NamedTuple):
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


class Exclusivity(NamedTuple):
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


# A release repeats a few thousand distinct date texts ~90,000 times: parse each text once.
_DATE_CACHE: dict[str, date] = {}


def _date(text: str) -> date:
    d = _DATE_CACHE.get(text)
    if d is None:
        d = parse_date(text)
        if len(_DATE_CACHE) < 100_000:  # bounded, whatever the input
            _DATE_CACHE[text] = d
    return d


def _unquote(field: str) -> str:
    # Only a field wholly wrapped in quotes is CSV-quoted ("HY-PAM ""25"""); inner quotes double.
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


_FLAGS = {"Y": True, "": False}
_YES_NO = {"Yes": True, "No": False}


_new = tuple.__new__  # builds a NamedTuple from a ready tuple, skipping its keyword-argument __new__


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a release's rows.

    WHY: building ~70,000 small tuples triggers hundreds of collections, each walking every live
    container; the rows hold no reference cycles, so nothing is lost by collecting afterwards.
    The collector is re-enabled only if it was on (a nested or concurrent pause leaves it alone).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# Fast paths: they accept only rows whose checks all pass at a glance (a date text seen before,
# plain values) and build exactly what the checked builders in `parse` build, without their
# per-field calls; any other row returns None and goes through the checked builder, which reads
# the rare cases and words the error.
def _product_fast(f: list[str]) -> Product | None:
    ingredient, df_route, trade, applicant, strength, kind, appl_no, product_no, te, approval, rld_text, \
        rs_text, market, full_name = f
    approved = _DATE_CACHE.get(approval)
    rld, rs = _YES_NO.get(rld_text), _YES_NO.get(rs_text)
    keys = appl_no + product_no
    if ((approved is None and approval != PRE_1982) or rld is None or rs is None or kind not in APPL_TYPES
            or market not in PRODUCT_TYPES or len(appl_no) != 6 or len(product_no) != 3
            or not keys.isdigit() or not keys.isascii()):
        return None
    if trade[:1] == '"':
        trade = _unquote(trade)
    return _new(Product, (kind, appl_no, product_no, ingredient, df_route, trade, applicant, full_name, strength, te,
                          approved, approved is None, rld, rs, market))


def _patent_fast(f: list[str]) -> Patent | None:
    kind, appl_no, product_no, number, expiry, ds_flag, dp_flag, use_code, delist_flag, submitted_text = f
    expires = _DATE_CACHE.get(expiry)
    submitted = _DATE_CACHE.get(submitted_text) if submitted_text else None
    ds, dp, delisted = _FLAGS.get(ds_flag), _FLAGS.get(dp_flag), _FLAGS.get(delist_flag)
    ped = number.endswith(PED_SUFFIX)
    if ped:
        number = number[: -len(PED_SUFFIX)]
    keys = appl_no + product_no
    if (expires is None or (submitted is None and submitted_text) or ds is None or dp is None or delisted is None
            or not number or kind not in APPL_TYPES or len(appl_no) != 6 or len(product_no) != 3
            or not keys.isdigit() or not keys.isascii()):
        return None
    return _new(Patent, (kind, appl_no, product_no, number, expires, ds, dp, use_code, delisted, submitted, ped))


def _exclusivity_fast(f: list[str]) -> Exclusivity | None:
    granted = _DATE_CACHE.get(f[4])
    keys = f[1] + f[2]
    if (granted is None or not f[3] or f[0] not in APPL_TYPES or len(f[1]) != 6 or len(f[2]) != 3
            or not keys.isdigit() or not keys.isascii()):
        return None
    return _new(Exclusivity, (f[0], f[1], f[2], f[3], granted))
