"""One settings module, read from the environment (and an optional `.env` file) with django-environ.

Every setting is declared once in `SPECS`; `compose/env.example` is generated from the same table
(`signals config env-example`) and a test keeps the two in step. A secret may also be given as a
file: `NAME_FILE=/run/secrets/name` (Docker and Kubernetes secrets), never on the command line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import environ


class SettingsError(RuntimeError):
    """A required setting is missing or a value cannot be read."""


@dataclass(frozen=True)
class Spec:
    name: str
    cast: str  # str | int | float | bool | list
    default: Any
    doc: str
    group: str
    secret: bool = False
    required_in_production: bool = False


def _s(group: str, name: str, cast: str, default: Any, doc: str, **kw: Any) -> Spec:
    return Spec(name=name, cast=cast, default=default, doc=doc, group=group, **kw)


SPECS: tuple[Spec, ...] = (
    _s("core", "SIGNALS_ENV", "str", "development",
       "development or production; production refuses to start without the required settings"),
    _s("core", "DATABASE_URL", "str", "sqlite:///var/signals.db",
       "SQLAlchemy URL; postgres:// and postgresql:// are accepted", secret=True,
       required_in_production=True),
    _s("core", "DATABASE_RELAXED_COMMIT", "bool", True,
       "step start records commit without waiting for the WAL flush (the step's own commit covers them); "
       "set false behind PgBouncer in transaction mode, which refuses the startup option this uses"),
    _s("core", "TIMEZONE", "str", "America/New_York", "zone every schedule is written in"),
    _s("core", "PIPELINE_MODULES", "list", "", "extra modules that each define PIPELINE (plug-ins, tests)"),
    _s("core", "PIPELINES_ENABLED", "list", "", "pipelines this deployment runs, comma-separated; empty: all"),
    _s("core", "LOG_LEVEL", "str", "INFO", "log level"),
    _s("core", "LOG_JSON", "bool", False, "one JSON object per log line"),
    _s("core", "VAR_DIR", "str", "var", "local state: SQLite file, local Redis data, metrics files"),
    _s("celery", "CELERY_BROKER_URL", "str", "redis://127.0.0.1:6379/0", "Celery broker (Redis)",
       secret=True, required_in_production=True),
    _s("celery", "CELERY_RESULT_BACKEND", "str", "redis://127.0.0.1:6379/1",
       "Celery result backend (only --wait and benchmarks read results)", secret=True),
    _s("celery", "REDBEAT_REDIS_URL", "str", "redis://127.0.0.1:6379/2",
       "RedBeat's own Redis (never falls back to the broker)", secret=True,
       required_in_production=True),
    _s("celery", "REDBEAT_KEY_PREFIX", "str", "signals:redbeat:", "RedBeat key prefix, one per environment"),
    _s("celery", "REDBEAT_LOCK_TIMEOUT", "int", 60, "seconds a dead beat holds the lock before a standby takes over"),
    _s("celery", "BEAT_MAX_LOOP_INTERVAL", "int", 5, "seconds between beat wake-ups; must stay below the lock timeout"),
    _s("celery", "VISIBILITY_TIMEOUT", "int", 4 * 3600,
       "seconds before Redis redelivers an unacked task; longer than any time limit or retry delay"),
    _s("celery", "REDELIVERY_CAP", "int", 3, "worker-loss redeliveries of one (run, step) before it fails"),
    _s("celery", "WORKER_CONCURRENCY", "int", 2, "processes per worker"),
    _s("celery", "RECONCILE_LOOKBACK_HOURS", "int", 48, "how far back catch-up looks for missed intervals"),
    _s("celery", "RECONCILE_INTERVAL_SECONDS", "int", 300, "how often catch-up runs"),
    _s("celery", "DISPATCH_GRACE_SECONDS", "int", 300,
       "a beat tick starts the interval that fell due at most this long ago; older ones are catch-up's"),
    _s("schedule", "FORM4_CADENCE_MINUTES", "int", 10, "Form 4 poll cadence inside the SEC window"),
    _s("schedule", "FORM4_WINDOW", "str", "06:00-22:30", "Form 4 poll window on SEC business days (ET)"),
    _s("schedule", "FORM4_MARKET_CADENCE_MINUTES", "int", 30,
       "the least Form 4 cadence during NYSE trading hours, early closes honoured"),
    _s("scoring", "FORM4_CLUSTER_WINDOW_DAYS", "int", 14, "days in which insider buys count as one cluster"),
    _s("scoring", "FORM4_CLUSTER_MIN_INSIDERS", "int", 2, "distinct insiders that make a cluster buy"),
    _s("scoring", "FORM4_CLUSTER_MIN_DOLLARS", "float", 50000.0, "dollars a cluster must buy in all"),
    _s("scoring", "FORM4_REALTIME_MIN_SCORE", "float", 5.0, "insider buys scoring this much go to Slack at once"),
    _s("scoring", "CTGOV_SPONSOR_OVERRIDES", "str", "",
       "CSV of sponsor-to-ticker overrides; empty: the packaged pipelines/data/sponsor_overrides.csv"),
    _s("scoring", "CTGOV_SPONSOR_FUZZY_THRESHOLD", "float", 90.0, "rapidfuzz score (0-100) for a fuzzy sponsor match"),
    _s("scoring", "CTGOV_ENROLLMENT_CHANGE_THRESHOLD", "float", 0.25, "enrollment change (share) that is an event"),
    _s("upstream", "SEC_USER_AGENT", "str", "",
       "declared User-Agent with a contact address, e.g. 'Acme Research ops@acme.example'",
       required_in_production=True),
    _s("upstream", "SEC_WWW_BASE_URL", "str", "https://www.sec.gov", "EDGAR www host"),
    _s("upstream", "SEC_DATA_BASE_URL", "str", "https://data.sec.gov", "EDGAR submissions API host"),
    _s("upstream", "SEC_EFTS_BASE_URL", "str", "https://efts.sec.gov/LATEST", "EDGAR full-text search"),
    _s("upstream", "SEC_MAX_RPS", "float", 10.0, "requests per second to the SEC, all workers together"),
    _s("upstream", "CTGOV_BASE_URL", "str", "https://clinicaltrials.gov/api/v2", "ClinicalTrials.gov API v2"),
    _s("upstream", "CTGOV_MAX_RPS", "float", 1.0, "requests per second to ClinicalTrials.gov"),
    _s("upstream", "ORANGE_BOOK_URL", "str", "https://www.fda.gov/media/76860/download",
       "Orange Book data files ZIP"),
    _s("upstream", "PARAGRAPH_IV_URL", "str", "https://www.fda.gov/media/82686/download",
       "FDA Paragraph IV certification list"),
    _s("upstream", "USPTO_BASE_URL", "str", "https://api.uspto.gov", "USPTO Open Data Portal"),
    _s("upstream", "USPTO_API_KEY", "str", "", "USPTO enricher is off without a key", secret=True),
    _s("upstream", "GREENHOUSE_BASE_URL", "str", "https://boards-api.greenhouse.io/v1", "Greenhouse job boards"),
    _s("upstream", "LEVER_BASE_URL", "str", "https://api.lever.co/v0", "Lever postings"),
    _s("upstream", "ASHBY_BASE_URL", "str", "https://api.ashbyhq.com/posting-api", "Ashby job boards"),
    _s("upstream", "THIRTEENF_MANAGERS_FILE", "str", "",
       "CSV of tracked 13F managers (cik,name,note); empty: the packaged pipelines/data/managers.csv"),
    _s("upstream", "HIRING_COMPANIES_FILE", "str", "",
       "CSV of polled job boards (ticker,board,token,name); empty: pipelines/data/hiring_companies.csv"),
    _s("upstream", "HIRING_ALERT_RATE", "float", 0.5,
       "hiring signals alert only when 90-day net new openings reach this share of the roles open before"),
    _s("upstream", "HIRING_ALERT_MIN_NET", "int", 10, "... and at least this many net new (or lost) openings"),
    _s("upstream", "HTTP_TIMEOUT_SECONDS", "float", 30.0, "connect+read timeout for upstream requests"),
    _s("alerts", "ALERT_HIGH_THRESHOLD", "float", 7.0, "score for a high-confidence alert (email, Slack)"),
    _s("alerts", "ALERT_CRITICAL_THRESHOLD", "float", 9.0, "score for a critical alert (email, Slack, SMS)"),
    _s("alerts", "ALERT_DEDUP_WINDOW_HOURS", "int", 24, "the same signal is not alerted twice in this window"),
    _s("alerts", "ALERT_RESCORE_STEP", "float", 1.0, "re-alert inside the window when the score rises this much"),
    _s("alerts", "ALERT_WATCHLIST", "list", "", "tickers that alert at the watchlist threshold"),
    _s("alerts", "ALERT_HIGH_CHANNELS", "list", "email,slack", "channels of a high-confidence alert"),
    _s("alerts", "ALERT_CRITICAL_CHANNELS", "list", "email,slack,sms", "channels of a critical alert"),
    _s("alerts", "ALERT_REALTIME_CHANNELS", "list", "slack", "channels of a real-time (insider) alert"),
    _s("alerts", "ALERT_FAILURE_CHANNELS", "list", "email,slack", "channels of a pipeline-failure alert"),
    _s("alerts", "ALERT_DIGEST_CHANNELS", "list", "email", "channels of the daily digest"),
    _s("alerts", "ALERT_WATCHLIST_THRESHOLD", "float", 5.0, "threshold for watchlist tickers"),
    _s("alerts", "EMAIL_ENABLED", "bool", False, "send email alerts"),
    _s("alerts", "SMTP_HOST", "str", "", "SMTP relay host"),
    _s("alerts", "SMTP_PORT", "int", 587, "SMTP relay port"),
    _s("alerts", "SMTP_SECURITY", "str", "starttls", "starttls, ssl or none"),
    _s("alerts", "SMTP_USER", "str", "", "SMTP user (optional)"),
    _s("alerts", "SMTP_PASSWORD", "str", "", "SMTP password (optional)", secret=True),
    _s("alerts", "EMAIL_FROM", "str", "", "From address"),
    _s("alerts", "EMAIL_TO", "list", "", "recipients, comma-separated"),
    _s("alerts", "SLACK_ENABLED", "bool", False, "send Slack alerts"),
    _s("alerts", "SLACK_WEBHOOK_URL", "str", "", "Slack incoming webhook URL", secret=True),
    _s("alerts", "SLACK_MAX_PER_SECOND", "float", 1.0, "Slack webhooks allow about one message a second"),
    _s("alerts", "SMS_ENABLED", "bool", False, "send SMS alerts through Twilio"),
    _s("alerts", "TWILIO_BASE_URL", "str", "https://api.twilio.com", "Twilio REST API"),
    _s("alerts", "TWILIO_ACCOUNT_SID", "str", "", "Twilio account SID"),
    _s("alerts", "TWILIO_AUTH_TOKEN", "str", "", "Twilio auth token", secret=True),
    _s("alerts", "TWILIO_FROM", "str", "", "sending number"),
    _s("alerts", "SMS_TO", "list", "", "recipient numbers, comma-separated"),
    _s("alerts", "CONSOLE_ALERTS_ENABLED", "bool", True, "log alerts to the console (local use)"),
    _s("alerts", "SMS_MAX_PER_SECOND", "float", 1.0, "Twilio long codes send about one message a second"),
    _s("alerts", "EMAIL_MAX_PER_SECOND", "float", 0.0,
       "emails per second to the SMTP relay, all workers (0: no limit)"),
    _s("alerts", "ALERT_LEASE_SECONDS", "int", 120,
       "seconds a sender holds an alert; a sender silent longer is presumed dead and the alert is re-sent"),
    _s("alerts", "ALERT_SWEEP_SECONDS", "int", 60, "how often the sweeper delivers every alert that is due"),
    _s("alerts", "ALERT_BATCH_SIZE", "int", 100, "alerts claimed per database round trip"),
    _s("alerts", "ALERT_RETRY_BASE_SECONDS", "float", 5.0, "first retry delay of an alert whose channel is down"),
    _s("alerts", "ALERT_RETRY_MAX_SECONDS", "float", 900.0, "longest retry delay of an alert (doubles up to this)"),
    _s("alerts", "ALERT_DIGEST_MAX_ENTRIES", "int", 250, "signals shown in one daily digest, highest scores first"),
    _s("observability", "SENTRY_DSN", "str", "", "Sentry DSN; Sentry is off when empty", secret=True),
    _s("observability", "SENTRY_ENVIRONMENT", "str", "development", "Sentry environment tag"),
    _s("observability", "EXPORTER_PORT", "int", 9091, "metrics and health service port"),
    _s("observability", "FLOWER_PORT", "int", 5555, "Flower port"),
    _s("observability", "FLOWER_BASIC_AUTH", "str", "",
       "user:password for Flower; `signals up` makes one under VAR_DIR when empty", secret=True),
    _s("observability", "PROMETHEUS_MULTIPROC_DIR", "str", "",
       "metrics files shared by prefork children; set by the start scripts"),
)

SPEC_BY_NAME = {s.name: s for s in SPECS}
SECRET_NAMES = frozenset(s.name for s in SPECS if s.secret)


@dataclass(frozen=True)
class Settings:
    values: dict[str, Any] = field(repr=False)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:  # never print secrets, even in a traceback
        shown = {k: ("***" if k in SECRET_NAMES and v else v) for k, v in self.values.items()}
        return f"Settings({shown})"

    @property
    def is_production(self) -> bool:
        return self.values["SIGNALS_ENV"] == "production"

    @property
    def var_dir(self) -> Path:
        return Path(self.values["VAR_DIR"]).resolve()

    def replace(self, **overrides: Any) -> "Settings":
        return Settings({**self.values, **{k.upper(): v for k, v in overrides.items()}})


_CASTS: dict[str, Callable[[environ.Env, str, Any], Any]] = {
    "str": lambda env, n, d: env.str(n, default=d),
    "int": lambda env, n, d: env.int(n, default=d),
    "float": lambda env, n, d: env.float(n, default=d),
    "bool": lambda env, n, d: env.bool(n, default=d),
    "list": lambda env, n, d: [x.strip() for x in env.list(n, default=d.split(",") if d else [])
                               if x.strip()],
}


def load_settings(env_file: str | os.PathLike[str] | None = None) -> Settings:
    """Read every setting; fail naming the setting when one is missing or malformed."""
    env = environ.FileAwareEnv()
    path = Path(env_file) if env_file else Path(os.environ.get("SIGNALS_DOTENV", ".env"))
    if path.is_file():
        # Real environment variables win over the file (django-environ's read_env uses setdefault).
        environ.Env.read_env(str(path))
    values: dict[str, Any] = {}
    for spec in SPECS:
        try:
            values[spec.name] = _CASTS[spec.cast](env, spec.name, spec.default)
        except (ValueError, environ.ImproperlyConfigured) as exc:
            raise SettingsError(f"setting {spec.name} is not a valid {spec.cast}: {exc}") from None
    settings = Settings(values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.SIGNALS_ENV not in ("development", "production"):
        raise SettingsError(f"setting SIGNALS_ENV must be development or production, not {s.SIGNALS_ENV!r}")
    if s.is_production:
        missing = [sp.name for sp in SPECS if sp.required_in_production
                   and not os.environ.get(sp.name) and not os.environ.get(sp.name + "_FILE")]
        if missing:
            raise SettingsError("missing required setting(s) for production: " + ", ".join(missing))
    if s.BEAT_MAX_LOOP_INTERVAL * 2 >= s.REDBEAT_LOCK_TIMEOUT:
        # A beat that sleeps longer than the lock lives loses the lock and exits (redbeat #129).
        raise SettingsError("setting REDBEAT_LOCK_TIMEOUT must be more than twice BEAT_MAX_LOOP_INTERVAL")
    if s.SMTP_SECURITY not in ("starttls", "ssl", "none"):
        raise SettingsError("setting SMTP_SECURITY must be starttls, ssl or none")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def env_example() -> str:
    """The text of compose/env.example, generated from SPECS."""
    lines = ["# investment-signals settings. Generated by `signals config env-example`; edit SPECS, not this file.",
             "# Secrets may instead be given as NAME_FILE=/path/to/file.", ""]
    group = None
    for spec in SPECS:
        if spec.group != group:
            group = spec.group
            lines += ["", f"# --- {group} ---"]
        lines.append(f"# {spec.doc}" + (" (required in production)" if spec.required_in_production else ""))
        default = spec.default
        if isinstance(default, bool):
            default = "true" if default else "false"
        value = "!!!SET ME!!!" if (spec.secret and spec.required_in_production) else default
        lines.append(f"{spec.name}={value}")
    return "\n".join(lines).lstrip("\n") + "\n"
