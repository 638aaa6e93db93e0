"""Short-form renderings: a Slack Block Kit payload, an SMS body and a console line.

Slack limits respected here (Block Kit reference): 50 blocks a message, 3000 characters in a
section's text, 10 fields of 2000 characters, header text 150, 25 elements an actions block,
button text 75 and URL 3000. Slack treats `&`, `<` and `>` as control characters in text, so
every value is escaped as `&amp;`, `&lt;`, `&gt;` before it goes into mrkdwn.
"""
from __future__ import annotations

from typing import Any

from .message import AlertMessage
from .render import (
    error_line,
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

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
MAX_FALLBACK_TEXT = 3000
MAX_COMPONENT_LINE = 600  # one component line always fits a section, with room to spare
SMS_LIMIT = 320

_TIER_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:",
               "realtime": ":large_blue_circle:", "info": ":white_circle:"}


def slack_escape(text: str) -> str:
    """Escape Slack's control characters (&, <, >) in text that goes into mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(truncate(text, MAX_SECTION_TEXT))}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    fields = [_mrkdwn(truncate(f"*{slack_escape(k)}*\n{slack_escape(v)}", MAX_FIELD_TEXT))
              for k, v in pairs[:MAX_FIELDS]]
    return {"type": "section", "fields": fields}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(one_line(text), MAX_HEADER_TEXT),
                                       "emoji": True}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(truncate(text, MAX_SECTION_TEXT))]}


def _chunked_sections(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """Lines packed into as few sections as fit 3000 characters each; `title` heads the first."""
    blocks: list[dict[str, Any]] = []
    current = title
    for line in lines:
        line = truncate(line, MAX_COMPONENT_LINE)
        if len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            blocks.append(_section(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        blocks.append(_section(current))
    return blocks


def _link_blocks(message: AlertMessage) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    withheld: list[str] = []
    for index, link in enumerate(message.links):
        url = safe_url(link.url)
        if url is None or len(url) > MAX_BUTTON_URL:
            withheld.append(one_line(link.label))
            continue
        label = truncate(one_line(link.label) or "Open", MAX_BUTTON_TEXT)
        buttons.append({"type": "button", "action_id": f"link-{index}", "url": url,
                        "text": {"type": "plain_text", "text": label, "emoji": False}})
    blocks = [{"type": "actions", "elements": buttons[i:i + MAX_ACTIONS]}
              for i in range(0, len(buttons), MAX_ACTIONS)]
    if withheld:
        blocks.append(_context("Links withheld (not an http(s) URL or too long): "
                               + slack_escape(", ".join(withheld))))
    if not message.links:
        blocks.append(_context("No source links were recorded."))
    return blocks


def _limit_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    dropped = len(blocks) - (MAX_BLOCKS - 1)
    return blocks[: MAX_BLOCKS - 1] + [_context(f"{dropped} more block(s) left out (Slack shows at most 50).")]


def render_slack(message: AlertMessage) -> dict[str, Any]:
    """The webhook payload: Block Kit `blocks` plus a plain `text` fallback for notifications."""
    if message.kind == "failure":
        return _failure_slack(message)
    m = message
    blocks: list[dict[str, Any]] = [
        _header(f"{_TIER_EMOJI[m.tier]} {tier_label(m)} · {m.ticker or m.company or m.pipeline}"
                + (f" {format_score(m.score)}" if m.score is not None else "")),
        _section(f"*{slack_escape(one_line(m.title))}*"
                 + (f"\n{slack_escape(m.summary)}" if m.summary else "")),
    ]
    pairs = [("Company", m.company or "not recorded"), ("Ticker", m.ticker or "not recorded"),
             ("Score", format_score(m.score)), ("Pipeline", kind_line(m)),
             ("Event time", format_time_pair(m.event_time)), ("Detected", format_time_pair(m.detected_at))]
    blocks.append(_fields(pairs))
    component_lines = [f"`{format_points(c.value)}` *{slack_escape(one_line(c.name))}*"
                       + (f" — {slack_escape(one_line(c.explanation))}" if c.explanation else "")
                       for c in m.components] or ["No score components were recorded."]
    blocks += _chunked_sections("*Why this score*", component_lines)
    blocks += _link_blocks(m)
    blocks.append(_context(f"alert id `{slack_escape(m.alert_id)}`"))
    return {"text": _fallback(m), "blocks": _limit_blocks(blocks)}


def _failure_slack(m: AlertMessage) -> dict[str, Any]:
    # Triple backticks inside the error would close the code block early.
    error = slack_escape(m.error or m.summary or m.title).replace("```", "'''")
    room = MAX_SECTION_TEXT - len("*Error*\n``````")
    blocks: list[dict[str, Any]] = [
        _header(f":x: FAILURE · {m.pipeline}"),
        _section(f"*{slack_escape(failure_headline(m))}*"),
        _fields([("Pipeline", m.pipeline), ("Run id", str(m.run_id) if m.run_id is not None else "not recorded"),
                 ("Step", m.step or "not recorded"), ("Detected", format_time_pair(m.detected_at))]),
        _section(f"*Error*\n```{truncate(error, room)}```"),
    ]
    if m.links:
        blocks += _link_blocks(m)
    blocks.append(_context(f"alert id `{slack_escape(m.alert_id)}`"))
    return {"text": _fallback(m), "blocks": _limit_blocks(blocks)}


def _fallback(m: AlertMessage) -> str:
    """The notification text (shown in push notifications and clients without blocks)."""
    if m.kind == "failure":
        text = f"FAILURE: {failure_headline(m)}"
    else:
        score = f" {format_score(m.score)}" if m.score is not None else ""
        text = f"{tier_label(m)} {m.ticker or m.company or m.pipeline}{score}: {one_line(m.title)}"
    return truncate(slack_escape(text), MAX_FALLBACK_TEXT)


def _ascii_cut(text: str, limit: int) -> str:
    # "..." rather than "…": one non-GSM character makes the whole SMS UCS-2 (70-char segments).
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 0)].rstrip() + "..."


def render_sms(message: AlertMessage) -> str:
    """'CRITICAL ACME 9.2/10: <what> <link>', at most 320 characters; the link is kept whole."""
    m = message
    if m.kind == "failure":
        run = f" run {m.run_id}" if m.run_id is not None else ""
        step = f" step {m.step}" if m.step else ""
        prefix = f"FAILURE {m.pipeline}{run}{step}: "
        what = error_line(m)
    else:
        score = f" {m.score:.1f}/10" if m.score is not None else ""
        prefix = f"{tier_label(m)} {m.ticker or m.company or m.pipeline}{score}: "
        what = one_line(m.title)
    link = next((u for u in (safe_url(lk.url) for lk in m.links) if u), None)
    room = SMS_LIMIT - len(prefix)
    # Keep the link only when at least a short "what" still fits beside it.
    if link and room - len(link) - 1 >= 20:
        return f"{prefix}{_ascii_cut(what, room - len(link) - 1)} {link}"
    return _ascii_cut(f"{prefix}{what}", SMS_LIMIT)


def render_console(message: AlertMessage) -> str:
    """One log line with the tier, subject, score, reasons, links and alert id."""
    m = message
    if m.kind == "failure":
        return one_line(f"ALERT [FAILURE] {failure_headline(m)} | id={m.alert_id}")
    reasons = "; ".join(f"{one_line(c.name)} {format_points(c.value)}"
                        + (f" ({one_line(c.explanation)})" if c.explanation else "")
                        for c in m.components) or "no components recorded"
    links = "; ".join(f"{one_line(lk.label)} <{safe_url(lk.url) or 'withheld'}>" for lk in m.links) or "no links"
    return one_line(f"ALERT [{tier_label(m)}] {m.subject_name} {format_score(m.score)} {kind_line(m)}: "
                    f"{m.title} | why: {reasons} | links: {links} | id={m.alert_id}")
