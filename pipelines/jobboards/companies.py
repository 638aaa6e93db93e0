"""The companies whose public job boards the hiring pipeline polls.

The list is a CSV (ticker, board, token, name): the packaged `pipelines/data/hiring_companies.csv`,
or the file the HIRING_COMPANIES_FILE setting names. `board` is greenhouse, lever or ashby; `token`
is the Greenhouse board token, Lever site or Ashby job-board name. A company without a ticker
(private) may be listed; its signals then carry no ticker.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.core.errors import ConfigError
from pipelines.sources.jobs.boards import BOARDS, ashby_job_board_url, greenhouse_jobs_url, lever_postings_url

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "hiring_companies.csv"
COLUMNS = ("ticker", "board", "token", "name")


@dataclass(frozen=True)
class Company:
    ticker: str | None
    board: str
    token: str
    name: str

    @property
    def key(self) -> str:
        """How the company is named where it has no ticker."""
        return f"{self.board}:{self.token}"

    @property
    def label(self) -> str:
        return self.ticker or self.key


def load_companies(path: str | Path | None = None) -> list[Company]:
    """Read a companies CSV; ConfigError naming the file and line on a bad row."""
    where = Path(path) if path else DEFAULT_PATH
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"hiring companies file {where} does not exist (setting HIRING_COMPANIES_FILE)") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"hiring companies file {where} lacks column(s) {', '.join(missing)}; "
                          f"expected {','.join(COLUMNS)}")
    companies: list[Company] = []
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(reader, start=2):
        board = (row["board"] or "").strip().lower()
        token = (row["token"] or "").strip()
        if board not in BOARDS:
            raise ConfigError(f"{where} line {line}: board {row['board']!r} is not one of {', '.join(BOARDS)}")
        if not token:
            raise ConfigError(f"{where} line {line}: empty board token")
        if (board, token) in seen:
            raise ConfigError(f"{where} line {line}: {board} board {token!r} is listed twice")
        seen.add((board, token))
        ticker = (row["ticker"] or "").strip().upper() or None
        companies.append(Company(ticker=ticker, board=board, token=token, name=(row["name"] or "").strip() or token))
    return companies


def companies_from_settings(settings: Any) -> list[Company]:
    return load_companies((settings.HIRING_COMPANIES_FILE or "").strip() or None)


def board_url(settings: Any, company: Company) -> str:
    """The public API listing of a company's postings, on the configured base URL of its board."""
    if company.board == "greenhouse":
        return greenhouse_jobs_url(settings.GREENHOUSE_BASE_URL, company.token)
    if company.board == "lever":
        return lever_postings_url(settings.LEVER_BASE_URL, company.token)
    return ashby_job_board_url(settings.ASHBY_BASE_URL, company.token)
