"""Editing recorded 13F information tables at the byte level, to build test quarters from them.

Tests derive new quarters (positions added, cut, renamed, turned into options) from the recorded
LTS One and Berkshire tables rather than writing XML by hand, so every row keeps the real files'
shape: namespace prefix or none, whitespace, field order.
"""
from __future__ import annotations

import re

BLOCK = re.compile(rb"\s*<(?:ns1:)?infoTable>.*?</(?:ns1:)?infoTable>", re.DOTALL)


def split(table: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(what comes before the rows, the rows, what comes after)."""
    blocks = [m.group(0) for m in BLOCK.finditer(table)]
    first, last = table.index(blocks[0]), table.rindex(blocks[-1]) + len(blocks[-1])
    return table[:first], blocks, table[last:]


def field(block: bytes, name: str) -> str:
    return re.search(rb"<(?:ns1:)?" + name.encode() + rb">([^<]*)<", block).group(1).decode()


def with_value(block: bytes, name: str, value: str) -> bytes:
    return re.sub(rb"(<(?:ns1:)?" + name.encode() + rb">)[^<]*(<)", rb"\g<1>" + value.encode() + rb"\g<2>", block)


def ns1(block: bytes) -> bytes:
    """A Berkshire row (default namespace) in LTS One's `ns1:` style."""
    return re.sub(rb"<(/?)([A-Za-z])", rb"<\1ns1:\2", block)
