"""Safe parsing of untrusted EDGAR XML (ownership documents, Atom feeds).

defusedxml with DTDs forbidden outright: EDGAR never sends a DTD, so any DTD is either a
billion-laughs bomb or an external-entity probe, and we refuse it before any expansion happens.

Speed: defusedxml runs the pure-Python ElementTree parser, whose per-element callbacks cost
more than the parse itself. For documents without namespaces (ownership XML) `plain=True`
keeps defusedxml's parser and its DTD/entity/external-reference guards, but hands elements
straight to the C TreeBuilder, which halves the parse time of a Form 4.
"""
from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from xml.parsers.expat import ErrorString

import defusedxml
import defusedxml.ElementTree as DET

from pipelines.core.errors import DataError

_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def declared_encoding(raw: bytes) -> str:
    """The encoding a document declares (BOM first, then the XML declaration); UTF-8 if neither."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    match = _DECLARED_ENCODING.match(raw[:200])
    return match.group(1).decode("ascii") if match else "utf-8"


def _parse_plain(raw: bytes) -> ET.Element:
    """defusedxml's parser (its guards installed) with the C TreeBuilder bound directly to expat.

    Element names come without the "{uri}" rewriting, so a namespaced element's tag reads
    "uri}local"; the root's is restored to "{uri}local" so callers can name the namespace.
    """
    builder = ET.TreeBuilder()
    parser = DET.DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    expat = parser.parser
    expat.ordered_attributes = False  # the C TreeBuilder takes attributes as a dict
    expat.StartElementHandler = builder.start
    expat.EndElementHandler = builder.end
    expat.CharacterDataHandler = builder.data
    parser.feed(raw)
    root: ET.Element = parser.close()
    if "}" in root.tag and not root.tag.startswith("{"):
        root.tag = "{" + root.tag
    return root


def parse_xml(raw: bytes, *, source: str = "", record_key: str = "", what: str = "XML",
              plain: bool = False) -> ET.Element:
    """Parse untrusted bytes into an Element; every failure is a DataError naming the cause.

    `plain=True` is the fast path for documents whose elements carry no namespace (see above).
    """
    if not raw or not raw.strip():
        raise DataError(f"{what}: empty payload", source=source, record_key=record_key)
    encoding = declared_encoding(raw)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(
            f"{what}: unknown declared encoding {encoding!r}", source=source, record_key=record_key
        ) from None
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        # Checked up front because expat only says "invalid token", which reads like a syntax error.
        raise DataError(
            f"{what}: bytes are not valid {encoding} (declared or default encoding): "
            f"byte 0x{raw[exc.start]:02x} at offset {exc.start}",
            source=source,
            record_key=record_key,
        ) from None
    try:
        root: ET.Element = _parse_plain(raw) if plain else DET.fromstring(
            raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden as exc:
        raise DataError(
            f"{what}: document type declaration (DTD {exc.name!r}) refused; entity definitions "
            "could expand (XML bomb) or read external resources",
            source=source,
            record_key=record_key,
        ) from None
    except defusedxml.EntitiesForbidden as exc:
        raise DataError(
            f"{what}: entity declaration {exc.name!r} refused (possible XML bomb)",
            source=source,
            record_key=record_key,
        ) from None
    except defusedxml.DefusedXmlException as exc:
        raise DataError(
            f"{what}: external reference refused ({exc})", source=source, record_key=record_key
        ) from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise DataError(
            f"{what}: malformed or truncated XML at line {line}, column {column}: {ErrorString(exc.code)}",
            source=source,
            record_key=record_key,
        ) from None
    return root
