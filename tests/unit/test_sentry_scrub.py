"""The Sentry scrubber removes every secret, wherever in an event it hides, and keeps the rest."""
from __future__ import annotations

import json

from observability.sentry import FILTERED, make_scrubber, scrub_text, secret_values
from pipelines.core.settings import SECRET_NAMES, Settings

WEBHOOK = "https://hooks.slack.com/services/T0SIGNALS/B0SIGNALS/xoxWebhookSecret123"
TWILIO = "twilio-auth-0123456789abcdef"
SMTP = "smtp-Pa55word!"
DB_PASSWORD = "Db-Pa55word"
DATABASE_URL = f"postgresql://signals:{DB_PASSWORD}@db.internal:5432/signals"
BROKER = "redis://:BrokerPa55@redis.internal:6379/0"
DSN = "https://publickey123@o1.ingest.sentry.io/42"
USPTO = "uspto-key-abcdef123456"
SECRETS = [WEBHOOK, TWILIO, SMTP, DB_PASSWORD, "BrokerPa55", "publickey123", USPTO]


def _settings() -> Settings:
    return Settings({"SLACK_WEBHOOK_URL": WEBHOOK, "TWILIO_AUTH_TOKEN": TWILIO, "SMTP_PASSWORD": SMTP,
                     "DATABASE_URL": DATABASE_URL, "CELERY_BROKER_URL": BROKER, "SENTRY_DSN": DSN,
                     "USPTO_API_KEY": USPTO, "CELERY_RESULT_BACKEND": "", "REDBEAT_REDIS_URL": "",
                     "FLOWER_BASIC_AUTH": ""})


def _event() -> dict:
    return {
        "message": f"posting to {WEBHOOK} failed",
        "exception": {"values": [{
            "type": "RuntimeError",
            "value": f"password authentication failed: {DB_PASSWORD}; smtp {SMTP}",
            "stacktrace": {"frames": [{
                "function": "score", "module": "pipelines.example",
                "vars": {"webhook": f"'{WEBHOOK}'", "twilio": TWILIO, "count": 3,
                         "headers": {"Authorization": f"Bearer {TWILIO}", "Accept": "application/json"},
                         "url": "https://api.uspto.gov/v1/x?api_key=" + USPTO + "&page=2",
                         "note": "retrying with password=hunter2hunter2 next"},
            }]},
        }]},
        "request": {"headers": [["Authorization", "Basic dXNlcjpwYXNzd29yZA=="], ["Accept", "text/html"]]},
        "breadcrumbs": {"values": [
            {"category": "sqlalchemy",
             "message": f"connect {DATABASE_URL.replace('postgresql', 'postgresql+psycopg2')}"},
            {"category": "redis", "message": f"connected to {BROKER}"},
            {"category": "log", "message": "sent via https://outlook.office.com/webhook/abc/IncomingWebhook/def"},
        ]},
        "extra": {"celery-job": {"task_name": "pipelines.example.score", "args": [17],
                                 "kwargs": {"dsn": DSN, "trigger": "schedule"}},
                  "SLACK_WEBHOOK_URL": WEBHOOK},
        "tags": {"component": "worker"},
    }


def test_no_secret_survives_anywhere_in_the_event():
    out = json.dumps(make_scrubber(_settings())(_event(), None))
    for secret in SECRETS + ["hunter2hunter2", "dXNlcjpwYXNzd29yZA==", "outlook.office.com/webhook"]:
        assert secret not in out, secret
    assert FILTERED in out


def test_the_rest_of_the_event_is_kept():
    out = make_scrubber(_settings())(_event(), None)
    exc = out["exception"]["values"][0]
    assert exc["type"] == "RuntimeError"
    assert exc["value"].startswith("password authentication failed: ")
    frame = exc["stacktrace"]["frames"][0]
    assert frame["function"] == "score" and frame["vars"]["count"] == 3
    assert frame["vars"]["headers"]["Accept"] == "application/json"
    assert frame["vars"]["url"].startswith("https://api.uspto.gov/v1/x?") and frame["vars"]["url"].endswith("&page=2")
    assert out["request"]["headers"][1] == ["Accept", "text/html"]
    assert out["extra"]["celery-job"]["task_name"] == "pipelines.example.score"
    assert out["extra"]["celery-job"]["kwargs"]["trigger"] == "schedule"
    assert out["breadcrumbs"]["values"][0]["message"].endswith("@db.internal:5432/signals")


def test_secret_values_cover_every_secret_setting_and_url_passwords():
    values = secret_values(_settings())
    assert {WEBHOOK, TWILIO, SMTP, DATABASE_URL, DB_PASSWORD, BROKER, "BrokerPa55", DSN, USPTO} <= set(values)
    assert {"SLACK_WEBHOOK_URL", "TWILIO_AUTH_TOKEN", "SMTP_PASSWORD", "DATABASE_URL", "SENTRY_DSN"} <= SECRET_NAMES
    assert list(values) == sorted(values, key=len, reverse=True)  # a URL goes before its own password


def test_text_rules_without_known_values():
    assert scrub_text("GET https://bob:s3cret@example.com/x") == f"GET https://{FILTERED}@example.com/x"
    assert scrub_text("Authorization: Bearer abc.def-123456") == f"Authorization: Bearer {FILTERED}"
    assert scrub_text("/api?token=abcdef&limit=5") == f"/api?token={FILTERED}&limit=5"
    assert scrub_text("nothing secret at 12:30, 4 retries") == "nothing secret at 12:30, 4 retries"
