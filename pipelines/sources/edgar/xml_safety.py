"""Safe parsing of untrusted EDGAR XML (ownership documents, Atom feeds).

defusedxml with DTDs forbidden outright: EDGAR never sends a DTD, so any DTD is either a
billion-laughs bomb or an external-entity probe, and we refuse it before any expansion happens.

Speed: defusedxml runs the pure-Python ElementTree parser, whose per-element callbacks cost
more than the parse itself. For documents without namespaces (ownership XML) `plain=True` uses
expat directly with the same guards defusedxml installs (DTD, entity declarations and external
references refused, raising defusedxml's own exceptions; parameter entities never parsed) and
hands elements straight to the C TreeBuilder: no Python code runs per element.
"""
from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from types import MappingProxyType
from typing import NoReturn
from xml.parsers import expat
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


def _refuse_dtd(name: str, sysid: str | None, pubid: str | None, has_internal_subset: int) -> NoReturn:
    raise defusedxml.DTDForbidden(name, sysid, pubid)


def _refuse_entity(name: str, is_parameter_entity: int, value: str | None, base: str | None,
                   sysid: str | None, pubid: str | None, notation_name: str | None) -> NoReturn:
    raise defusedxml.EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _refuse_unparsed_entity(name: str, base: str | None, sysid: str | None, pubid: str | None,
                            notation_name: str | None) -> NoReturn:
    raise defusedxml.EntitiesForbidden(name, None, base, sysid, pubid, notation_name)


def _refuse_external(context: str, base: str | None, sysid: str | None, pubid: str | None) -> NoReturn:
    raise defusedxml.ExternalReferenceForbidden(context, base, sysid, pubid)


def guarded_expat(builder: ET.TreeBuilder, names: Mapping[str, str] = MappingProxyType({})) -> expat.XMLParserType:
    """An expat parser with defusedxml's guards, feeding `builder` (the C TreeBuilder) directly.

    Entity and external-reference guards sit behind the DTD guard (declarations only occur
    inside a DTD); they stay installed so that no single handler is the only line of defence.
    `names` seeds expat's table of element and attribute names (see `parse_xml`); it is copied,
    as expat adds every new name it meets.
    """
    parser = expat.ParserCreate(None, "}", intern=dict(names))
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_unparsed_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.buffer_text = True  # one data call per text run, as ElementTree's own parser does
    parser.StartElementHandler = builder.start  # attributes arrive as a dict, as it expects
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    return parser


def _parse_plain(raw: bytes, names: Mapping[str, str]) -> ET.Element:
    """Guarded expat into the C TreeBuilder; expat errors come out as ET.ParseError.

    Element names come without the "{uri}" rewriting, so a namespaced element's tag reads
    "uri}local"; the root's is restored to "{uri}local" so callers can name the namespace.
    """
    builder = ET.TreeBuilder()
    try:
        guarded_expat(builder, names).Parse(raw, True)
    except expat.ExpatError as exc:
        error = ET.ParseError(str(exc))
        error.code, error.position = exc.code, (exc.lineno, exc.offset)
        raise error from None
    root: ET.Element = builder.close()
    if "}" in root.tag and not root.tag.startswith("{"):
        root.tag = "{" + root.tag
    return root


def parse_xml(raw: bytes, *, source: str = "", record_key: str = "", what: str = "XML",
              plain: bool = False, names: Mapping[str, str] = MappingProxyType({})) -> ET.Element:
    """Parse untrusted bytes into an Element; every failure is a DataError naming the cause.

    `plain=True` is the fast path for documents whose elements carry no namespace (see above).
    With it, `names` ({name: name} of interned strings) makes the tags of the tree the very
    string objects the caller looks them up with, so ElementTree's searches and dict look-ups
    match by identity instead of comparing characters.
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
        root: ET.Element = _parse_plain(raw, names) if plain else DET.fromstring(
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
