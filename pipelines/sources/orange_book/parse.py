"""Parse the FDA Orange Book data files (products.txt, patent.txt, exclusivity.txt).

The files are tilde-delimited with one header row. Fields are split on `~` without any quote
handling, because a quote-aware reader merges fields around the one CSV-quoted trade name.
Bad rows become `OrangeBookRowError`s (a DataError carrying the line number and raw text) and the
rest of the file is still read.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pipelines.core.errors import DataError

from .records import (
    _FLAGS,
    _YES_NO,
    APPL_TYPES,
    EXCLUSIVITY_HEADER,
    PATENT_HEADER,
    PED_SUFFIX,
    PRE_1982,
    PRODUCT_TYPES,
    PRODUCTS_HEADER,
    SOURCE,
    Exclusivity,
    OrangeBookRowError,
    Patent,
    Product,
    Release,
    _date,
    _exclusivity_fast,
    _new,
    _patent_fast,
    _product_fast,
    _unquote,
    gc_paused,
    parse_date,
)

__all__ = [
    "APPL_TYPES", "EXCLUSIVITY_HEADER", "PATENT_HEADER", "PED_SUFFIX", "PRE_1982", "PRODUCTS_HEADER",
    "PRODUCT_TYPES", "SOURCE", "Exclusivity", "OrangeBookRowError", "Patent", "Product", "Release",
    "build_release", "decode", "gc_paused", "parse_date", "parse_exclusivities", "parse_patents",
    "parse_products", "read_release_dir", "read_release_zip", "release_hash",
]

def release_hash(raw: bytes) -> str:
    """sha256 hex digest of the release ZIP, to skip a release already processed."""
    return hashlib.sha256(raw).hexdigest()


def _flag(value: str, column: str) -> bool:
    flag = _FLAGS.get(value)
    if flag is None:
        raise ValueError(f"{column} must be 'Y' or blank, got {value!r}")
    return flag


def _yes_no(value: str, column: str) -> bool:
    flag = _YES_NO.get(value)
    if flag is None:
        raise ValueError(f"{column} must be 'Yes' or 'No', got {value!r}")
    return flag


def _check_keys(appl_type: str, appl_no: str, product_no: str) -> None:
    # str.isdigit alone accepts other scripts' digits; isascii keeps it to 0-9.
    if appl_type not in APPL_TYPES:
        raise ValueError(f"Appl_Type must be N or A, got {appl_type!r}")
    if len(appl_no) != 6 or not (appl_no.isdigit() and appl_no.isascii()):
        raise ValueError(f"Appl_No must be 6 digits, got {appl_no!r}")
    if len(product_no) != 3 or not (product_no.isdigit() and product_no.isascii()):
        raise ValueError(f"Product_No must be 3 digits, got {product_no!r}")


def _product(f: list[str]) -> Product:
    _check_keys(f[5], f[6], f[7])
    kind = f[12]
    if kind not in PRODUCT_TYPES:
        raise ValueError(f"Type must be one of {PRODUCT_TYPES}, got {kind!r}")
    pre_1982 = f[9] == PRE_1982
    trade = f[2]
    if trade[:1] == '"':
        trade = _unquote(trade)
    return _new(Product, (
        f[5], f[6], f[7], f[0], f[1], trade, f[3], f[13], f[4], f[8], None if pre_1982 else _date(f[9]),
        pre_1982, _yes_no(f[10], "RLD"), _yes_no(f[11], "RS"), kind,
    ))


def _patent(f: list[str]) -> Patent:
    _check_keys(f[0], f[1], f[2])
    number = f[3]
    ped = number.endswith(PED_SUFFIX)
    if ped:
        number = number[: -len(PED_SUFFIX)]
    if not number:
        raise ValueError("Patent_No is empty")
    return _new(Patent, (
        f[0], f[1], f[2], number, _date(f[4]), _flag(f[5], "Drug_Substance_Flag"),
        _flag(f[6], "Drug_Product_Flag"), f[7], _flag(f[8], "Delist_Flag"), _date(f[9]) if f[9] else None, ped,
    ))


def _exclusivity(f: list[str]) -> Exclusivity:
    _check_keys(f[0], f[1], f[2])
    if not f[3]:
        raise ValueError("Exclusivity_Code is empty")
    return _new(Exclusivity, (f[0], f[1], f[2], f[3], _date(f[4])))


T = TypeVar("T")


def _parse_file(
    text: str, file: str, header: tuple[str, ...], build: Callable[[list[str]], T], key_cols: tuple[int, ...],
    fast: Callable[[list[str]], T | None],
) -> tuple[list[T], list[OrangeBookRowError]]:
    lines = text.splitlines()  # handles CRLF, LF and a missing final newline alike
    if not lines or tuple(h.strip() for h in lines[0].lstrip("\ufeff").split("~")) != header:
        got = lines[0] if lines else ""
        raise DataError(f"{file}: header {got!r} is not the expected {'~'.join(header)!r}",
                        source=SOURCE, record_key=file)
    rows: list[T] = []
    errors: list[OrangeBookRowError] = []
    width = len(header)
    append = rows.append
    body = iter(lines)
    next(body)
    for line_no, line in enumerate(body, start=2):
        fields = line.split("~")
        # Stripping every field is slow and almost never needed: a line of the right width with
        # no whitespace next to a delimiter or at either end takes the fast path.
        if (len(fields) == width and "~ " not in line and " ~" not in line and "\t" not in line
                and line[0] != " " and line[-1] != " "):
            row = fast(fields)
            if row is not None:
                append(row)
                continue
        elif not line.strip():
            continue
        elif len(fields) != width:
            errors.append(OrangeBookRowError(
                f"expected {width} fields, found {len(fields)}", file=file, line_no=line_no, raw=line,
                record_key=_record_key(fields, key_cols)))
            continue
        else:
            fields = [v.strip() for v in fields]
        try:
            append(build(fields))
        except ValueError as exc:
            errors.append(OrangeBookRowError(str(exc), file=file, line_no=line_no, raw=line,
                                             record_key=_record_key(fields, key_cols)))
    return rows, errors


def _record_key(fields: list[str], key_cols: tuple[int, ...]) -> str:
    return "~".join(fields[i] for i in key_cols if i < len(fields))


def parse_products(text: str) -> tuple[list[Product], list[OrangeBookRowError]]:
    """Rows of products.txt and the rows that could not be read."""
    return _parse_file(text, "products.txt", PRODUCTS_HEADER, _product, (5, 6, 7), _product_fast)


def parse_patents(text: str) -> tuple[list[Patent], list[OrangeBookRowError]]:
    """Rows of patent.txt (all use-code rows kept) and the rows that could not be read."""
    return _parse_file(text, "patent.txt", PATENT_HEADER, _patent, (0, 1, 2, 3), _patent_fast)


def parse_exclusivities(text: str) -> tuple[list[Exclusivity], list[OrangeBookRowError]]:
    """Rows of exclusivity.txt (expired ones included) and the rows that could not be read."""
    return _parse_file(text, "exclusivity.txt", EXCLUSIVITY_HEADER, _exclusivity, (0, 1, 2, 3),
                       _exclusivity_fast)


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
    with gc_paused():
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
