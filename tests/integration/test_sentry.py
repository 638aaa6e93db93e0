"""Sentry from a real worker and a real CLI process, received by a local server: the error, no secret."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib

import pytest
from celery import Celery

from tests.support.http_server import Answer, LocalHttpServer, Request
from tests.support.services import BROKER_DB, REPO, engine_env, redis_url, wait_for

pytestmark = pytest.mark.integration

WEBHOOK = "https://hooks.slack.com/services/TSENTRYT/BSENTRYB/sentryTestWebhookSecret42"
TWILIO = "twilio-token-sentry-0123456789"
SMTP = "smtp-Sentry-Pa55word"
USPTO = "uspto-key-sentry-abcdef"
DB_PASSWORD = "DbSentryPa55word"
SECRETS = (WEBHOOK, "sentryTestWebhookSecret42", TWILIO, SMTP, USPTO, DB_PASSWORD)


class _Receiver(LocalHttpServer):
    """Sentry's envelope endpoint: keeps each envelope as sent, decompressed."""

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        super().__init__(self.answer)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/1"

    def events(self) -> list[dict]:
        """Every error event item in the envelopes received so far."""
        found = []
        for raw in list(self.envelopes):
            lines = raw.split(b"\n")
            # (item header, payload) pairs; an envelope may end in a newline, an empty last line
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found

    def answer(self, request: Request) -> Answer:
        body = request.body
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        assert encoding in ("", "gzip", "deflate"), encoding
        self.envelopes.append(body)
        return 200, b"{}", "application/json"


@pytest.fixture
def receiver():
    with _Receiver() as server:
        yield server


def _secret_env(receiver: _Receiver, database_url: str) -> dict[str, str]:
    return {"SENTRY_DSN": receiver.dsn, "SENTRY_ENVIRONMENT": "test", "OBSERVED_RAISE": "1",
            "PIPELINE_MODULES": "tests.support.observed_pipeline", "SLACK_WEBHOOK_URL": WEBHOOK,
            "TWILIO_AUTH_TOKEN": TWILIO, "SMTP_PASSWORD": SMTP, "USPTO_API_KEY": USPTO,
            "DATABASE_URL": database_url}


def _assert_error_without_secrets(receiver: _Receiver, component: str) -> None:
    events = [e for e in receiver.events() if "exception" in e]
    ours = [e for e in events if any(v.get("type") == "RuntimeError" for v in e["exception"]["values"])]
    assert ours, f"no RuntimeError event among {len(events)} exception event(s)"
    event = ours[0]
    error = next(v for v in event["exception"]["values"] if v["type"] == "RuntimeError")
    assert error["value"].startswith("observed failure posting to ")
    assert any(f.get("function") == "score" for f in error["stacktrace"]["frames"])
    assert event["tags"]["component"] == component
    raw = b"\n".join(receiver.envelopes)
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    assert b"[Filtered]" in raw


def test_worker_task_error_reaches_sentry_scrubbed(stack_factory, clean_db, receiver):
    with_password = clean_db.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@")
    stack = stack_factory(**_secret_env(receiver, with_password))
    stack.worker("w1", ["pipeline.observed"])
    Celery(broker=redis_url(BROKER_DB)).send_task("pipelines.observed.dispatch", queue="pipeline.observed",
                                                  kwargs={"trigger": "manual"})
    wait_for(lambda: any("exception" in e for e in receiver.events()), 30, "the worker's event")
    _assert_error_without_secrets(receiver, "worker")


def test_cli_error_reaches_sentry_scrubbed(tmp_path, receiver):
    db = f"sqlite:///{tmp_path}/cli.db"
    env = engine_env(db, tmp_path, **_secret_env(receiver, db))
    env["DATABASE_URL"] = db
    env["SLACK_WEBHOOK_URL"] = WEBHOOK
    signals = [sys.executable, "-m", "workers.cli"]
    subprocess.run(signals + ["db", "upgrade"], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
    failed = subprocess.run(signals + ["run", "observed", "--local"], cwd=REPO, env=env, capture_output=True,
                            timeout=120, check=False)
    assert failed.returncode != 0 and b"RuntimeError: observed failure" in failed.stderr
    _assert_error_without_secrets(receiver, "run")
    assert os.path.exists(tmp_path / "cli.db")
