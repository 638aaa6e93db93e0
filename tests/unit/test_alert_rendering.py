"""Alert rendering: escaping, the reasons and links in every format, SMS length, Slack limits, digest order."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from notifications.digest import render_digest
from notifications.message import (
    AlertMessage,
    Digest,
    DigestEntry,
    Link,
    ScoreComponent,
    build_digest,
)
from notifications.render_chat import render_console, render_slack, render_sms
from notifications.render_email import render_alert_email
from pipelines.core.errors import DataError


def signal(**overrides) -> AlertMessage:
    values = dict(
        alert_id="form4-0001234567-25-000042", kind="signal", tier="critical", pipeline="form4",
        signal_type="insider_cluster_buy", title="Three insiders bought $2.1M",
        summary="CEO, CFO and a director bought on the open market within ten days.",
        ticker="SWBI", company="Smith & Wesson <Holdings>", score=9.2,
        components=(ScoreComponent("Cluster of buyers", 3.0, "3 insiders within 10 days"),
                    ScoreComponent("Freshness", -0.5, "filed 5 days after the trade")),
        links=(Link("Form 4 filing", "https://www.sec.gov/Archives/edgar/data/1/x.xml?a=1&b=2"),),
        event_time=datetime(2025, 3, 3, 20, 45, tzinfo=UTC),
        detected_at=datetime(2025, 3, 4, 11, 10, tzinfo=UTC),
    )
    values.update(overrides)
    return AlertMessage(**values)


def failure(**overrides) -> AlertMessage:
    values = dict(alert_id="failure-form4-77-fetch", kind="failure", tier="critical", pipeline="form4",
                  title="form4 failed", detected_at=datetime(2025, 3, 4, 12, 0, tzinfo=UTC), run_id=77,
                  step="fetch", error="Traceback (most recent call last):\n  File \"f.py\"\n"
                                      "TransientError: HTTP 503 from <sec> & friends")
    values.update(overrides)
    return AlertMessage(**values)


# ---------------------------------------------------------------- message

def test_message_rejects_naive_times_bad_tier_and_control_characters():
    with pytest.raises(DataError, match="detected_at"):
        signal(detected_at=datetime(2025, 3, 4, 11, 10))
    with pytest.raises(DataError, match="tier"):
        signal(tier="urgent")
    with pytest.raises(DataError, match="control"):
        signal(alert_id="abc\r\nBcc: victim@example.com")
    with pytest.raises(DataError, match="score"):
        signal(score=11.0)


def test_message_round_trips_through_json_and_names_a_missing_field():
    original = signal()
    assert AlertMessage.from_dict(json.loads(json.dumps(original.to_dict()))) == original
    data = original.to_dict()
    del data["title"]
    with pytest.raises(DataError, match="'title'") as info:
        AlertMessage.from_dict(data)
    assert info.value.record_key == "form4-0001234567-25-000042"


# ---------------------------------------------------------------- email

def test_email_escapes_html_and_keeps_reasons_links_and_times():
    subject, text, html = render_alert_email(signal())
    assert subject == "[CRITICAL] SWBI 9.2/10 — Three insiders bought $2.1M"
    assert "Smith &amp; Wesson &lt;Holdings&gt;" in html
    assert "<Holdings>" not in html
    # The & in the link's query string is escaped inside the attribute.
    assert 'href="https://www.sec.gov/Archives/edgar/data/1/x.xml?a=1&amp;b=2"' in html
    for part in ("Cluster of buyers", "+3.0", "3 insiders within 10 days", "Freshness", "-0.5", "Form 4 filing"):
        assert part in html and part in text
    assert "https://www.sec.gov/Archives/edgar/data/1/x.xml?a=1&b=2" in text
    # 20:45 UTC on 3 March 2025 is 15:45 in New York (EST, UTC-5).
    assert "2025-03-03 15:45 EST" in html and "2025-03-03 20:45 UTC" in html
    assert "2025-03-03 15:45 EST (2025-03-03 20:45 UTC)" in text
    assert "<script" not in html.lower()


def test_email_summer_time_is_edt():
    _, text, _ = render_alert_email(signal(event_time=datetime(2025, 7, 1, 13, 30, tzinfo=UTC)))
    assert "2025-07-01 09:30 EDT (2025-07-01 13:30 UTC)" in text


def test_email_never_links_a_non_http_url():
    message = signal(links=(Link("bad", "javascript:alert(1)"), Link("ok", "https://example.com/a")))
    _, text, html = render_alert_email(message)
    assert "javascript:" not in html
    assert 'href="https://example.com/a"' in html
    assert "bad: (withheld: not an http(s) URL)" in text


def test_email_says_when_reasons_or_links_are_missing():
    _, text, html = render_alert_email(signal(components=(), links=()))
    assert "No score components were recorded." in text and "No score components were recorded." in html
    assert "No source links were recorded." in text and "No source links were recorded." in html


def test_failure_email_names_pipeline_run_step_and_error():
    subject, text, html = render_alert_email(failure())
    assert subject == "[FAILURE] form4 run 77 failed at fetch: TransientError: HTTP 503 from <sec> & friends"
    assert "Run id:   77" in text and "Step:     fetch" in text and "Pipeline: form4" in text
    assert "TransientError: HTTP 503 from &lt;sec&gt; &amp; friends" in html
    assert ">77<" in html and ">fetch<" in html


# ---------------------------------------------------------------- SMS

def test_sms_is_short_and_has_tier_ticker_score_what_and_link():
    body = render_sms(signal())
    assert body == ("CRITICAL SWBI 9.2/10: Three insiders bought $2.1M "
                    "https://www.sec.gov/Archives/edgar/data/1/x.xml?a=1&b=2")


def test_sms_cuts_the_text_but_keeps_the_link_whole():
    link = "https://example.com/" + "p" * 150
    body = render_sms(signal(title="word " * 200, links=(Link("x", link),)))
    assert len(body) <= 320
    assert body.endswith(" " + link)
    assert body.startswith("CRITICAL SWBI 9.2/10: word word")
    assert "..." in body and "…" not in body


def test_sms_drops_a_link_too_long_to_leave_room():
    body = render_sms(signal(links=(Link("x", "https://example.com/" + "p" * 400),)))
    assert len(body) <= 320
    assert "https://" not in body
    assert body == "CRITICAL SWBI 9.2/10: Three insiders bought $2.1M"


def test_failure_sms_names_run_step_and_error():
    assert render_sms(failure()) == "FAILURE form4 run 77 step fetch: TransientError: HTTP 503 from <sec> & friends"


# ---------------------------------------------------------------- Slack

def _texts(payload: dict) -> list[str]:
    out = []
    for block in payload["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return out


def test_slack_payload_has_header_fields_reasons_buttons_and_escapes():
    payload = render_slack(signal())
    blocks = payload["blocks"]
    assert blocks[0]["type"] == "header"
    assert "CRITICAL" in blocks[0]["text"]["text"] and "SWBI" in blocks[0]["text"]["text"]
    texts = "\n".join(_texts(payload))
    assert "Smith &amp; Wesson &lt;Holdings&gt;" in texts and "<Holdings>" not in texts
    assert "Cluster of buyers" in texts and "3 insiders within 10 days" in texts and "`-0.5`" in texts
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["url"]) for b in buttons] == [
        ("Form 4 filing", "https://www.sec.gov/Archives/edgar/data/1/x.xml?a=1&b=2")]
    assert payload["text"] == "CRITICAL SWBI 9.2/10: Three insiders bought $2.1M"


def test_slack_respects_block_and_text_limits_with_huge_input():
    components = tuple(ScoreComponent(f"component {i}", 0.1, "x" * 900) for i in range(200))
    links = tuple(Link("L" * 200, f"https://example.com/{i}") for i in range(60))
    payload = render_slack(signal(title="T" * 500, summary="S" * 5000, company="C" * 3000,
                                  components=components, links=links))
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert blocks[-1]["type"] == "context" and "left out" in blocks[-1]["elements"][0]["text"]
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            assert all(len(e["text"]["text"]) <= 75 for e in block["elements"])
    assert len(payload["text"]) <= 3000


def test_slack_fits_every_component_when_there_is_room():
    components = tuple(ScoreComponent(f"reason-{i:02d}", 0.5, "why " * 10) for i in range(40))
    texts = "\n".join(_texts(render_slack(signal(components=components))))
    assert all(f"reason-{i:02d}" in texts for i in range(40))


def test_slack_failure_has_error_in_a_code_block():
    payload = render_slack(failure())
    texts = "\n".join(_texts(payload))
    assert "```" in texts and "HTTP 503 from &lt;sec&gt; &amp; friends" in texts
    assert "*Run id*\n77" in texts and "*Step*\nfetch" in texts


# ---------------------------------------------------------------- console

def test_console_line_is_one_line_with_reasons_and_links():
    line = render_console(signal(title="two\nlines"))
    assert "\n" not in line
    assert line.startswith("ALERT [CRITICAL] SWBI · Smith & Wesson <Holdings> 9.2/10 form4 / insider_cluster_buy: "
                           "two lines | why:")
    assert "Cluster of buyers +3.0 (3 insiders within 10 days)" in line
    assert "Form 4 filing <https://www.sec.gov/" in line and "id=form4-0001234567-25-000042" in line


# ---------------------------------------------------------------- digest

def _digest() -> Digest:
    alerts = [
        signal(alert_id="a", pipeline="form4", title="Form4 low", score=5.1, ticker="LOW"),
        signal(alert_id="b", pipeline="ctgov", title="Trial top", score=8.8, ticker="TRI"),
        signal(alert_id="c", pipeline="form4", title="Form4 high", score=9.7, ticker="HIG"),
        signal(alert_id="d", pipeline="form4", title="Form4 unscored", score=None, ticker="UNS"),
        failure(alert_id="e"),
    ]
    return build_digest(date(2025, 3, 4), alerts, datetime(2025, 3, 4, 22, tzinfo=UTC), notice="TEST NOTICE")


def test_digest_groups_by_pipeline_then_score_descending():
    digest = _digest()
    assert [(name, [e.alert.alert_id for e in entries]) for name, entries in digest.groups] == [
        ("ctgov", ["b"]), ("form4", ["c", "a", "d"])]
    subject, text, html = render_digest(digest)
    order = [text.index(t) for t in ("Trial top", "Form4 high", "Form4 low", "Form4 unscored")]
    assert order == sorted(order)
    html_order = [html.index(t) for t in ("Trial top", "Form4 high", "Form4 low", "Form4 unscored")]
    assert html_order == sorted(html_order)
    assert "form4 failed" not in text  # failures are not signals
    assert subject == "Investment signals daily digest — 2025-03-04: 4 signals (top: HIG 9.7)"


def test_digest_shows_reasons_links_notice_and_escapes():
    _, text, html = render_digest(_digest())
    assert "TEST NOTICE" in text and "TEST NOTICE" in html
    assert html.count("Cluster of buyers") == 4 and text.count("Cluster of buyers") == 4
    assert html.count('href="https://www.sec.gov/Archives/edgar/data/1/x.xml?a=1&amp;b=2"') == 4
    assert "Smith &amp; Wesson &lt;Holdings&gt;" in html and "<Holdings>" not in html


def test_empty_digest_says_so():
    digest = Digest(day=date(2025, 3, 4), entries=(), generated_at=datetime(2025, 3, 4, 22, tzinfo=UTC))
    subject, text, html = render_digest(digest)
    assert subject == "Investment signals daily digest — 2025-03-04: 0 signals"
    assert "No signals were detected on this day." in text and "No signals were detected on this day." in html


def test_digest_entry_sort_puts_unscored_last():
    entries = [DigestEntry(signal(alert_id=i, score=s)) for i, s in (("x", None), ("y", 0.0), ("z", 10.0))]
    assert [e.alert.alert_id for e in sorted(entries, key=lambda e: e.sort_key)] == ["z", "y", "x"]
