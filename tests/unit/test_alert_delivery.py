"""Pure parts of alert delivery: digest days and windows across DST, digest entry selection, retry
delays, skip reasons, the sweeper's beat entry."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from beat_schedule import beat_entries
from notifications.channels import ChannelRejected, SlackChannel
from notifications.delivery_channels import ChannelSet, send_row
from notifications.digest_job import (
    digest_day_for,
    digest_day_of,
    digest_key,
    digest_send_time,
    digest_window,
    pick_entries,
)
from notifications.message import AlertMessage
from notifications.outbox import DeliveryReport, retry_delay
from pipelines.core.errors import DataError
from pipelines.core.registry import load_registry
from pipelines.core.settings import Settings, load_settings
from pipelines.core.signals import DedupState, dedup_decision


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load_settings(tmp_path / "absent.env").replace(TIMEZONE="America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_the_digest_goes_out_at_2330_new_york_time_in_summer_and_winter(settings):
    assert digest_send_time(date(2025, 7, 1), settings) == utc(2025, 7, 2, 3, 30)  # EDT, UTC-4
    assert digest_send_time(date(2025, 1, 15), settings) == utc(2025, 1, 16, 4, 30)  # EST, UTC-5


@pytest.mark.parametrize("moment, day", [
    (utc(2025, 7, 2, 3, 29, 59), date(2025, 7, 1)),  # 23:29:59 EDT on 1 July
    (utc(2025, 7, 2, 3, 30), date(2025, 7, 2)),  # 23:30 EDT: the next day's digest
    (utc(2025, 7, 1, 4, 0), date(2025, 7, 1)),  # 00:00 EDT on 1 July
    (utc(2025, 1, 16, 4, 29), date(2025, 1, 15)),  # 23:29 EST
])
def test_a_signal_belongs_to_the_digest_whose_window_holds_it(settings, moment, day):
    assert digest_day_for(moment, settings) == day
    start, end = digest_window(day, settings)
    assert start <= moment < end


def test_digest_windows_are_23_and_25_hours_on_dst_days_and_leave_no_gap(settings):
    spring = digest_window(date(2025, 3, 9), settings)  # clocks went forward at 02:00 that night
    assert spring == (utc(2025, 3, 9, 4, 30), utc(2025, 3, 10, 3, 30))
    assert spring[1] - spring[0] == timedelta(hours=23)
    autumn = digest_window(date(2025, 11, 2), settings)
    assert autumn == (utc(2025, 11, 2, 3, 30), utc(2025, 11, 3, 4, 30))
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    assert digest_window(date(2025, 3, 10), settings)[0] == spring[1]


def test_digest_rows_have_one_key_per_channel_and_day():
    assert digest_key("email", date(2025, 3, 4)) == "email|digest|2025-03-04"
    assert digest_day_of({"digest_day": "2025-03-04"}) == date(2025, 3, 4)
    with pytest.raises(DataError, match="digest_day"):
        digest_day_of({"alert_id": "digest-x"})


def _alert(alert_id: str, score: float, minute: int = 0, pipeline: str = "form4") -> AlertMessage:
    return AlertMessage(alert_id=alert_id, kind="signal", tier="high", pipeline=pipeline, title=alert_id,
                        score=score, detected_at=utc(2025, 3, 4, 12, minute))


def test_digest_keeps_each_event_once_with_its_highest_score_and_caps_the_list():
    alerts = [_alert("A", 7.4, 0), _alert("A", 7.9, 5), _alert("A", 7.1, 9), _alert("B", 3.0),
              _alert("C", 9.1, pipeline="ctgov"), _alert("D", 5.0)]
    kept, left_out = pick_entries(alerts, limit=3)
    assert [(a.alert_id, a.score) for a in kept] == [("C", 9.1), ("A", 7.9), ("D", 5.0)]
    assert left_out == 1
    same_score = pick_entries([_alert("E", 6.0, 1), _alert("E", 6.0, 7)], limit=10)[0]
    assert [a.detected_at.minute for a in same_score] == [7]  # the latest of equal scores


def test_retry_delays_double_with_jitter_honour_retry_after_and_stay_capped(settings):
    s = settings.replace(ALERT_RETRY_BASE_SECONDS=5.0, ALERT_RETRY_MAX_SECONDS=60.0)
    for _ in range(50):
        assert 2.5 <= retry_delay(1, None, s) <= 5.0
        assert 10.0 <= retry_delay(3, None, s) <= 20.0
        assert 30.0 <= retry_delay(10, None, s) <= 60.0
        assert retry_delay(1, 42.0, s) >= 42.0  # a 429's Retry-After wins over a shorter backoff
        assert retry_delay(1, 3600.0, s) == 60.0  # but never beyond the cap


def test_delivery_reports_add_up():
    total = DeliveryReport(claimed=3, sent=2, retry=1) + DeliveryReport(claimed=1, skipped=1, possible_duplicates=1)
    assert total.as_dict() == {"claimed": 4, "sent": 2, "retry": 1, "failed": 0, "skipped": 1, "busy": 0,
                               "recovered": 0, "possible_duplicates": 1}


def test_skip_reasons_name_settings_never_values(settings):
    channels = ChannelSet(settings.replace(SLACK_ENABLED=True, SLACK_WEBHOOK_URL="", SMS_ENABLED=False,
                                           EMAIL_ENABLED=True, SMTP_HOST="", SMTP_PASSWORD="hunter2"), {}, 0)
    assert channels.reason("slack") == ("alert channel slack is enabled but not configured: "
                                        "missing or invalid SLACK_WEBHOOK_URL")
    assert channels.reason("sms") == "alert channel sms is off (SMS_ENABLED is false)"
    assert "SMTP_HOST" in channels.reason("email") and "hunter2" not in channels.reason("email")
    assert channels.reason("pager") == "unknown alert channel 'pager'"


def test_a_channel_without_digests_rejects_a_digest_row(settings):
    slack = SlackChannel(settings.replace(SLACK_ENABLED=True, SLACK_WEBHOOK_URL="https://hooks.example/x"))
    with pytest.raises(ChannelRejected, match="cannot send the daily digest"):
        send_row(slack, "digest", {"digest_day": "2025-03-04"}, settings, sessions=None)


def test_the_sweeper_runs_on_the_alerts_queue_every_alert_sweep_seconds(settings):
    entries = beat_entries(load_registry(("tests.support.demo_pipeline",)), settings.replace(ALERT_SWEEP_SECONDS=45))
    sweep = entries["alerts-sweep"]
    assert sweep["task"] == "alerts.sweep"
    assert sweep["schedule"].run_every.total_seconds() == 45
    assert sweep["options"] == {"queue": "alerts", "expires": 45}


def test_dedup_holds_inside_the_window_and_re_alerts_on_expiry_a_rise_of_one_step_or_a_higher_tier(settings):
    rules = settings.replace(ALERT_DEDUP_WINDOW_HOURS=24, ALERT_RESCORE_STEP=1.0)
    start = utc(2025, 3, 4, 12)
    last = DedupState(generation=2, window_started_at=start, last_score=7.2, last_tier="high", suppressed=0)
    held, alerts = dedup_decision(last, 8.1, "high", start + timedelta(hours=23, minutes=59), rules)
    assert not alerts and held == DedupState(2, start, 7.2, "high", 1)
    for score, tier, at in [(8.2, "high", start + timedelta(hours=1)),  # 7.2 + 1.0
                            (7.3, "critical", start + timedelta(hours=1)),  # a higher tier
                            (6.0, "realtime", start + timedelta(hours=24))]:  # the window is over
        after, alerts = dedup_decision(held, score, tier, at, rules)
        assert alerts and after == DedupState(3, at, score, tier, 1)
