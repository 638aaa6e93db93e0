"""The daily digest email: the day's signals grouped by pipeline, highest score first, each with
its reasons (score components) and verification links, as HTML plus a plain-text alternative."""
from __future__ import annotations

from .message import Digest, DigestEntry
from .render import (
    TIER_COLOURS,
    format_et,
    format_score,
    format_time_pair,
    one_line,
    tier_label,
    truncate,
)
from .render_email import (
    INK,
    MUTED,
    RULE,
    SUBJECT_LIMIT,
    badge,
    components_html,
    components_text,
    esc,
    links_html,
    links_text,
    page,
    row,
)


def render_digest(digest: Digest) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the digest email."""
    return _subject(digest), _text(digest), _html(digest)


def _top(digest: Digest) -> DigestEntry | None:
    scored = [e for e in digest.entries if e.alert.score is not None]
    return min(scored, key=lambda e: e.sort_key) if scored else None


def _subject(digest: Digest) -> str:
    count = len(digest.entries)
    top = _top(digest)
    best = f" (top: {top.alert.ticker or top.alert.company or top.pipeline} {top.alert.score:.1f})" if top else ""
    noun = "signal" if count == 1 else "signals"
    return truncate(one_line(f"{digest.title} — {digest.day.isoformat()}: {count} {noun}{best}"), SUBJECT_LIMIT)


# ---------------------------------------------------------------- plain text

def _text(digest: Digest) -> str:
    lines: list[str] = []
    if digest.notice:
        lines += [f"*** {digest.notice} ***", ""]
    lines += [f"{digest.title} — {digest.day.isoformat()}",
              (f"{len(digest.entries)} signal(s) in {len(digest.groups)} pipeline(s); "
               f"generated {format_time_pair(digest.generated_at)}"), ""]
    if not digest.entries:
        lines.append("No signals were detected on this day.")
    for name, entries in digest.groups:
        lines += ["=" * 72, f"{name} — {len(entries)} signal(s)", "=" * 72]
        for number, entry in enumerate(entries, 1):
            m = entry.alert
            lines += ["", f"{number}. [{tier_label(m)}] {format_score(m.score)}  {m.subject_name}",
                      f"   {one_line(m.title)}"]
            if m.summary:
                lines.append(f"   {one_line(m.summary)}")
            lines += [f"   Event time: {format_time_pair(m.event_time)}", "   Why:",
                      *components_text(m.components, indent="     "), "   Links:",
                      *links_text(m.links, indent="     ")]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- HTML

def _notice_html(notice: str) -> str:
    return row(f"<div style=\"padding:12px 14px;background:#fef3c7;border:1px solid #f59e0b;border-radius:6px;"
               f"font-size:14px;font-weight:700;color:#78350f\">{esc(notice)}</div>",
               padding="20px 28px 0 28px")


def _overview_html(digest: Digest) -> str:
    cell = f"padding:6px 10px;border-bottom:1px solid {RULE};font-size:13px"
    head = f"padding:6px 10px;border-bottom:2px solid {RULE};font-size:12px;color:{MUTED};text-align:left"
    rows = "".join(
        f"<tr><td style=\"{cell};font-weight:600\"><a href=\"#p-{esc(name)}\" style=\"color:{INK};"
        f"text-decoration:none\">{esc(name)}</a></td>"
        f"<td align=\"right\" style=\"{cell}\">{len(entries)}</td>"
        f"<td align=\"right\" style=\"{cell}\">{esc(format_score(entries[0].alert.score))}</td></tr>"
        for name, entries in digest.groups)
    return ("<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" "
            "style=\"border-collapse:collapse\">"
            f"<tr><th style=\"{head}\">Pipeline</th><th style=\"{head};text-align:right\">Signals</th>"
            f"<th style=\"{head};text-align:right\">Top score</th></tr>{rows}</table>")


def _entry_html(number: int, entry: DigestEntry) -> str:
    m = entry.alert
    colour = TIER_COLOURS[m.tier]
    score = "–" if m.score is None else f"{m.score:.1f}"
    summary = (f"<div style=\"font-size:14px;line-height:1.5;color:#374151;margin:6px 0 0 0\">{esc(m.summary)}</div>"
               if m.summary else "")
    when = format_et(m.event_time) if m.event_time else "event time not recorded"
    head = (
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>"
        f"<td width=\"64\" style=\"width:64px;vertical-align:top\">"
        f"<div style=\"width:52px;padding:8px 0;border-radius:6px;background:{colour};color:#ffffff;"
        f"text-align:center;font-size:20px;font-weight:800\">{esc(score)}</div></td>"
        f"<td style=\"vertical-align:top\">"
        f"<div style=\"font-size:12px;color:{MUTED}\">#{number} · {badge(tier_label(m), colour)} "
        f"· {esc(m.signal_type or m.pipeline)} · {esc(when)}</div>"
        f"<div style=\"font-size:13px;font-weight:700;color:#374151;margin-top:6px\">{esc(m.subject_name)}</div>"
        f"<div style=\"font-size:16px;font-weight:700;line-height:1.35;color:{INK}\">{esc(m.title)}</div>"
        f"{summary}</td></tr></table>")
    reasons = (f"<div style=\"margin:12px 0 0 64px\">{components_html(m.components, m.score)}"
               f"<div style=\"margin-top:10px\">{links_html(m.links)}</div></div>")
    return row(head + reasons, padding=f"18px 28px 10px 28px;border-top:1px solid {RULE}")


def _html(digest: Digest) -> str:
    count = len(digest.entries)
    rows = ["<tr><td style=\"height:6px;background:#111827;border-radius:8px 8px 0 0\"></td></tr>"]
    if digest.notice:
        rows.append(_notice_html(digest.notice))
    rows.append(row(
        f"<div style=\"font-size:12px;font-weight:700;letter-spacing:0.08em;text-transform:uppercase;color:{MUTED}\">"
        f"{esc(digest.day.strftime('%A %d %B %Y'))}</div>"
        f"<div style=\"font-size:24px;font-weight:800;color:{INK};margin-top:4px\">{esc(digest.title)}</div>"
        f"<div style=\"font-size:14px;color:#374151;margin-top:6px\">{count} signal{'s' if count != 1 else ''} "
        f"in {len(digest.groups)} pipeline{'s' if len(digest.groups) != 1 else ''}, grouped by pipeline and "
        f"ordered by score. Every score lists its reasons and links to the source.</div>",
        padding="20px 28px 16px 28px"))
    if not digest.entries:
        rows.append(row(f"<p style=\"margin:0;font-size:15px;color:{MUTED}\">"
                        "No signals were detected on this day.</p>"))
    else:
        rows.append(row(_overview_html(digest)))
    for name, entries in digest.groups:
        rows.append(row(
            f"<a name=\"p-{esc(name)}\" id=\"p-{esc(name)}\"></a>"
            f"<div style=\"font-size:18px;font-weight:800;color:{INK}\">{esc(name)}"
            f"<span style=\"font-size:13px;font-weight:400;color:{MUTED}\"> · {len(entries)} "
            f"signal{'s' if len(entries) != 1 else ''}</span></div>",
            padding="18px 28px 10px 28px;background:#f9fafb;border-top:2px solid #111827"))
        rows += [_entry_html(i, e) for i, e in enumerate(entries, 1)]
    rows.append(row(f"<div style=\"font-size:12px;color:{MUTED}\">Generated "
                    f"{esc(format_time_pair(digest.generated_at))} by investment-signals. Scores are research "
                    "prompts, not investment advice.</div>",
                    padding=f"14px 28px;background:#f9fafb;border-top:1px solid {RULE};border-radius:0 0 8px 8px"))
    preheader = digest.notice or _subject(digest)
    return page("".join(rows), title=_subject(digest), preheader=preheader)
