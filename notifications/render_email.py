"""Alert emails: subject, plain text and HTML (table layout, inline CSS only, as email clients need).

The HTML pieces (`page`, `components_html`, `links_html`) are shared with the digest.
Every value from a message is escaped with `html.escape(quote=True)`; company names contain `&`.
"""
from __future__ import annotations

import html
from typing import NamedTuple

from .message import AlertMessage, Link, ScoreComponent
from .render import (
    FAILURE_COLOUR,
    TIER_COLOURS,
    failure_headline,
    format_points,
    format_score,
    format_time_pair,
    kind_line,
    one_line,
    safe_url,
    tier_label,
    truncate,
)

SUBJECT_LIMIT = 180
ERROR_LIMIT = 4000  # characters of a traceback shown; the run ledger keeps the whole error

FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"
MONO = "font-family:SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace"
INK, MUTED, RULE, LINK = "#111827", "#6b7280", "#e5e7eb", "#1d4ed8"


class EmailContent(NamedTuple):
    subject: str
    text: str
    html: str


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_alert_email(message: AlertMessage) -> EmailContent:
    """Subject, plain text and HTML of one alert (signal, failure or digest notice)."""
    if message.kind == "failure":
        return EmailContent(_failure_subject(message), _failure_text(message), _failure_html(message))
    return EmailContent(_signal_subject(message), _signal_text(message), _signal_html(message))


# ---------------------------------------------------------------- subjects

def _signal_subject(m: AlertMessage) -> str:
    score = f" {m.score:.1f}/10" if m.score is not None else ""
    who = m.ticker or m.company or m.pipeline
    return truncate(one_line(f"[{tier_label(m)}] {who}{score} — {m.title}"), SUBJECT_LIMIT)


def _failure_subject(m: AlertMessage) -> str:
    return truncate(one_line(f"[FAILURE] {failure_headline(m)}"), SUBJECT_LIMIT)


# ---------------------------------------------------------------- plain text

def components_text(components: tuple[ScoreComponent, ...], indent: str = "  ") -> list[str]:
    """One line per component: points, name, explanation."""
    if not components:
        return [f"{indent}No score components were recorded."]
    width = max(len(c.name) for c in components)
    return [f"{indent}{format_points(c.value):>6}  {c.name.ljust(width)}"
            + (f"  {one_line(c.explanation)}" if c.explanation else "") for c in components]


def links_text(links: tuple[Link, ...], indent: str = "  ") -> list[str]:
    if not links:
        return [f"{indent}No source links were recorded."]
    return [f"{indent}{one_line(lk.label)}: {safe_url(lk.url) or '(withheld: not an http(s) URL)'}"
            for lk in links]


def _signal_text(m: AlertMessage) -> str:
    lines = [f"{tier_label(m)} {m.kind} · {m.subject_name}",
             f"Score {format_score(m.score)} · {kind_line(m)}", "", m.title]
    if m.summary:
        lines += ["", m.summary]
    lines += ["", "Why this score:", *components_text(m.components),
              "", "Verify at the source:", *links_text(m.links), "",
              f"Event time: {format_time_pair(m.event_time)}",
              f"Detected:   {format_time_pair(m.detected_at)}",
              f"Alert id:   {m.alert_id}"]
    return "\n".join(lines) + "\n"


def _failure_text(m: AlertMessage) -> str:
    lines = [f"FAILURE · {failure_headline(m)}", "",
             f"Pipeline: {m.pipeline}",
             f"Run id:   {m.run_id if m.run_id is not None else 'not recorded'}",
             f"Step:     {m.step or 'not recorded'}",
             f"Detected: {format_time_pair(m.detected_at)}", "", "Error:",
             truncate(m.error or m.summary or m.title, ERROR_LIMIT)]
    if m.links:
        lines += ["", "Links:", *links_text(m.links)]
    lines += ["", f"Alert id: {m.alert_id}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- HTML pieces

def page(body_rows: str, *, title: str, preheader: str) -> str:
    """A whole HTML document: grey background, one 640 px white card holding `body_rows` (<tr>s)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{esc(title)}</title></head>"
        f"<body style=\"margin:0;padding:0;background:#f3f4f6;{FONT};color:{INK}\">"
        # Preheader: the line inbox lists show after the subject; hidden in the message itself.
        f"<div style=\"display:none;max-height:0;overflow:hidden;opacity:0\">{esc(preheader)}</div>"
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" "
        "bgcolor=\"#f3f4f6\" style=\"background:#f3f4f6\"><tr><td align=\"center\" style=\"padding:24px 12px\">"
        "<table role=\"presentation\" width=\"640\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" "
        f"bgcolor=\"#ffffff\" style=\"width:640px;max-width:640px;background:#ffffff;border:1px solid {RULE};"
        f"border-radius:8px;border-collapse:separate;{FONT};color:{INK}\">"
        f"{body_rows}"
        "</table></td></tr></table></body></html>\n"
    )


def badge(label: str, colour: str) -> str:
    return (f"<span style=\"display:inline-block;padding:3px 10px;border-radius:4px;background:{colour};"
            f"color:#ffffff;font-size:12px;font-weight:700;letter-spacing:0.06em\">{esc(label)}</span>")


def row(content: str, *, padding: str = "0 28px 20px 28px", border: bool = False) -> str:
    rule = f"border-bottom:1px solid {RULE};" if border else ""
    return f"<tr><td style=\"padding:{padding};{rule}\">{content}</td></tr>"


def section_title(text: str) -> str:
    return (f"<div style=\"font-size:12px;font-weight:700;letter-spacing:0.08em;text-transform:uppercase;"
            f"color:{MUTED};margin:0 0 8px 0\">{esc(text)}</div>")


def components_html(components: tuple[ScoreComponent, ...], score: float | None) -> str:
    """The score breakdown as a table: reason, points, why; the final score below."""
    if not components:
        return f"<p style=\"margin:0;color:{MUTED};font-size:14px\">No score components were recorded.</p>"
    cell = f"padding:8px 10px;border-bottom:1px solid {RULE};font-size:14px;vertical-align:top"
    head = f"padding:6px 10px;border-bottom:2px solid {RULE};font-size:12px;color:{MUTED};text-align:left"
    rows = "".join(
        f"<tr><td style=\"{cell};font-weight:600\">{esc(c.name)}</td>"
        f"<td align=\"right\" style=\"{cell};{MONO};white-space:nowrap;"
        f"color:{'#047857' if c.value > 0 else '#b91c1c' if c.value < 0 else MUTED}\">"
        f"{esc(format_points(c.value))}</td>"
        f"<td style=\"{cell};color:#374151\">{esc(c.explanation)}</td></tr>"
        for c in components)
    total = (f"<tr><td style=\"padding:8px 10px;font-size:14px;font-weight:700\">Score</td>"
             f"<td align=\"right\" style=\"padding:8px 10px;font-size:14px;font-weight:700;{MONO};white-space:nowrap\">"
             f"{esc(format_score(score))}</td><td></td></tr>")
    return ("<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" "
            "style=\"border-collapse:collapse\">"
            # Fixed widths keep the Points column aligned from one table to the next in the digest.
            f"<tr><th width=\"36%\" style=\"{head};width:36%\">Reason</th>"
            f"<th width=\"72\" style=\"{head};width:72px;text-align:right\">Points</th>"
            f"<th style=\"{head}\">Why</th></tr>{rows}{total}</table>")


def links_html(links: tuple[Link, ...]) -> str:
    """Each link as a bordered button; a link that is not http(s) is named but not linked."""
    if not links:
        return f"<p style=\"margin:0;color:{MUTED};font-size:14px\">No source links were recorded.</p>"
    parts = []
    for lk in links:
        url = safe_url(lk.url)
        if url is None:
            parts.append(f"<span style=\"display:inline-block;margin:0 8px 8px 0;font-size:13px;color:{MUTED}\">"
                         f"{esc(lk.label)} (link withheld: not an http(s) URL)</span>")
        else:
            parts.append(f"<a href=\"{esc(url)}\" style=\"display:inline-block;margin:0 8px 8px 0;padding:7px 14px;"
                         f"border:1px solid {LINK};border-radius:6px;color:{LINK};font-size:13px;font-weight:600;"
                         f"text-decoration:none\">{esc(lk.label)}</a>")
    return "".join(parts)


def details_html(pairs: list[tuple[str, str]]) -> str:
    cell = "padding:4px 0;font-size:13px;vertical-align:top"
    rows = "".join(f"<tr><td style=\"{cell};color:{MUTED};width:120px\">{esc(k)}</td>"
                   f"<td style=\"{cell};color:#374151\">{esc(v)}</td></tr>" for k, v in pairs)
    return ("<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\">"
            f"{rows}</table>")


def footer(text: str) -> str:
    return row(f"<div style=\"font-size:12px;color:{MUTED}\">{esc(text)}</div>",
               padding=f"14px 28px;background:#f9fafb;border-top:1px solid {RULE};border-radius:0 0 8px 8px")


# ---------------------------------------------------------------- HTML documents

def _signal_html(m: AlertMessage) -> str:
    colour = TIER_COLOURS[m.tier]
    score = ("" if m.score is None else
             f"<td align=\"right\" style=\"vertical-align:top;white-space:nowrap\">"
             f"<span style=\"font-size:34px;font-weight:800;color:{colour}\">{m.score:.1f}</span>"
             f"<span style=\"font-size:14px;color:{MUTED}\">&nbsp;/10</span></td>")
    heading = (
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>"
        f"<td style=\"vertical-align:top\">{badge(tier_label(m), colour)}"
        f"<span style=\"font-size:12px;color:{MUTED};margin-left:8px\">{esc(kind_line(m))}</span>"
        f"<div style=\"font-size:13px;font-weight:700;color:#374151;margin:14px 0 2px 0\">{esc(m.subject_name)}</div>"
        f"<div style=\"font-size:20px;font-weight:700;line-height:1.3;color:{INK}\">{esc(m.title)}</div></td>"
        f"{score}</tr></table>")
    rows = [f"<tr><td style=\"height:6px;background:{colour};border-radius:8px 8px 0 0\"></td></tr>",
            row(heading, padding="20px 28px 16px 28px")]
    if m.summary:
        rows.append(row(f"<p style=\"margin:0;font-size:15px;line-height:1.5;color:#1f2937\">{esc(m.summary)}</p>"))
    rows += [row(section_title("Why this score") + components_html(m.components, m.score)),
             row(section_title("Verify at the source") + links_html(m.links), padding="0 28px 12px 28px"),
             row(details_html([("Event time", format_time_pair(m.event_time)),
                               ("Detected", format_time_pair(m.detected_at)),
                               ("Pipeline", kind_line(m)), ("Alert id", m.alert_id)]),
                 padding=f"14px 28px 18px 28px;border-top:1px solid {RULE}"),
             footer("investment-signals alert · scores are research prompts, not investment advice")]
    return page("".join(rows), title=_signal_subject(m), preheader=m.summary or m.title)


def _failure_html(m: AlertMessage) -> str:
    heading = (f"{badge('FAILURE', FAILURE_COLOUR)}"
               f"<div style=\"font-size:20px;font-weight:700;line-height:1.3;margin-top:14px\">"
               f"{esc(failure_headline(m))}</div>")
    error = (f"<pre style=\"margin:0;padding:12px;background:#fef2f2;border:1px solid #fecaca;border-radius:6px;"
             f"{MONO};font-size:12px;line-height:1.45;color:#7f1d1d;white-space:pre-wrap;word-break:break-word\">"
             f"{esc(truncate(m.error or m.summary or m.title, ERROR_LIMIT))}</pre>")
    rows = [f"<tr><td style=\"height:6px;background:{FAILURE_COLOUR};border-radius:8px 8px 0 0\"></td></tr>",
            row(heading, padding="20px 28px 16px 28px"),
            row(details_html([("Pipeline", m.pipeline),
                              ("Run id", str(m.run_id) if m.run_id is not None else "not recorded"),
                              ("Step", m.step or "not recorded"),
                              ("Detected", format_time_pair(m.detected_at))])),
            row(section_title("Error") + error)]
    if m.links:
        rows.append(row(section_title("Links") + links_html(m.links), padding="0 28px 12px 28px"))
    rows.append(footer(f"investment-signals pipeline failure · alert id {m.alert_id}"))
    return page("".join(rows), title=_failure_subject(m), preheader=failure_headline(m))
