"""Fast path for 13F information tables: compiled regular expressions over the decoded text.

An EDGAR information table is millions of near-identical rows; expat with a Python callback per
element spends most of a quarter's load in those callbacks. `scan_infotable` reads the plain shape
the SEC's own schema produces (an optional XML declaration, one root, `infoTable` rows with the
schema's elements in schema order, text and the five predefined or numeric character references,
one namespace prefix throughout) and answers None for anything else, so the caller parses with
expat instead. It never decides that a row or document is bad: a row it cannot turn into a valid
Holding makes the whole document go to expat, so error messages, quarantined bytes and the rows kept
are exactly the expat path's. Documents with any `<!` (DOCTYPE, ENTITY, comments, CDATA) are never
scanned: entity declarations only ever reach defusedxml, which refuses them.
"""
from __future__ import annotations

import re
from datetime import date

from .thirteenf_rows import ScannedRows

# XML white space only (\s would also take \f and \v, which XML forbids); possessive, since nothing that
# follows it starts with white space, which spares the regex engine its backtracking bookkeeping.
_W = r"[ \t\r\n]*+"
# Character data without markup, without characters XML forbids (expat would reject them) and without
# \r (expat turns \r and \r\n into \n inside text; rows carrying one go to expat).
_CHARS = r"[^<&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
_REF = r"&(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});"
_TEXT = rf"({_CHARS}*(?:{_REF}{_CHARS}*)*)"
# Names and titles, the longest fields, are captured with one cheap class per character instead (that
# spares the regex engine about a third of its work) and `_text_ok` then refuses in them what _TEXT
# would have: a character XML forbids, \r, or an "&" that starts no reference.
_LOOSE_TEXT = r"([^<]*)"
_NOT_TEXT = re.compile(rf"[\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|&(?!{_REF[1:]})")
_MANAGERS = "([0-9, \t\r\n]{0,1000})"
_NAME = r"[A-Za-z_][A-Za-z0-9._-]*"
_ATTR_CHARS = r"<&\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"
_ATTR = re.compile(rf"[ \t\r\n]+({_NAME}(?::{_NAME})?)[ \t\r\n]*=[ \t\r\n]*"
                   rf"(?:\"([^\"{_ATTR_CHARS}]*)\"|'([^'{_ATTR_CHARS}]*)')")
_HEAD = re.compile(
    rf"\ufeff?(?:<\?xml[ \t\r\n]+version{_W}={_W}([\"'])1\.0\1"
    rf"(?:[ \t\r\n]+encoding{_W}={_W}([\"'])(?:[Uu][Tt][Ff]-8)\2)?"
    rf"(?:[ \t\r\n]+standalone{_W}={_W}([\"'])(?:yes|no)\3)?{_W}\?>)?{_W}"
    rf"<(?:({_NAME}):)?informationTable((?:[ \t\r\n]+{_NAME}(?::{_NAME})?{_W}={_W}(?:\"[^\"]*\"|'[^']*'))*){_W}>")
_RESERVED_URIS = frozenset({"http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/"})
_ROW_CACHE: dict[str, re.Pattern[str]] = {}
_CACHED_PREFIXES = 16  # EDGAR uses two or three; a stream of odd prefixes must not grow the caches forever
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_REFS = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));")  # _REF, with groups


class _NotPlain(Exception):
    """Something the scanner leaves to expat: a character reference XML forbids, a row without a name."""


def _row_pattern(prefix: str) -> re.Pattern[str]:
    pattern = _ROW_CACHE.get(prefix)
    if pattern is not None:
        return pattern
    p = f"{re.escape(prefix)}:" if prefix else ""  # a prefix may hold ".", which a pattern reads as any character

    def leaf(name: str, body: str) -> str:
        return f"<{p}{name}>{body}</{p}{name}>{_W}"

    def number(name: str) -> str:  # a bounded digit run: int() refuses strings of thousands of digits
        return leaf(name, f"{_W}([0-9]{{1,30}}){_W}")

    def word(name: str, choices: str) -> str:
        return leaf(name, f"{_W}({choices}){_W}")

    source = (
        f"{_W}<{p}infoTable>{_W}"
        + leaf("nameOfIssuer", _LOOSE_TEXT) + leaf("titleOfClass", _LOOSE_TEXT)
        + leaf("cusip", f"{_W}([0-9A-Za-z]{{9}}){_W}")
        + f"(?:{leaf('figi', _TEXT.replace('(', '(?:', 1))})?"
        + number("value")
        + f"<{p}shrsOrPrnAmt>{_W}" + number("sshPrnamt") + word("sshPrnamtType", "SH|PRN|sh|prn|Sh|Prn")
        + f"</{p}shrsOrPrnAmt>{_W}"
        + f"(?:{word('putCall', 'Put|Call|PUT|CALL|put|call')})?"
        + word("investmentDiscretion", "SOLE|DFND|OTR|sole|dfnd|otr|Sole|Dfnd|Otr")
        + f"(?:{leaf('otherManager', _MANAGERS)})?"
        + f"<{p}votingAuthority>{_W}" + number("Sole") + number("Shared") + number("None")
        + f"</{p}votingAuthority>{_W}</{p}infoTable>"
    )
    pattern = re.compile(source)
    if len(_ROW_CACHE) < _CACHED_PREFIXES:
        _ROW_CACHE[prefix] = pattern
    return pattern


def _ref(m: re.Match[str]) -> str:
    named, decimal, hexadecimal = m.groups()
    if named is not None:
        return _NAMED[named]
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF:
        return chr(code)
    raise _NotPlain(m.group())


def _unescape(text: str) -> str:
    return _REFS.sub(_ref, text) if "&" in text else text


def _root_ok(prefix: str | None, attrs: str) -> bool:
    """The root's attributes are ones expat accepts: unique, namespace declarations sound, prefixes bound."""
    declared: set[str] = set()
    seen: set[str] = set()
    prefixed: list[str] = []
    pos = 0
    for m in _ATTR.finditer(attrs):
        if m.start() != pos:
            return False
        pos = m.end()
        name, value = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
        local = name.rpartition(":")[2]
        if name in seen or (not name.startswith("xmlns") and local in seen):
            return False
        seen.update((name, local) if not name.startswith("xmlns") else (name,))
        if value in _RESERVED_URIS:
            return False
        if name.startswith("xmlns:"):
            bound = name[6:]
            if bound.lower().startswith("xml") or not value:
                return False
            declared.add(bound)
        elif name == "xmlns" or ":" not in name:
            if name.lower().startswith("xml") and name != "xmlns":
                return False
        else:
            prefixed.append(name.partition(":")[0])
    if pos != len(attrs.rstrip(" \t\r\n")):
        return False
    return (prefix is None or prefix in declared) and all(p in declared for p in prefixed)


def scan_infotable(raw: bytes, filed: date) -> ScannedRows | None:
    """The holdings of a plain, valid information table; None when expat must read it instead."""
    # A one-byte memchr first: the two-byte searches are slow on text full of '<'.
    if (b"!" in raw and b"<!" in raw) or (b"]" in raw and b"]]>" in raw):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = _HEAD.match(text)
    if head is None or not _root_ok(head.group(4), head.group(5)):
        return None
    prefix = head.group(4) or ""
    end = text.rfind(f"</{prefix + ':' if prefix else ''}informationTable>")
    if end < head.end() or (_TAIL.get(prefix) or _tail(prefix)).match(text, end) is None:
        return None
    # split() hands back each row's groups and whatever lies between rows in one C pass; rows must
    # follow one another with nothing but white space around them.
    parts = _row_pattern(prefix).split(text[head.end():end])
    between = parts[0::_GROUPS + 1]
    if between[-1].strip(" \t\r\n") or any(between[:-1]) or not _text_ok(parts):
        return None
    try:
        return _rows(parts, filed, "&" in text)
    except _NotPlain:
        return None


_GROUPS = 12


def _text_ok(parts: list[str]) -> bool:
    """Whether the names and titles `_LOOSE_TEXT` captured are all text `_TEXT` would have taken."""
    captured = "".join(parts[1::_GROUPS + 1]) + "".join(parts[2::_GROUPS + 1])
    if captured.isprintable() and "&" not in captured:  # the usual table: one C pass decides
        return True
    return _NOT_TEXT.search(captured) is None


_TAIL: dict[str, re.Pattern[str]] = {}


def _tail(prefix: str) -> re.Pattern[str]:
    pattern = re.compile(rf"</{re.escape(prefix) + ':' if prefix else ''}informationTable>{_W}\Z")
    if len(_TAIL) < _CACHED_PREFIXES:
        _TAIL[prefix] = pattern
    return pattern


def _rows(parts: list[str], filed: date, refs: bool) -> ScannedRows:
    step = _GROUPS + 1
    columns = [parts[k::step] for k in range(1, step)]
    strip = str.strip
    names, titles = columns[0], columns[1]
    if refs:
        names, titles = [strip(_unescape(t)) for t in names], [strip(_unescape(t)) for t in titles]
    else:
        names, titles = list(map(strip, names)), list(map(strip, titles))
    if not all(names):
        raise _NotPlain("nameOfIssuer")  # expat's path reports the missing name
    columns[0], columns[1] = names, titles
    return ScannedRows(columns, filed)
