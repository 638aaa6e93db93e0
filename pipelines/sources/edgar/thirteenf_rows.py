"""The rows of a scanned information table, kept as the scanner's text columns.

Loading a quarter needs three things from a table: its row count, its value total (the cover check)
and its rows as text (the COPY). All three come straight from the columns the regex scan produced,
so the fast path makes no Holding objects at all; they are built, all at once and exactly as before,
the first time anything indexes or iterates the rows.
"""
from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, NamedTuple, overload

from .thirteenf import Holding, value_multiplier

_DISCRETION = {"SOLE": "SOLE", "DFND": "DFND", "OTR": "OTR", "sole": "SOLE", "dfnd": "DFND", "otr": "OTR",
               "Sole": "SOLE", "Dfnd": "DFND", "Otr": "OTR"}
_PUT_CALL = {None: None, "Put": "Put", "Call": "Call", "PUT": "Put", "CALL": "Call", "put": "Put", "call": "Call"}
_SH_PRN = {"SH": "SH", "PRN": "PRN", "sh": "SH", "prn": "PRN", "Sh": "SH", "Prn": "PRN"}
_NO_MANAGERS: tuple[int, ...] = ()
_SPLIT = re.compile(r"[,\s]+")
_LEADING_ZERO = re.compile(r"\n0[0-9]")  # starts with a literal, so the regex engine skips ahead by memchr


class TextColumns(NamedTuple):
    """A table's fields, one list per Holding field, each value the text `str()` gives for the field
    (`put_call` keeps None; `other_managers` is the numbers joined by commas, "4,8,11")."""

    row: Sequence[str]
    name_of_issuer: Sequence[str]
    title_of_class: Sequence[str]
    cusip: Sequence[str]
    value_usd: Sequence[str]
    shares_or_principal: Sequence[str]
    sh_prn_type: Sequence[str]
    put_call: Sequence[str | None]
    investment_discretion: Sequence[str]
    other_managers: Sequence[str]
    voting_sole: Sequence[str]
    voting_shared: Sequence[str]
    voting_none: Sequence[str]


def _canonical(digits: list[str]) -> list[str]:
    """Digit runs as str(int()) writes them: the scan only ever captured [0-9]+, so only a leading zero differs."""
    if _LEADING_ZERO.search("\n" + "\n".join(digits)) is None:
        return digits
    return [str(int(d)) for d in digits]


class ScannedRows(Sequence[Holding]):
    """A scanned table's rows: the regex groups per field (names and titles already stripped and unescaped)."""

    def __init__(self, columns: list[list[Any]], filed: date) -> None:
        (self._names, self._titles, self._cusips, self._values, self._amounts, self._sh_prns, self._put_calls,
         self._discretions, self._others, self._soles, self._shareds, self._nones) = columns
        self.filed = filed
        self._multiplier = value_multiplier(filed)
        self._holdings: list[Holding] | None = None
        self._value_units: list[int] | None = None

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, index: int) -> Holding: ...

    @overload
    def __getitem__(self, index: slice) -> list[Holding]: ...

    def __getitem__(self, index: int | slice) -> Holding | list[Holding]:
        return self.holdings()[index]

    def __iter__(self) -> Iterator[Holding]:
        return iter(self.holdings())

    def __eq__(self, other: object) -> bool:
        # Compares like the list of Holdings it stands for (parse_infotable used to return one).
        if isinstance(other, ScannedRows):
            other = other.holdings()
        return self.holdings() == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

    def __repr__(self) -> str:
        return f"ScannedRows({len(self)} rows, filed {self.filed})"

    def value_total(self) -> int:
        return sum(self._units()) * self._multiplier

    def _units(self) -> list[int]:
        """The values as filed (thousands before 2023-01-03), as ints: converted once, for the cover
        check and then the filing's figures."""
        if self._value_units is None:
            self._value_units = list(map(int, self._values))
        return self._value_units

    def share_position_values(self) -> list[int]:
        """Each CUSIP's dollar value summed over its rows without put/call (the manager screen's
        positions, as scoring.institutional.share_values sums Holdings), in no particular order."""
        m, units = self._multiplier, self._units()
        shares = {p: _PUT_CALL[p] is None for p in set(self._put_calls)}
        written = "".join(self._cusips)
        if all(shares.values()) and len(set(self._cusips)) == len(self) and written == written.upper():
            # The usual table: every row a share position of its own CUSIP (told apart as written, as
            # none is in lower case); no per-row Python code.
            return units if m == 1 else [v * m for v in units]
        by_cusip: dict[str, int] = {}
        for cusip, value, put_call in zip(map(str.upper, self._cusips), units, self._put_calls, strict=True):
            if shares[put_call]:
                by_cusip[cusip] = by_cusip.get(cusip, 0) + value * m
        return list(by_cusip.values())

    def _managers(self) -> dict[str | None, tuple[int, ...]]:
        # A table repeats a handful of manager lists ("4", "4,8,11"): each distinct text is parsed once.
        return {m: tuple(int(x) for x in _SPLIT.split(m) if x) if m else _NO_MANAGERS for m in set(self._others)}

    def text_columns(self) -> TextColumns:
        """Every field as text, without building a Holding."""
        values = (_canonical(self._values) if self._multiplier == 1
                  else [str(int(v) * self._multiplier) for v in self._values])
        lists = {m: ",".join(map(str, t)) for m, t in self._managers().items()}
        return TextColumns(
            row=list(map(str, range(1, len(self) + 1))), name_of_issuer=self._names, title_of_class=self._titles,
            cusip=list(map(str.upper, self._cusips)), value_usd=values, shares_or_principal=_canonical(self._amounts),
            sh_prn_type=list(map(_SH_PRN.__getitem__, self._sh_prns)),
            put_call=list(map(_PUT_CALL.__getitem__, self._put_calls)),
            investment_discretion=list(map(_DISCRETION.__getitem__, self._discretions)),
            other_managers=list(map(lists.__getitem__, self._others)), voting_sole=_canonical(self._soles),
            voting_shared=_canonical(self._shareds), voting_none=_canonical(self._nones))

    def holdings(self) -> list[Holding]:
        """The rows as Holdings, built on first use."""
        if self._holdings is None:
            # Each row allocates two tracked objects (the Holding and its dict) that are never cyclic
            # garbage; left on, the cyclic collector would walk every live object again and again as
            # a large table grows, which cost a third of the build.
            collecting = gc.isenabled()
            gc.disable()
            try:
                self._holdings = self._build()
            finally:
                if collecting:
                    gc.enable()
        return self._holdings

    def _build(self) -> list[Holding]:
        # Column by column: each conversion runs as one map() in C instead of a call per row and field.
        filed, multiplier = self.filed, self._multiplier
        dollars = map(int, self._values) if multiplier == 1 else (int(v) * multiplier for v in self._values)
        managers = map(self._managers().__getitem__, self._others)
        new, set_dict = object.__new__, object.__setattr__
        holdings: list[Holding] = []
        append = holdings.append
        for row, (name, title, cusip, value, amount, sh_prn, put_call, discretion, manager, sole, shared,
                  none) in enumerate(zip(self._names, self._titles, map(str.upper, self._cusips), dollars,
                                         map(int, self._amounts), map(_SH_PRN.__getitem__, self._sh_prns),
                                         map(_PUT_CALL.__getitem__, self._put_calls),
                                         map(_DISCRETION.__getitem__, self._discretions), managers,
                                         map(int, self._soles), map(int, self._shareds), map(int, self._nones),
                                         strict=True), 1):
            h = new(Holding)
            # The values Holding(...) would store, without its frozen __setattr__ call per field.
            set_dict(h, "__dict__", {
                "name_of_issuer": name, "title_of_class": title, "cusip": cusip, "value_usd": value,
                "shares_or_principal": amount, "sh_prn_type": sh_prn, "put_call": put_call,
                "investment_discretion": discretion, "other_managers": manager, "voting_sole": sole,
                "voting_shared": shared, "voting_none": none, "filed": filed, "row": row})
            append(h)
        return holdings
