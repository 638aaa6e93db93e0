"""Render the daily digest email (and one signal alert email) to HTML, optionally to PNG.

    python scripts/render_digest.py [SIGNALS.json] [--out-dir var] [--screenshot]

SIGNALS.json is a list of alert objects (the `AlertMessage.to_dict` form) or
{"date": "YYYY-MM-DD", "signals": [...]}. Without it, a built-in EXAMPLE digest is rendered:
invented companies, example.com links, and a banner saying so on every page.
Writes OUT/digest.html, OUT/digest.txt, OUT/alert_email.html (the highest-scored signal) and,
with --screenshot, OUT/digest.png and OUT/alert_email.png through headless Chromium.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

try:
    import notifications  # noqa: F401  (installed with `pip install -e .`)
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notifications.digest import render_digest
from notifications.message import (
    AlertMessage,
    Digest,
    Link,
    ScoreComponent,
    build_digest,
)
from notifications.render import EASTERN
from notifications.render_email import render_alert_email
from pipelines.core.errors import DataError

EXAMPLE_NOTICE = "EXAMPLE DIGEST — invented companies and example.com links, not real data"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--hide-scrollbars"]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _example(alert_id: str, pipeline: str, signal_type: str, ticker: str, company: str, score: float,
             tier: str, title: str, summary: str, parts: list[tuple[str, float, str]], link: tuple[str, str],
             event: str, detected: str) -> AlertMessage:
    return AlertMessage(
        alert_id=alert_id, kind="signal", tier=tier, pipeline=pipeline, signal_type=signal_type,
        title=f"Example: {title}", summary=summary, ticker=ticker, company=company, score=score,
        components=tuple(ScoreComponent(n, v, e) for n, v, e in parts),
        links=(Link(f"{link[0]} (example.com)", f"https://example.com/{link[1]}"),), event_time=_utc(event),
        detected_at=_utc(detected))


def example_digest() -> Digest:
    """A clearly labelled example digest (invented names, example.com links)."""
    alerts = [
        _example("example-form4-1", "form4", "insider_cluster_buy", "EXBI", "Example Biotech & Co.", 9.2, "critical",
                 "CEO, CFO and a director bought $2.1M on the open market",
                 "Three insiders bought within ten days; none of them bought in the same month in the prior "
                 "three years.",
                 [("Cluster of buyers", 3.0, "3 insiders within 10 days"),
                  ("Purchase size", 2.5, "$2.1M, 0.8% of market value"),
                  ("Opportunistic insiders", 2.0, "no same-month buys in the prior 3 years"),
                  ("Officer seniority", 1.7, "CEO and CFO among the buyers"),
                  ("Freshness", 0.0, "filed 1 day after the trade")],
                 ("Form 4 filing", "edgar/0000000000-25-000001"), "2025-03-03T20:45:00", "2025-03-04T11:10:00"),
        _example("example-form4-2", "form4", "insider_buy", "SMPL", "Sample Pharma Inc.", 7.4, "high",
                 "Director bought $640k after a 30% drawdown",
                 "Single open-market purchase by an independent director.",
                 [("Purchase size", 2.0, "$640k, 0.3% of market value"), ("After drawdown", 2.4, "-31% over 60 days"),
                  ("Opportunistic insider", 2.0, "first purchase on record"), ("Freshness", 1.0, "filed same day")],
                 ("Form 4 filing", "edgar/0000000000-25-000002"), "2025-03-04T15:02:00", "2025-03-04T16:30:00"),
        _example("example-ctgov-1", "ctgov", "trial_milestone", "DEMO", "Demo Therapeutics <Ltd>", 7.9, "high",
                 "Phase 3 primary completion moved four months earlier",
                 "The sponsor updated the record: primary completion 2025-06 (was 2025-10); enrolment complete.",
                 [("Phase 3 pivotal", 3.5, "lead asset, single pivotal trial"),
                  ("Timeline pulled in", 2.4, "4 months earlier"),
                  ("Enrolment complete", 2.0, "actual, not anticipated")],
                 ("Trial record", "ctgov/NCT00000000"), "2025-03-04T09:00:00", "2025-03-04T13:05:00"),
        _example("example-ctgov-2", "ctgov", "trial_status_change", "EXBI", "Example Biotech & Co.", 5.6, "info",
                 "Phase 2 trial status changed to Active, not recruiting",
                 "Watchlist ticker; the status change closes enrolment for the trial.",
                 [("Status change", 2.6, "Recruiting → Active, not recruiting"),
                  ("Watchlist", 3.0, "ticker on the watchlist")],
                 ("Trial record", "ctgov/NCT00000001"), "2025-03-04T10:20:00", "2025-03-04T14:40:00"),
        _example("example-ob-1", "orange_book", "patent_delisted", "SMPL", "Sample Pharma Inc.", 8.1, "high",
                 "Last listed patent on the lead product was delisted",
                 "Only regulatory exclusivity now stands between the product and generic entry.",
                 [("Loss of exclusivity", 4.0, "last Orange Book patent removed"),
                  ("Revenue share", 3.1, "about 60% of product revenue"), ("Paragraph IV filers", 1.0, "2 on record")],
                 ("Orange Book entry", "fda/orange-book/000000"), "2025-03-04T12:00:00", "2025-03-04T17:15:00"),
    ]
    digest = build_digest(date(2025, 3, 4), alerts, _utc("2025-03-04T22:00:00"), notice=EXAMPLE_NOTICE)
    return replace(digest, title="EXAMPLE — Investment signals daily digest")


def load_digest(path: Path) -> tuple[Digest, list[DataError]]:
    """The digest of the signals in a JSON file, and the records that could not be read."""
    data = json.loads(path.read_text(encoding="utf-8"))
    records = data.get("signals", []) if isinstance(data, dict) else data
    alerts: list[AlertMessage] = []
    errors: list[DataError] = []
    for record in records:
        try:
            alerts.append(AlertMessage.from_dict(record))
        except DataError as exc:
            errors.append(exc)
    if isinstance(data, dict) and data.get("date"):
        day = date.fromisoformat(str(data["date"]))
    elif alerts:
        day = max(a.detected_at for a in alerts).astimezone(EASTERN).date()
    else:
        day = datetime.now(EASTERN).date()
    return build_digest(day, alerts, datetime.now(UTC)), errors


def screenshot(html_path: Path, png_path: Path, width: int, height: int) -> None:
    """Screenshot a local HTML file with headless Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install -y --no-install-recommends chromium")
    subprocess.run([browser, *CHROMIUM_FLAGS, f"--window-size={width},{height}", f"--screenshot={png_path}",
                    html_path.resolve().as_uri()], check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("signals", nargs="?", type=Path, help="JSON file of signals (default: built-in example)")
    parser.add_argument("--out-dir", type=Path, default=Path("var"), help="where to write (default: var)")
    parser.add_argument("--screenshot", action="store_true", help="also write PNGs with headless Chromium")
    parser.add_argument("--width", type=int, default=800, help="screenshot width in pixels")
    parser.add_argument("--height", type=int, default=0, help="screenshot height (default: estimated)")
    args = parser.parse_args(argv)

    errors: list[DataError] = []
    if args.signals:
        digest, errors = load_digest(args.signals)
    else:
        digest = example_digest()
        print(f"No signals file given: rendering the built-in {EXAMPLE_NOTICE}.")
    for error in errors:
        print(f"skipped record {error.record_key or '?'}: {error}", file=sys.stderr)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    subject, text, html = render_digest(digest)
    outputs = {"digest": html}
    (args.out_dir / "digest.txt").write_text(f"Subject: {subject}\n\n{text}", encoding="utf-8")
    top = min(digest.entries, key=lambda e: e.sort_key, default=None)
    if top is not None:
        outputs["alert_email"] = render_alert_email(top.alert).html
    for name, content in outputs.items():
        html_path = args.out_dir / f"{name}.html"
        html_path.write_text(content, encoding="utf-8")
        print(f"wrote {html_path}")
        if args.screenshot:
            # Headless Chromium shoots the viewport only, so size it to the content.
            height = args.height or (480 + 420 * len(digest.entries) if name == "digest" else 1000)
            screenshot(html_path, args.out_dir / f"{name}.png", args.width, height)
            print(f"wrote {args.out_dir / f'{name}.png'}")
    print(f"subject: {subject}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
