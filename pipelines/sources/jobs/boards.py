"""Greenhouse, Lever and Ashby job-board payloads normalised to one `Posting` shape.

Each parser takes the decoded JSON (plus, optionally, the raw bytes for error reports) and returns
`(postings, errors)`: a bad posting is reported with its own JSON and the rest go on.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from pipelines.core.errors import DataError

BOARDS = ("greenhouse", "lever", "ashby")


@dataclass(frozen=True)
class Posting:
    board: str
    company_token: str
    posting_id: str
    title: str
    department: str | None
    team: str | None
    location: str | None
    url: str | None
    published_at: datetime | None  # aware
    updated_at: datetime | None  # aware
    employment_type: str | None
    description_text: str


@dataclass(frozen=True)
class BadPosting:
    """A posting (or a whole payload) that could not be read, with the raw JSON the quarantine keeps."""

    error: DataError
    raw: bytes


def greenhouse_jobs_url(base: str, token: str) -> str:
    """Greenhouse Job Board API list of a board's jobs with their descriptions."""
    return f"{base.rstrip('/')}/boards/{quote(token, safe='')}/jobs?content=true"


def lever_postings_url(base: str, site: str) -> str:
    """Lever Postings API list of a site's published postings."""
    return f"{base.rstrip('/')}/postings/{quote(site, safe='')}?mode=json"


def ashby_job_board_url(base: str, token: str) -> str:
    """Ashby Posting API job board, compensation included."""
    return f"{base.rstrip('/')}/job-board/{quote(token, safe='')}?includeCompensation=true"


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: block elements become line breaks, blank runs collapse."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return tidy_text("".join(parser.parts))


def tidy_text(text: str) -> str:
    """Collapse runs of spaces (including no-break spaces) and of blank lines."""
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def load_payload(raw: bytes, *, board: str, company_token: str) -> Any:
    """Decode a board response; raises DataError naming the board when it is not JSON."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{board} response for {company_token!r} is not JSON: {exc}",
                        source=f"jobs.{board}", record_key=company_token) from None


def parse_greenhouse(payload: Any, *, company_token: str,
                     raw: bytes | None = None) -> tuple[list[Posting], list[BadPosting]]:
    """Greenhouse `{"jobs": [...], "meta": {...}}` with `content=true` (entity-escaped HTML)."""
    jobs = payload.get("jobs") if isinstance(payload, dict) else None
    return _each("greenhouse", company_token, jobs, "an object with a 'jobs' list", payload, raw, _greenhouse)


def parse_lever(payload: Any, *, company_token: str,
                raw: bytes | None = None) -> tuple[list[Posting], list[BadPosting]]:
    """Lever `mode=json`: a top-level array, `createdAt` in epoch milliseconds."""
    return _each("lever", company_token, payload, "a top-level array", payload, raw, _lever, "text")


def parse_ashby(payload: Any, *, company_token: str,
                raw: bytes | None = None) -> tuple[list[Posting], list[BadPosting]]:
    """Ashby `{"jobs": [...]}`; unlisted jobs (`isListed: false`) are skipped."""
    jobs = payload.get("jobs") if isinstance(payload, dict) else None
    return _each("ashby", company_token, jobs, "an object with a 'jobs' list", payload, raw, _ashby)


def parse_board(board: str, raw: bytes, *, company_token: str) -> tuple[list[Posting], list[BadPosting]]:
    """Decode and normalise one board response; an undecodable body is one error, not an exception."""
    parsers = {"greenhouse": parse_greenhouse, "lever": parse_lever, "ashby": parse_ashby}
    if board not in parsers:
        raise ValueError(f"unknown job board {board!r}; expected one of {', '.join(BOARDS)}")
    try:
        payload = load_payload(raw, board=board, company_token=company_token)
    except DataError as exc:
        return [], [BadPosting(exc, raw)]
    return parsers[board](payload, company_token=company_token, raw=raw)


# --- per-board field mapping --------------------------------------------------------------------------

_Mapper = Callable[[dict[str, Any], str, Callable[[str], DataError]], "Posting | None"]


def _each(board: str, token: str, items: Any, shape: str, payload: Any, raw: bytes | None,
          mapper: _Mapper, title_key: str = "title") -> tuple[list[Posting], list[BadPosting]]:
    source = f"jobs.{board}"
    if not isinstance(items, list):
        error = DataError(f"{board} payload for {token!r} is not {shape} (got {type(payload).__name__})",
                          source=source, record_key=token)
        return [], [BadPosting(error, raw if raw is not None else _dump(payload))]
    postings: list[Posting] = []
    errors: list[BadPosting] = []
    for index, item in enumerate(items):
        ident = item.get("id") if isinstance(item, dict) else None
        where = f"{token}/{ident}" if ident not in (None, "") else f"{token}#{index}"

        def bad(problem: str, where: str = where) -> DataError:
            return DataError(f"{board} posting {where}: {problem}", source=source, record_key=where)

        try:
            if not isinstance(item, dict):
                raise bad(f"is a {type(item).__name__}, not an object")
            if ident in (None, ""):
                raise bad("has no id")
            title = item.get(title_key)
            if not isinstance(title, str) or not title.strip():
                raise bad(f"has no title ({title_key!r})")
            posting = mapper(item, token, bad)
        except DataError as exc:
            errors.append(BadPosting(exc, _dump(item)))
            continue
        if posting is not None:
            postings.append(posting)
    return postings, errors


def _greenhouse(job: dict[str, Any], token: str, bad: Callable[[str], DataError]) -> Posting:
    departments = [d.get("name", "").strip() for d in job.get("departments") or [] if isinstance(d, dict)]
    content = job.get("content")
    # With content=true the HTML arrives entity-escaped once more: unescape, then read it as HTML.
    text = html_to_text(html.unescape(content)) if isinstance(content, str) else ""
    return Posting(
        board="greenhouse", company_token=token, posting_id=str(job["id"]), title=job["title"].strip(),
        department=", ".join(d for d in departments if d) or None, team=None,
        location=_str((job.get("location") or {}).get("name")), url=_str(job.get("absolute_url")),
        published_at=_iso(job.get("first_published"), "first_published", bad),
        updated_at=_iso(job.get("updated_at"), "updated_at", bad),
        employment_type=None, description_text=text,
    )


def _lever(post: dict[str, Any], token: str, bad: Callable[[str], DataError]) -> Posting:
    cats = post.get("categories") or {}
    parts = [post.get("descriptionPlain") or html_to_text(post.get("description") or "")]
    for block in post.get("lists") or []:
        if isinstance(block, dict):
            parts.append("\n".join(p for p in (_str(block.get("text")), html_to_text(block.get("content") or ""))
                                   if p))
    parts.append(post.get("additionalPlain") or html_to_text(post.get("additional") or ""))
    return Posting(
        board="lever", company_token=token, posting_id=str(post["id"]), title=post["text"].strip(),
        department=_str(cats.get("department")), team=_str(cats.get("team")), location=_str(cats.get("location")),
        url=_str(post.get("hostedUrl")),
        published_at=_epoch_ms(post.get("createdAt"), "createdAt", bad),
        updated_at=_epoch_ms(post.get("updatedAt"), "updatedAt", bad),
        employment_type=_str(cats.get("commitment")),
        description_text=tidy_text("\n\n".join(p for p in parts if p)),
    )


def _ashby(job: dict[str, Any], token: str, bad: Callable[[str], DataError]) -> Posting | None:
    if job.get("isListed") is False:
        return None
    text = job.get("descriptionPlain") or html_to_text(job.get("descriptionHtml") or "")
    return Posting(
        board="ashby", company_token=token, posting_id=str(job["id"]), title=job["title"].strip(),
        department=_str(job.get("department")), team=_str(job.get("team")), location=_str(job.get("location")),
        url=_str(job.get("jobUrl")),
        published_at=_iso(job.get("publishedAt"), "publishedAt", bad),
        updated_at=_iso(job.get("updatedAt"), "updatedAt", bad),
        employment_type=_str(job.get("employmentType")), description_text=tidy_text(text),
    )


def _str(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _iso(value: Any, name: str, bad: Callable[[str], DataError]) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise bad(f"{name} {value!r} is not an ISO date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad(f"{name} {value!r} is not an ISO date-time") from None
    if parsed.tzinfo is None:
        raise bad(f"{name} {value!r} has no UTC offset")
    return parsed


def _epoch_ms(value: Any, name: str, bad: Callable[[str], DataError]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"{name} {value!r} is not epoch milliseconds")
    # Lever sends milliseconds; a value this small would be seconds (before 1973 as milliseconds).
    if value < 10**11:
        raise bad(f"{name} {value!r} looks like epoch seconds, expected milliseconds")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _dump(item: Any) -> bytes:
    return json.dumps(item, ensure_ascii=False).encode("utf-8")


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
                         "section", "article", "header", "footer", "blockquote", "pre", "hr"})
    _HIDDEN = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
