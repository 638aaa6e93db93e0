"""Email alerts over SMTP (smtplib): STARTTLS, implicit TLS or plain, optional AUTH.

The Message-ID is derived from the alert id, so a re-sent alert carries the same id and mail
clients (and people) can recognise the duplicate; `X-Signals-Alert-Id` carries the id verbatim.
"""
from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from pipelines.core.settings import Settings

from ..digest import render_digest
from ..message import AlertMessage, Digest
from ..render_email import render_alert_email
from .base import Channel, ChannelRejected, ChannelUnavailable, DeliveryResult

log = logging.getLogger("signals.alerts")

_DOT_ATOM = re.compile(r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*")
_FALLBACK_DOMAIN = "investment-signals.invalid"


def message_id_for(alert_id: str, sender: str) -> str:
    """'<alert.ID@sender-domain>'; ids that are not a valid dot-atom are replaced by their SHA-256."""
    local = alert_id if len(alert_id) <= 64 and _DOT_ATOM.fullmatch(alert_id) else \
        hashlib.sha256(alert_id.encode("utf-8")).hexdigest()[:40]
    domain = sender.rpartition("@")[2].strip(" >") if "@" in sender else ""
    if not _DOT_ATOM.fullmatch(domain):
        domain = _FALLBACK_DOMAIN
    return f"<alert.{local}@{domain}>"


class EmailChannel(Channel):
    name = "email"

    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None,
                 timeout: float | None = None) -> None:
        self.settings = settings
        # Tests pass a context that trusts their own certificate; production uses the system store.
        self.ssl_context = ssl_context
        self.timeout = timeout if timeout is not None else float(settings.HTTP_TIMEOUT_SECONDS)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.EMAIL_ENABLED)

    def missing(self) -> list[str]:
        s = self.settings
        problems = [name for name in ("SMTP_HOST", "EMAIL_FROM", "EMAIL_TO") if not getattr(s, name)]
        if s.SMTP_USER and not s.SMTP_PASSWORD:
            problems.append("SMTP_PASSWORD (SMTP_USER is set)")
        if s.SMTP_PASSWORD and not s.SMTP_USER:
            problems.append("SMTP_USER (SMTP_PASSWORD is set)")
        return problems

    def compose(self, *, subject: str, text: str, html: str, alert_id: str, kind: str) -> EmailMessage:
        """A multipart/alternative message (text first, HTML preferred) with the alert headers."""
        s = self.settings
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = s.EMAIL_FROM
        msg["To"] = ", ".join(s.EMAIL_TO)
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = message_id_for(alert_id, s.EMAIL_FROM)
        msg["X-Signals-Alert-Id"] = alert_id
        msg["X-Signals-Kind"] = kind
        # RFC 3834: keeps vacation responders and ticket systems from replying to alerts.
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return msg

    def send(self, message: AlertMessage) -> DeliveryResult:
        """Email one alert to EMAIL_TO."""
        subject, text, html = render_alert_email(message)
        msg = self.compose(subject=subject, text=text, html=html, alert_id=message.alert_id, kind=message.kind)
        return self.deliver(msg)

    def send_digest(self, digest: Digest) -> DeliveryResult:
        """Email the daily digest; its id is 'digest-YYYY-MM-DD', so a re-send is recognisable."""
        subject, text, html = render_digest(digest)
        msg = self.compose(subject=subject, text=text, html=html,
                           alert_id=f"digest-{digest.day.isoformat()}", kind="digest")
        return self.deliver(msg)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = self.ssl_context or ssl.create_default_context()
        if s.SMTP_SECURITY == "ssl":
            return smtplib.SMTP_SSL(s.SMTP_HOST, s.SMTP_PORT, timeout=self.timeout, context=context)
        client = smtplib.SMTP(s.SMTP_HOST, s.SMTP_PORT, timeout=self.timeout)
        if s.SMTP_SECURITY == "starttls":
            try:
                client.ehlo()
                client.starttls(context=context)
                client.ehlo()
            except BaseException:
                client.close()
                raise
        return client

    def deliver(self, msg: EmailMessage) -> DeliveryResult:
        """Send a composed message; map SMTP and network failures to Unavailable / Rejected."""
        s = self.settings
        where = f"email via {s.SMTP_HOST}:{s.SMTP_PORT}"
        try:
            with self._connect() as client:
                if s.SMTP_USER:
                    client.login(s.SMTP_USER, s.SMTP_PASSWORD)
                refused = client.send_message(msg, from_addr=s.EMAIL_FROM, to_addrs=list(s.EMAIL_TO))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {addr: code for addr, (code, _text) in exc.recipients.items()}
            detail = f"{where}: every recipient refused: " + _describe(exc.recipients)
            if any(400 <= code < 500 for code in codes.values()):
                raise ChannelUnavailable(detail) from None
            raise ChannelRejected(detail) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelRejected(f"{where}: server does not support what SMTP_SECURITY/SMTP_USER "
                                  f"ask for: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
            what = "authentication failed (check SMTP_USER/SMTP_PASSWORD)" \
                if isinstance(exc, smtplib.SMTPAuthenticationError) else "server answered"
            detail = f"{where}: {what}: {exc.smtp_code} {text.strip()[:300]}"
            if 500 <= exc.smtp_code < 600:
                raise ChannelRejected(detail) from None
            raise ChannelUnavailable(detail) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise ChannelUnavailable(f"{where}: connection closed: {exc}") from None
        except smtplib.SMTPException as exc:
            # What is left (e.g. "No suitable authentication method found") is configuration.
            raise ChannelRejected(f"{where}: {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            raise ChannelRejected(f"{where}: TLS certificate not trusted: {exc.verify_message}") from None
        except OSError as exc:  # refused, unreachable, timeout, TLS handshake failures
            raise ChannelUnavailable(f"{where}: {type(exc).__name__}: {exc}") from None
        message_id = str(msg["Message-ID"])
        if refused:
            detail = (f"accepted for {len(s.EMAIL_TO) - len(refused)} of {len(s.EMAIL_TO)} recipient(s); "
                      f"refused: {_describe(refused)}")
            log.warning("%s: %s", where, detail)
            return DeliveryResult(self.name, False, detail, message_id)
        return DeliveryResult(self.name, True, f"accepted for {len(s.EMAIL_TO)} recipient(s)", message_id)


def _describe(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{addr} ({code} {text.decode('utf-8', 'replace').strip()[:120]})"
                     for addr, (code, text) in refused.items())
