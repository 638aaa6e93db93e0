from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core.settings import SECRET_NAMES, SettingsError, env_example, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_give_an_embedded_development_setup(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    s = load_settings()
    assert s.DATABASE_URL.startswith("sqlite:///var/")
    assert s.TIMEZONE == "America/New_York"
    assert (s.ALERT_HIGH_THRESHOLD, s.ALERT_CRITICAL_THRESHOLD, s.ALERT_DEDUP_WINDOW_HOURS) == (7.0, 9.0, 24)


def test_production_without_required_settings_fails_naming_them(monkeypatch):
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDBEAT_REDIS_URL", "SEC_USER_AGENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIGNALS_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/signals")
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert "CELERY_BROKER_URL" in message and "REDBEAT_REDIS_URL" in message and "SEC_USER_AGENT" in message
    assert "DATABASE_URL" not in message


def test_a_secret_can_come_from_a_file_and_is_never_shown(monkeypatch, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-token")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN_FILE", str(secret))
    s = load_settings()
    assert s.TWILIO_AUTH_TOKEN == "s3cr3t-token"
    assert "s3cr3t-token" not in repr(s)
    assert "TWILIO_AUTH_TOKEN" in SECRET_NAMES


def test_malformed_values_name_the_setting(monkeypatch):
    monkeypatch.setenv("ALERT_DEDUP_WINDOW_HOURS", "a day")
    with pytest.raises(SettingsError, match="ALERT_DEDUP_WINDOW_HOURS"):
        load_settings()


def test_lock_timeout_must_outlast_the_beat_loop(monkeypatch):
    monkeypatch.setenv("REDBEAT_LOCK_TIMEOUT", "8")
    with pytest.raises(SettingsError, match="REDBEAT_LOCK_TIMEOUT"):
        load_settings()


def test_env_file_is_read_but_real_environment_wins(monkeypatch, tmp_path):
    env_file = tmp_path / "x.env"
    env_file.write_text("SLACK_ENABLED=true\nEXPORTER_PORT=9999\n")
    monkeypatch.setenv("EXPORTER_PORT", "9100")
    monkeypatch.delenv("SLACK_ENABLED", raising=False)
    s = load_settings(env_file)
    assert s.SLACK_ENABLED is True and s.EXPORTER_PORT == 9100
    monkeypatch.delenv("SLACK_ENABLED", raising=False)


def test_compose_env_example_documents_every_setting():
    assert (REPO / "compose" / "env.example").read_text() == env_example()
