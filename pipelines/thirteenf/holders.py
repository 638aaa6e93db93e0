"""Who holds a security: every manager's position in it, quarter over quarter, as known on a date.

Each manager counts with the latest version of its report for the quarter recorded on or before
`as_of` (amendments apply point in time, as in the diff), and only versions diffed against a
previous quarter have positions to show. A security is named by its ticker (only CUSIPs whose
issuer name mapped to one have it) or by its CUSIP.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from .models import ThirteenFPositionChange as Chg
from .models import ThirteenFReport as Rep

_CUSIP = re.compile(r"[0-9A-Z]{9}")


@dataclass(frozen=True)
class Holder:
    cik: int
    manager: str
    as_of: date  # the version's filing date
    link: str
    change: Chg


def latest_versions(session: Session, period: date, as_of: date, ciks: Sequence[int] | None = None) -> dict[int, Rep]:
    """report id -> each manager's latest diffed version of `period` recorded on or before `as_of`."""
    latest = select(Rep.cik, func.max(Rep.as_of).label("as_of")).where(Rep.period == period, Rep.as_of <= as_of)
    if ciks is not None:
        latest = latest.where(Rep.cik.in_(list(ciks)))
    sub = latest.group_by(Rep.cik).subquery()
    return {r.id: r for r in session.scalars(select(Rep).join(sub, (Rep.cik == sub.c.cik) & (Rep.as_of == sub.c.as_of))
                                             .where(Rep.period == period, Rep.diff_state == "diffed"))}


def security_filter(security: str) -> ColumnElement[bool]:
    """The change rows of `security`: a 9-character code with a digit is a CUSIP, anything else a ticker."""
    key = security.strip().upper()
    if _CUSIP.fullmatch(key) and any(ch.isdigit() for ch in key):
        return Chg.cusip == key
    return Chg.ticker == key


def holders(session: Session, security: str, *, period: date | None = None, as_of: date,
            options: bool = False) -> tuple[date | None, list[Holder]]:
    """(the quarter shown, each manager's position in `security`, largest value first, closed last).

    Without `period`, the latest quarter in which any manager's version shows the security. Share and
    principal rows only, unless `options` (put and call rows too)."""
    periods = [period] if period is not None else list(session.scalars(
        select(Rep.period).where(Rep.as_of <= as_of, Rep.diff_state == "diffed").distinct()
        .order_by(Rep.period.desc())))
    where = security_filter(security)
    for quarter in periods:
        reports = latest_versions(session, quarter, as_of)
        if not reports:
            continue
        q = select(Chg).where(Chg.report_id.in_(list(reports)), where)
        if not options:
            q = q.where(Chg.put_call == "")
        rows = list(session.scalars(q))
        if rows or period is not None:
            found = [Holder(reports[c.report_id].cik, reports[c.report_id].manager_name, reports[c.report_id].as_of,
                            reports[c.report_id].link, c) for c in rows]
            found.sort(key=lambda h: (h.change.status == "closed", -h.change.value_cur_usd, h.manager, h.cik))
            return quarter, found
    return None, []
