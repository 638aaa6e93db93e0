"""Patent-cliff calendar outputs: CSV, an iCalendar feed of LOE dates, and a self-contained HTML report."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

import icalendar

from .calendar import CalendarEntry, add_months, months_to_loe

CSV_COLUMNS = (
    "appl_no", "product_no", "trade_name", "ingredient", "df_route", "strength", "applicant",
    "applicant_full_name", "type", "last_patent_expiry", "last_patent_no", "last_ds_dp_patent_expiry",
    "last_exclusivity_expiry", "last_exclusivity_code", "effective_loe", "loe_source", "months_to_loe",
    "ped_applied", "patent_count", "generic_count", "generic_te_codes", "score",
)
UID_DOMAIN = "investment-signals"
HORIZON_MONTHS = 36


def _d(value: date | None) -> str:
    return value.isoformat() if value else ""


def _strength(e: CalendarEntry) -> str:
    # FDA appends notes to Strength ("1% **Federal Register determination ...**"); they are not the strength.
    return e.strength.split("**", 1)[0].strip()


def calendar_to_csv(entries: Iterable[CalendarEntry], as_of: date,
                    scores: Mapping[tuple[str, str], float] | None = None) -> str:
    """The calendar as CSV, one row per NDA product; `scores` keyed by (appl_no, product_no)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        months = months_to_loe(e.effective_loe, as_of)
        score = (scores or {}).get((e.appl_no, e.product_no))
        writer.writerow([
            e.appl_no, e.product_no, e.trade_name, e.ingredient, e.df_route, e.strength, e.applicant,
            e.applicant_full_name, e.type, _d(e.last_patent_expiry), e.last_patent_no,
            _d(e.last_ds_dp_patent_expiry), _d(e.last_exclusivity_expiry), e.last_exclusivity_code,
            _d(e.effective_loe), e.loe_source, "" if months is None else months,
            "Y" if e.ped_applied else "N", e.patent_count, e.generic_count,
            " ".join(sorted({g.te_code for g in e.generics if g.te_code})),
            "" if score is None else f"{score:g}",
        ])
    return buf.getvalue()


def loe_uid(e: CalendarEntry) -> str:
    """Stable iCalendar UID of a product's LOE event: feed readers update it in place when dates move."""
    return f"orange-book-loe-{e.appl_no}-{e.product_no}@{UID_DOMAIN}"


def calendar_to_ical(entries: Iterable[CalendarEntry], *, generated_at: datetime) -> bytes:
    """An iCalendar feed with one all-day event per product that has an effective LOE date."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//investment-signals//Orange Book LOE calendar//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Orange Book loss of exclusivity")
    for e in entries:
        if e.effective_loe is None:
            continue
        ev = icalendar.Event()
        ev.add("uid", loe_uid(e))
        ev.add("dtstamp", generated_at)
        ev.add("dtstart", e.effective_loe)
        ev.add("dtend", e.effective_loe + timedelta(days=1))
        ev.add("summary", f"LOE: {e.trade_name} {_strength(e)} (NDA {e.appl_no}/{e.product_no})")
        ev.add("description", "\n".join([
            f"{e.ingredient}; {e.df_route}; {e.applicant_full_name}",
            f"Set by {e.loe_source}.",
            (f"Last patent expiry: {_d(e.last_patent_expiry) or 'none'}; DS/DP: "
             f"{_d(e.last_ds_dp_patent_expiry) or 'none'}; "
             f"last exclusivity: {_d(e.last_exclusivity_expiry) or 'none'}."),
            f"Pediatric exclusivity: {'yes' if e.ped_applied else 'no'}; marketed generics: {e.generic_count}.",
        ]))
        ev.add("categories", ["patent-cliff"])
        ev.add("transp", "TRANSPARENT")
        cal.add_component(ev)
    return cal.to_ical()


@dataclass(frozen=True)
class _Row:
    """One timeline row: the strengths of a brand that lose exclusivity on the same day."""

    trade_name: str
    strengths: str
    applicant: str
    loe: date
    source: str
    months: float


def _timeline_rows(entries: Iterable[CalendarEntry], as_of: date, end: date) -> list[_Row]:
    groups: dict[tuple[str, str, date], list[CalendarEntry]] = defaultdict(list)
    for e in entries:
        if e.effective_loe and as_of <= e.effective_loe <= end:
            groups[(e.trade_name, e.applicant, e.effective_loe)].append(e)
    rows = [_Row(name, ", ".join(dict.fromkeys(_strength(e) for e in es)), applicant, loe,
                 "; ".join(dict.fromkeys(e.loe_source for e in es)), months_to_loe(loe, as_of) or 0.0)
            for (name, applicant, loe), es in groups.items()]
    return sorted(rows, key=lambda r: (r.loe, r.trade_name))


def _band(months: float) -> tuple[str, str]:
    for limit, colour, label in ((6, "#c0392b", "≤ 6 months"), (12, "#e67e22", "≤ 12 months"),
                                 (24, "#d4ac0d", "≤ 24 months")):
        if months <= limit:
            return colour, label
    return "#5d8aa8", "≤ 36 months"


def _dated(d: date | None, what: str) -> str:
    if d is None:
        return ""
    note = f'<br><small>{escape(what)}</small>' if what else ""
    return f'<span class="d">{d.isoformat()}</span>{note}'


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def timeline_svg(entries: Sequence[CalendarEntry], as_of: date, months: int = HORIZON_MONTHS) -> str:
    """Inline SVG of the effective LOE dates between `as_of` and `as_of + months`."""
    end = add_months(as_of, months)
    rows = _timeline_rows(entries, as_of, end)
    left, right, top, row_h, width = 300, 190, 46, 34, 1200
    plot_w = width - left - right
    height = top + max(len(rows), 1) * row_h + 40
    span = (end - as_of).days

    def x(d: date) -> float:
        return left + plot_w * (d - as_of).days / span

    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="Loss-of-exclusivity timeline">'),
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>']
    for n in range(0, len(rows), 2):
        out.append(f'<rect x="0" y="{top + n * row_h}" width="{width}" height="{row_h}" fill="#f4f6f8"/>')
    for i in range(months + 1):
        tick = add_months(as_of, i)
        tx = x(tick)
        strong = tick.month == 1
        out.append(f'<line x1="{tx:.1f}" y1="{top - 8}" x2="{tx:.1f}" y2="{height - 30}" '
                   f'stroke="{"#b0b7bf" if strong else "#eceff2"}" stroke-width="{1.5 if strong else 1}"/>')
        if i % 3 == 0:
            out.append(f'<text x="{tx:.1f}" y="{top - 14}" text-anchor="middle" class="tick">'
                       f'{tick.strftime("%b %Y")}</text>')
    out.append(f'<line x1="{left}" y1="{top - 8}" x2="{left}" y2="{height - 30}" stroke="#333" stroke-width="2"/>')
    out.append(f'<text x="{left}" y="{height - 12}" text-anchor="middle" class="tick">as of {as_of.isoformat()}</text>')
    if not rows:
        out.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + 22}" text-anchor="middle" class="label">'
                   f'No effective LOE dates in the next {months} months</text>')
    for n, r in enumerate(rows):
        y = top + n * row_h + row_h / 2
        colour, band = _band(r.months)
        lx = x(r.loe)
        out.append(f'<text x="{left - 12}" y="{y - 2:.1f}" text-anchor="end" class="label">'
                   f'{escape(_clip(r.trade_name, 30))}</text>')
        out.append(f'<text x="{left - 12}" y="{y + 11:.1f}" text-anchor="end" class="sub">'
                   f'{escape(_clip(r.strengths + " · " + r.applicant, 44))}</text>')
        out.append(f'<rect x="{left}" y="{y - 5:.1f}" width="{max(lx - left, 1):.1f}" height="10" rx="3" '
                   f'fill="{colour}" opacity="0.35"><title>{escape(band)}</title></rect>')
        out.append(f'<circle cx="{lx:.1f}" cy="{y:.1f}" r="7" fill="{colour}" stroke="#fff" stroke-width="2">'
                   f'<title>{escape(r.trade_name)}: {r.loe.isoformat()} ({escape(r.source)})</title></circle>')
        out.append(f'<text x="{lx + 12:.1f}" y="{y - 2:.1f}" class="label">{r.loe:%b} {r.loe.day}, {r.loe.year}'
                   f' · {r.months:.1f} mo</text>')
        out.append(f'<text x="{lx + 12:.1f}" y="{y + 11:.1f}" class="sub">{escape(_clip(r.source, 30))}</text>')
    out.append("</svg>")
    return "\n".join(out)


_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px 32px;color:#1f2933}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
p.meta{color:#52606d;margin:0 0 16px;font-size:13px}
svg .tick{font-size:11px;fill:#52606d}svg .label{font-size:12.5px;fill:#1f2933;font-weight:600}
svg .sub{font-size:10.5px;fill:#616e7c}
.legend span{display:inline-block;margin-right:16px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:5px;vertical-align:-1px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #e4e7eb;padding:4px 6px;text-align:left;vertical-align:top}
span.d{white-space:nowrap}small{color:#616e7c}
th{background:#f5f7fa;position:sticky;top:0}td.num{text-align:right}tr.soon td{background:#fdf2e9}
"""


def calendar_to_html(entries: Sequence[CalendarEntry], as_of: date, *,
                     scores: Mapping[tuple[str, str], float] | None = None,
                     months: int = HORIZON_MONTHS, title: str = "Orange Book patent-cliff calendar") -> str:
    """A self-contained HTML report (inline CSS and SVG, no scripts) with the timeline and a table."""
    end = add_months(as_of, months)
    ordered = sorted(entries, key=lambda e: (e.effective_loe is None, e.effective_loe or date.max, e.trade_name))
    in_window = sum(1 for e in entries if e.effective_loe and as_of <= e.effective_loe <= end)
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(t)}</span>' for c, t in (
        _band(6), _band(12), _band(24), _band(36)))
    head = ["Trade name", "Strength", "NDA", "Applicant", "Last patent", "Last DS/DP patent",
            "Last exclusivity", "Effective LOE", "Months", "PED", "Generics", "Score"]
    body = []
    for e in ordered:
        m = months_to_loe(e.effective_loe, as_of)
        score = (scores or {}).get((e.appl_no, e.product_no))
        soon = e.effective_loe is not None and as_of <= e.effective_loe <= end
        cells = [
            escape(e.trade_name), escape(_strength(e)), f"{e.appl_no}/{e.product_no}", escape(e.applicant),
            _dated(e.last_patent_expiry, e.last_patent_no), _dated(e.last_ds_dp_patent_expiry, ""),
            _dated(e.last_exclusivity_expiry, e.last_exclusivity_code), _dated(e.effective_loe, ""),
        ]
        nums = ["" if m is None else f"{m:.1f}", "yes" if e.ped_applied else "", str(e.generic_count),
                "" if score is None else f"{score:g}"]
        body.append(f'<tr{" class=soon" if soon else ""}>' + "".join(f"<td>{c}</td>" for c in cells)
                    + "".join(f'<td class="num">{c}</td>' for c in nums) + "</tr>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        (f'<p class="meta">As of {as_of.isoformat()} · {len(entries)} NDA products · {in_window} lose '
         f"exclusivity by {end.isoformat()} · effective LOE = later of the last listed, non-delisted patent "
         "(pediatric *PED extensions included) and the last exclusivity</p>"),
        f"<h2>Cliffs in the next {months} months</h2>", f'<div class="legend">{legend}</div>',
        timeline_svg(entries, as_of, months),
        "<h2>All NDA products</h2>",
        "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>",
        *body, "</tbody></table>", "</body></html>",
    ])
