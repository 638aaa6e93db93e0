"""Reports: the calendar as CSV, an iCalendar feed of loss-of-exclusivity dates and the HTML report.

Each is stored as an artifact of the run and written under VAR_DIR/reports/ (a stable path, so a
calendar application can subscribe to the feed). Files are replaced atomically: a reader never
sees half a report.
"""
from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pipelines.core.model import StepContext, StepResult
from pipelines.core.settings import Settings
from pipelines.sources.orange_book.reports import (
    calendar_to_csv,
    calendar_to_html,
    calendar_to_ical,
)

from . import state

REPORT_FILES = {
    "orange_book_calendar.csv": "text/csv",
    "orange_book_loe.ics": "text/calendar",
    "orange_book_report.html": "text/html",
}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be read (or subscribed to)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reports_dir(settings: Settings) -> Path:
    """Where the latest reports are written: VAR_DIR/reports/."""
    return settings.var_dir / "reports"


def reports_step(ctx: StepContext) -> StepResult:
    if state.skipped(ctx):
        return StepResult(counts={"reports_skipped": 1})
    entries = state.read_calendar(ctx)
    scored = state.get_json(ctx, state.SCORES)
    scores = {(p["appl_no"], p["product_no"]): p["score"] for p in scored["products"]}
    as_of = state.as_of(ctx)
    outputs = {
        "orange_book_calendar.csv": calendar_to_csv(entries, as_of, scores).encode("utf-8"),
        "orange_book_loe.ics": calendar_to_ical(entries, generated_at=datetime.now(UTC)),
        "orange_book_report.html": calendar_to_html(entries, as_of, scores=scores).encode("utf-8"),
    }
    folder = reports_dir(ctx.settings)
    for name, data in outputs.items():
        ctx.artifacts.put(f"reports/{name}", data, REPORT_FILES[name])
        _write_atomic(folder / name, data)
    return StepResult(counts={"reports_written": len(outputs), "report_bytes": sum(len(d) for d in outputs.values())})
