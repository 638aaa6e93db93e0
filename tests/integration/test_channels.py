"""Alert channels against real local servers: aiosmtpd for SMTP (plain, AUTH, STARTTLS, implicit
TLS with a self-signed certificate made here), http.server for the Slack webhook and Twilio."""
from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import json
import logging
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from notifications.channels import (
    ChannelRejected,
    ChannelUnavailable,
    ConsoleChannel,
    EmailChannel,
    SlackChannel,
    TwilioSmsChannel,
    build_channels,
)
from notifications.message import AlertMessage, Link, ScoreComponent, build_digest
from pipelines.core.errors import TransientError
from pipelines.core.settings import Settings, load_settings
from tests.support.http_server import Answer, LocalHttpServer, Request

ALERT = AlertMessage(
    alert_id="form4-0001234567-25-000042", kind="signal", tier="critical", pipeline="form4",
    signal_type="insider_cluster_buy", title="Three insiders bought $2.1M",
    summary="CEO, CFO and a director bought on the open market.", ticker="SWBI",
    company="Smith & Wesson Brands", score=9.2,
    components=(ScoreComponent("Cluster of buyers", 3.0, "3 insiders within 10 days"),),
    links=(Link("Form 4 filing", "https://www.sec.gov/Archives/edgar/data/1/x.xml"),),
    event_time=datetime(2025, 3, 3, 20, 45, tzinfo=UTC), detected_at=datetime(2025, 3, 4, 11, 10, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path) -> Settings:
    # Overrides the integration conftest's `settings` (which needs PostgreSQL); channels need none.
    # An absent env file: nothing from a developer's .env leaks in.
    return load_settings(tmp_path / "absent.env").replace(SLACK_MAX_PER_SECOND=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- SMTP

class Recorder:
    """aiosmtpd handler: keeps each envelope; answers RCPT/DATA as told."""

    def __init__(self, rcpt_reply: dict[str, str] | None = None, data_reply: str | None = None) -> None:
        self.envelopes: list[tuple[str, list[str], bytes, bool]] = []
        self.rcpt_reply = rcpt_reply or {}
        self.data_reply = data_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_reply.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                               session.ssl is not None))
        return "250 Message accepted"


class EphemeralController(Controller):
    """aiosmtpd binds port 0 fine but then probes self.port; point it at the port the OS chose."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextlib.contextmanager
def smtp_server(handler: Recorder, **kwargs) -> Iterator[int]:
    controller = EphemeralController(handler, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def mail_settings(settings: Settings, port: int, security: str = "none", **more) -> Settings:
    return settings.replace(EMAIL_ENABLED=True, SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY=security,
                            EMAIL_FROM="Signals <alerts@signals.example.org>",
                            EMAIL_TO=["ana@example.org", "bo@example.org"], **more)


def test_email_delivers_text_and_html_with_alert_headers(settings):
    handler = Recorder()
    with smtp_server(handler) as port:
        result = EmailChannel(mail_settings(settings, port)).send(ALERT)
        EmailChannel(mail_settings(settings, port)).send(ALERT)  # a re-send
    assert result.ok and result.channel == "email"
    assert result.provider_id == "<alert.form4-0001234567-25-000042@signals.example.org>"
    (mail_from, rcpts, content, tls), (_, _, again, _) = handler.envelopes
    assert mail_from == "alerts@signals.example.org"
    assert rcpts == ["ana@example.org", "bo@example.org"] and not tls
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert msg["Subject"] == "[CRITICAL] SWBI 9.2/10 — Three insiders bought $2.1M"
    assert msg["To"] == "ana@example.org, bo@example.org"
    assert msg["Message-ID"] == "<alert.form4-0001234567-25-000042@signals.example.org>"
    assert msg["X-Signals-Alert-Id"] == "form4-0001234567-25-000042"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Cluster of buyers" in text and "https://www.sec.gov/Archives/edgar/data/1/x.xml" in text
    assert "Smith &amp; Wesson Brands" in html and 'href="https://www.sec.gov/Archives/edgar/data/1/x.xml"' in html
    resent = email.message_from_bytes(again, policy=email.policy.default)
    assert resent["Message-ID"] == msg["Message-ID"]


def test_email_sends_the_digest_with_a_per_day_message_id(settings):
    digest = build_digest(date(2025, 3, 4), [ALERT], datetime(2025, 3, 4, 22, tzinfo=UTC))
    handler = Recorder()
    with smtp_server(handler) as port:
        result = EmailChannel(mail_settings(settings, port)).send_digest(digest)
    assert result.ok and result.provider_id == "<alert.digest-2025-03-04@signals.example.org>"
    msg = email.message_from_bytes(handler.envelopes[0][2], policy=email.policy.default)
    assert msg["Subject"] == "Investment signals daily digest — 2025-03-04: 1 signal (top: SWBI 9.2)"
    assert msg["X-Signals-Kind"] == "digest"
    assert "Cluster of buyers" in msg.get_body(("plain",)).get_content()
    assert "Smith &amp; Wesson Brands" in msg.get_body(("html",)).get_content()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_email_authenticates_when_configured(settings):
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        seen.append((auth_data.login, auth_data.password))
        ok = auth_data.password == b"s3cret"
        # handled=False lets aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    handler = Recorder()
    with smtp_server(handler, authenticator=authenticator, auth_required=True, auth_require_tls=False) as port:
        good = mail_settings(settings, port, SMTP_USER="alerts", SMTP_PASSWORD="s3cret")
        assert EmailChannel(good).send(ALERT).ok
        with pytest.raises(ChannelRejected, match="authentication failed"):
            EmailChannel(good.replace(SMTP_PASSWORD="wrong")).send(ALERT)
        with pytest.raises(ChannelRejected):  # no AUTH at all: the server refuses MAIL (530)
            EmailChannel(good.replace(SMTP_USER="", SMTP_PASSWORD="")).send(ALERT)
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) before giving up.
    assert seen[0] == (b"alerts", b"s3cret") and set(seen[1:]) == {(b"alerts", b"wrong")}
    assert len(handler.envelopes) == 1


def test_email_starttls_with_a_self_signed_certificate(settings, certificate):
    handler = Recorder()
    client = ssl.create_default_context(cafile=str(certificate[0]))
    with smtp_server(handler, tls_context=server_context(certificate), require_starttls=True,
                     authenticator=lambda s, ses, env, mech, data: AuthResult(success=True, auth_data=data),
                     auth_required=True) as port:
        configured = mail_settings(settings, port, "starttls", SMTP_USER="alerts", SMTP_PASSWORD="pw")
        assert EmailChannel(configured, ssl_context=client).send(ALERT).ok
        # The system trust store does not know this certificate: a permanent, named failure.
        with pytest.raises(ChannelRejected, match="certificate not trusted"):
            EmailChannel(configured).send(ALERT)
        # A plain session is refused by a server that requires STARTTLS (530, permanent).
        with pytest.raises(ChannelRejected):
            EmailChannel(configured.replace(SMTP_SECURITY="none")).send(ALERT)
    assert [tls for *_, tls in handler.envelopes] == [True]


def test_email_implicit_tls(settings, certificate):
    handler = Recorder()
    client = ssl.create_default_context(cafile=str(certificate[0]))
    with smtp_server(handler, ssl_context=server_context(certificate)) as port:
        assert EmailChannel(mail_settings(settings, port, "ssl"), ssl_context=client).send(ALERT).ok
    assert len(handler.envelopes) == 1


@pytest.mark.parametrize("reply, error", [("450 4.2.1 mailbox busy", ChannelUnavailable),
                                          ("550 5.1.1 no such user", ChannelRejected)])
def test_email_recipient_refusals(settings, reply, error):
    handler = Recorder(rcpt_reply={"ana@example.org": reply, "bo@example.org": reply})
    with smtp_server(handler) as port, pytest.raises(error, match=reply.split()[0]):
        EmailChannel(mail_settings(settings, port)).send(ALERT)


def test_email_partly_refused_is_a_failed_result_naming_the_recipient(settings):
    handler = Recorder(rcpt_reply={"bo@example.org": "550 5.1.1 no such user"})
    with smtp_server(handler) as port:
        result = EmailChannel(mail_settings(settings, port)).send(ALERT)
    assert not result.ok
    assert "bo@example.org (550" in result.detail and "1 of 2" in result.detail
    assert handler.envelopes[0][1] == ["ana@example.org"]


@pytest.mark.parametrize("reply, error", [("451 4.3.0 try later", ChannelUnavailable),
                                          ("554 5.7.1 rejected as spam", ChannelRejected)])
def test_email_data_refusals(settings, reply, error):
    with smtp_server(Recorder(data_reply=reply)) as port, pytest.raises(error, match=reply.split()[0]):
        EmailChannel(mail_settings(settings, port)).send(ALERT)


def test_email_connection_refused_and_silent_server_are_transient(settings):
    with pytest.raises(ChannelUnavailable) as info:
        EmailChannel(mail_settings(settings, free_port())).send(ALERT)
    assert isinstance(info.value, TransientError)
    with socket.socket() as silent:  # accepts TCP connections but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        channel = EmailChannel(mail_settings(settings, silent.getsockname()[1]), timeout=0.3)
        started = time.monotonic()
        with pytest.raises(ChannelUnavailable, match="timed out"):
            channel.send(ALERT)
        assert time.monotonic() - started < 5


# ---------------------------------------------------------------- HTTP stand-ins

class FakeHTTP(LocalHttpServer):
    """Records requests and plays scripted answers (status, headers, text) in order; the last repeats."""

    def __init__(self, answers: list[tuple[int, dict[str, str], str]], delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.delay = delay
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        status, headers, text = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if self.delay:
            time.sleep(self.delay)
        return status, text.encode(), None, headers


WEBHOOK_PATH = "/services/T000/B000/webhook-secret-part"


def slack(settings: Settings, base: str, **kw) -> SlackChannel:
    return SlackChannel(settings.replace(SLACK_ENABLED=True, SLACK_WEBHOOK_URL=base + WEBHOOK_PATH), **kw)


def test_slack_posts_block_kit_json(settings):
    with FakeHTTP([(200, {"Content-Type": "text/plain"}, "ok")]) as server:
        result = slack(settings, server.url).send(ALERT)
    assert result.ok and result.channel == "slack"
    (request,) = server.requests
    assert request.path == WEBHOOK_PATH
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    assert payload["text"] == "CRITICAL SWBI 9.2/10: Three insiders bought $2.1M"
    types = [b["type"] for b in payload["blocks"]]
    assert types[0] == "header" and "section" in types and "actions" in types
    fields = [f["text"] for b in payload["blocks"] for f in b.get("fields", [])]
    assert "*Company*\nSmith &amp; Wesson Brands" in fields
    sections = "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b)
    assert "Cluster of buyers" in sections and "3 insiders within 10 days" in sections
    buttons = [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["url"] == "https://www.sec.gov/Archives/edgar/data/1/x.xml"


def test_slack_429_honours_retry_after(settings):
    with FakeHTTP([(429, {"Retry-After": "7"}, "rate_limited")]) as server:
        with pytest.raises(ChannelUnavailable) as info:
            slack(settings, server.url).send(ALERT)
    assert info.value.retry_after == 7.0


def test_slack_5xx_is_transient_and_reads_an_http_date_retry_after(settings):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    with FakeHTTP([(500, {}, "rollup_error"), (503, {"Retry-After": later}, "")]) as server:
        with pytest.raises(ChannelUnavailable, match="HTTP 500") as first:
            slack(settings, server.url).send(ALERT)
        with pytest.raises(ChannelUnavailable, match="HTTP 503") as second:
            slack(settings, server.url).send(ALERT)
    assert first.value.retry_after is None
    assert 100 <= second.value.retry_after <= 121


def test_slack_400_is_rejected(settings):
    with FakeHTTP([(400, {}, "invalid_blocks")]) as server, pytest.raises(ChannelRejected, match="invalid_blocks"):
        slack(settings, server.url).send(ALERT)


def test_slack_network_failures_are_transient_and_never_show_the_webhook(settings):
    with pytest.raises(ChannelUnavailable) as refused:
        slack(settings, f"http://127.0.0.1:{free_port()}").send(ALERT)
    with FakeHTTP([(200, {}, "ok")], delay=1.0) as server:
        with pytest.raises(ChannelUnavailable) as slow:
            slack(settings, server.url, timeout=0.2).send(ALERT)
    for exc in (refused.value, slow.value):
        assert "webhook-secret-part" not in str(exc) and "/services/" not in str(exc)
    assert "Timeout" in str(slow.value)


# ---------------------------------------------------------------- Twilio

def twilio(settings: Settings, base: str, numbers=("+15550001111", "+15550002222")) -> TwilioSmsChannel:
    return TwilioSmsChannel(settings.replace(
        SMS_ENABLED=True, TWILIO_BASE_URL=base, TWILIO_ACCOUNT_SID="AC0123", TWILIO_AUTH_TOKEN="tok-secret",
        TWILIO_FROM="+15559990000", SMS_TO=list(numbers)))


def created(sid: str) -> tuple[int, dict[str, str], str]:
    return 201, {"Content-Type": "application/json"}, json.dumps({"sid": sid, "status": "queued"})


def test_twilio_posts_one_form_per_recipient_with_basic_auth(settings):
    with FakeHTTP([created("SM1"), created("SM2")]) as server:
        result = twilio(settings, server.url).send(ALERT)
    assert result.ok and result.provider_id == "SM1,SM2"
    assert [r.path for r in server.requests] == ["/2010-04-01/Accounts/AC0123/Messages.json"] * 2
    expected_auth = "Basic " + base64.b64encode(b"AC0123:tok-secret").decode()
    forms = []
    for request in server.requests:
        assert request.headers["Authorization"] == expected_auth
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        forms.append({k: v[0] for k, v in parse_qs(request.body.decode()).items()})
    assert [f["To"] for f in forms] == ["+15550001111", "+15550002222"]
    assert all(f["From"] == "+15559990000" for f in forms)
    assert forms[0]["Body"] == ("CRITICAL SWBI 9.2/10: Three insiders bought $2.1M "
                                "https://www.sec.gov/Archives/edgar/data/1/x.xml")


def test_twilio_429_and_500_are_transient(settings):
    with FakeHTTP([(429, {"Retry-After": "30"}, '{"code": 20429, "message": "Too Many Requests"}')]) as server:
        with pytest.raises(ChannelUnavailable, match="20429") as info:
            twilio(settings, server.url, numbers=("+15550001111",)).send(ALERT)
    assert info.value.retry_after == 30.0
    with FakeHTTP([(500, {}, "oops")]) as server:
        with pytest.raises(ChannelUnavailable, match="HTTP 500") as info:
            twilio(settings, server.url, numbers=("+15550001111",)).send(ALERT)
    assert info.value.retry_after is None


def test_twilio_400_is_rejected_with_twilio_code(settings):
    error = json.dumps({"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400})
    with FakeHTTP([(400, {"Content-Type": "application/json"}, error)]) as server:
        with pytest.raises(ChannelRejected, match="21211 The 'To' number is not a valid phone number"):
            twilio(settings, server.url, numbers=("+15550001111",)).send(ALERT)


def test_twilio_retry_skips_recipients_already_reached(settings):
    with FakeHTTP([created("SM1"), (503, {}, "busy"), created("SM3")]) as server:
        channel = twilio(settings, server.url)
        with pytest.raises(ChannelUnavailable, match="1 of 2"):
            channel.send(ALERT)
        result = channel.send(ALERT)
    assert result.ok and result.provider_id == "SM1,SM3"
    tos = [parse_qs(r.body.decode())["To"][0] for r in server.requests]
    assert tos == ["+15550001111", "+15550002222", "+15550002222"]


def test_twilio_connection_refused_is_transient(settings):
    with pytest.raises(ChannelUnavailable):
        twilio(settings, f"http://127.0.0.1:{free_port()}").send(ALERT)


# ---------------------------------------------------------------- console and the factory

def test_console_logs_one_line(settings, caplog):
    with caplog.at_level(logging.INFO, logger="signals.alerts"):
        result = ConsoleChannel(settings).send(ALERT)
    assert result.ok
    (record,) = [r for r in caplog.records if r.name == "signals.alerts"]
    assert record.getMessage().startswith("ALERT [CRITICAL] SWBI · Smith & Wesson Brands 9.2/10")
    assert "Cluster of buyers +3.0" in record.getMessage()


def test_build_channels_skips_unconfigured_with_one_line_each_and_no_secrets(settings, caplog):
    configured = settings.replace(
        EMAIL_ENABLED=True, SMTP_HOST="", SMTP_PASSWORD="hunter2-secret",
        SLACK_ENABLED=True, SLACK_WEBHOOK_URL="not a url/with-secret",
        SMS_ENABLED=True, TWILIO_AUTH_TOKEN="twilio-secret-token", TWILIO_ACCOUNT_SID="",
        CONSOLE_ALERTS_ENABLED=True)
    with caplog.at_level(logging.INFO, logger="signals.alerts"):
        channels = build_channels(configured)
    assert [c.name for c in channels] == ["console"]
    lines = {r.getMessage().split()[2]: r.getMessage() for r in caplog.records if r.name == "signals.alerts"}
    assert set(lines) == {"email", "slack", "sms"}
    assert "SMTP_HOST" in lines["email"] and "EMAIL_FROM" in lines["email"] and "SMTP_USER" in lines["email"]
    assert "SLACK_WEBHOOK_URL (not an http(s) URL)" in lines["slack"]
    assert "TWILIO_ACCOUNT_SID" in lines["sms"] and "SMS_TO" in lines["sms"]
    text = caplog.text
    assert "hunter2-secret" not in text and "with-secret" not in text and "twilio-secret-token" not in text


def test_build_channels_logs_disabled_channels_and_keeps_configured_ones(settings, caplog):
    configured = settings.replace(
        SLACK_ENABLED=True, SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T/B/x",
        EMAIL_ENABLED=False, SMS_ENABLED=False, CONSOLE_ALERTS_ENABLED=False)
    with caplog.at_level(logging.INFO, logger="signals.alerts"):
        channels = build_channels(configured)
    assert [c.name for c in channels] == ["slack"]
    messages = [r.getMessage() for r in caplog.records if r.name == "signals.alerts"]
    assert messages == ["alert channel email is off (EMAIL_ENABLED is false)",
                        "alert channel sms is off (SMS_ENABLED is false)",
                        "alert channel console is off (CONSOLE_ALERTS_ENABLED is false)"]
