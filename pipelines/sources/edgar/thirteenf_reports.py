"""13F reports over time: amendments applied point in time, and the quarter-over-quarter diff.

A manager's quarter is its original filing plus any amendments: a RESTATEMENT replaces the table, a
NEW HOLDINGS amendment adds rows. The diff (the Python one: SQLite's path, and the reference the SQL
diff in pipelines/thirteenf/diff_sql.py is tested against) folds rows into positions and compares two
consecutive quarters per position.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from pipelines.core.errors import DataError

from .thirteenf import AMENDMENT_TYPES, SOURCE, Holding, Report


@dataclass(frozen=True)
class PositionChange:
    cusip: str
    title_of_class: str
    put_call: str | None
    sh_prn_type: str
    name_of_issuer: str
    ticker: str | None
    mapped: bool
    status: str  # new | closed | increased | decreased | unchanged
    shares_prev: int
    shares_cur: int
    value_prev_usd: int
    value_cur_usd: int
    weight_cur: float  # share of the current report's total value
    rank_cur: int | None  # 1 = largest position by value in the current report
    rows_cur: int = field(default=0)  # infoTable rows folded into this position

    @property
    def shares_change(self) -> int:
        return self.shares_cur - self.shares_prev

    @property
    def shares_change_pct(self) -> float | None:
        return None if self.shares_prev == 0 else self.shares_change / self.shares_prev

    @property
    def value_change_usd(self) -> int:
        return self.value_cur_usd - self.value_prev_usd


def apply_amendment(base: Report, amendment: Report) -> Report:
    """The report as known once `amendment` is filed: RESTATEMENT replaces, NEW HOLDINGS adds rows."""
    a = amendment.cover
    key = amendment.accession or f"{a.filer_cik or ''}:{a.period.isoformat()}"
    if not a.is_amendment or a.amendment_type not in AMENDMENT_TYPES:
        raise DataError(f"13F filing is not an amendment with a known type (isAmendment={a.is_amendment}, "
                        f"amendmentType={a.amendment_type!r})", source=SOURCE, record_key=key)
    if a.period != base.cover.period:
        raise DataError(f"13F amendment is for period {a.period}, the report it amends is for "
                        f"{base.cover.period}", source=SOURCE, record_key=key)
    if None not in (a.filer_cik, base.cover.filer_cik) and a.filer_cik != base.cover.filer_cik:
        raise DataError(f"13F amendment filer CIK {a.filer_cik} differs from the amended report's "
                        f"{base.cover.filer_cik}", source=SOURCE, record_key=key)
    if amendment.filed < base.filed:
        raise DataError(f"13F amendment filed {amendment.filed} before the report it amends ({base.filed})",
                        source=SOURCE, record_key=key)
    sources = base.sources + tuple(s for s in amendment.sources if s not in base.sources)
    if a.amendment_type == "RESTATEMENT":
        return replace(amendment, sources=sources)
    return replace(base, holdings=base.holdings + amendment.holdings, filed=amendment.filed,
                   accession=amendment.accession or base.accession, sources=sources)


def report_as_of(filings: Iterable[Report], as_of: date) -> Report | None:
    """Point-in-time view of one manager's period: filings visible on `as_of`, amendments applied in order."""
    view = report_parts_as_of(filings, as_of)
    return view[0] if view is not None else None


def report_parts_as_of(filings: Iterable[Report], as_of: date) -> tuple[Report, tuple[Report, ...]] | None:
    """`report_as_of`, with the filings whose rows the view holds, in the view's row order: a view
    computed in SQL reads those filings' stored rows (the Reports may then come without holdings)."""
    visible = sorted((f for f in filings if f.filed <= as_of), key=lambda f: (f.filed, f.cover.is_amendment))
    current: Report | None = None
    parts: tuple[Report, ...] = ()
    for filing in visible:
        if current is None or not filing.cover.is_amendment:
            current, parts = filing, (filing,)
        else:
            current = apply_amendment(current, filing)  # checks the amendment; a RESTATEMENT replaces the rows
            parts = (filing,) if filing.cover.amendment_type == "RESTATEMENT" else parts + (filing,)
    return (current, parts) if current is not None else None


@dataclass
class _Position:
    name: str
    shares: int = 0
    value: int = 0
    rows: int = 0


_PosKey = tuple[str, str | None, str, str]


def _aggregate(holdings: Iterable[Holding]) -> dict[_PosKey, _Position]:
    # sh_prn_type joins the key only so share counts and principal amounts are never summed together.
    positions: dict[_PosKey, _Position] = {}
    for h in holdings:
        pos = positions.setdefault((h.cusip, h.put_call, h.title_of_class, h.sh_prn_type), _Position(h.name_of_issuer))
        pos.shares += h.shares_or_principal
        pos.value += h.value_usd
        pos.rows += 1
    return positions


def diff_quarters(prev: Report | None, cur: Report, *,
                  tickers: Mapping[str, str] | None = None) -> list[PositionChange]:
    """Per-position changes from `prev` to `cur` (pass None only when the manager filed no earlier report).

    Rows are first aggregated by (CUSIP, put/call, class); the status follows shares, not value,
    because value moves with price and changed units in 2023.
    """
    if prev is not None and prev.cover.period >= cur.cover.period:
        raise ValueError(f"previous 13F period {prev.cover.period} is not before {cur.cover.period}")
    tickers = tickers or {}
    before = _aggregate(prev.holdings) if prev is not None else {}
    after = _aggregate(cur.holdings)
    total = sum(p.value for p in after.values())
    ranks = {k: i for i, k in enumerate(sorted(after, key=lambda k: (-after[k].value, k[0])), start=1)}
    changes = []
    for k in sorted(before.keys() | after.keys(), key=lambda k: (k[0], k[1] or "", k[2], k[3])):
        old, new = before.get(k), after.get(k)
        if old is None:
            status = "new"
        elif new is None:
            status = "closed"
        else:
            status = ("increased" if new.shares > old.shares else
                      "decreased" if new.shares < old.shares else "unchanged")
        cusip = k[0]
        either = new if new is not None else old
        changes.append(PositionChange(
            cusip=cusip, title_of_class=k[2], put_call=k[1], sh_prn_type=k[3],
            name_of_issuer=either.name if either is not None else "",
            ticker=tickers.get(cusip), mapped=cusip in tickers, status=status,
            shares_prev=old.shares if old else 0, shares_cur=new.shares if new else 0,
            value_prev_usd=old.value if old else 0, value_cur_usd=new.value if new else 0,
            weight_cur=(new.value / total) if new and total else 0.0, rank_cur=ranks.get(k),
            rows_cur=new.rows if new else 0,
        ))
    return changes
