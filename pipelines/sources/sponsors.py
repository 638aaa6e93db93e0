"""Industry lead sponsor -> ticker: override table, then exact, then fuzzy name match.

Order matters: subsidiaries and acquired companies ("Genentech, Inc.", "Janssen Research &
Development, LLC") never match their parent by name, so the shipped override table
(`pipelines/data/sponsor_overrides.csv`, editable) is tried first. Then the sponsor's normalized
name is compared with the normalized titles of SEC `company_tickers.json`: equal names are an exact
match (confidence 1.0); otherwise rapidfuzz `token_sort_ratio` at or above the threshold is a fuzzy
match with confidence = ratio / 100.

Only `leadSponsor.class == "INDUSTRY"` sponsors are mapped: universities, hospitals and agencies have
no ticker, and a projected record without the class is not guessed at.
"""
from __future__ import annotations

import csv
import fnmatch
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process

from pipelines.core.errors import ConfigError, DataError

DEFAULT_OVERRIDES_PATH = Path(__file__).resolve().parents[1] / "data" / "sponsor_overrides.csv"
DEFAULT_FUZZY_THRESHOLD = 90.0
_MIN_FUZZY_LENGTH = 4  # shorter names fuzzy-match almost anything

# Legal-form words dropped from the END of a name, longest first. Industry words such as
# "Pharmaceuticals" or "Therapeutics" stay: dropping them makes "X Pharmaceuticals" equal to an
# unrelated "X Inc" and turns a miss into a wrong ticker.
_SUFFIXES = tuple(s.split() for s in sorted((
    "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc", "l l c",
    "lp", "l p", "plc", "gmbh", "ag", "sa", "s a", "nv", "n v", "bv", "b v", "as", "a s", "ab", "kk",
    "k k", "spa", "s p a", "se", "srl", "s r l", "pty", "holdings", "holding",
), key=lambda s: -len(s.split())))
_STATE_TAG_RE = re.compile(r"\s*/\s*[A-Za-z]{2,3}\s*/?\s*$")  # EDGAR titles end with "/DE", "/MA/" etc.
_NON_WORD_RE = re.compile(r"[^0-9a-z*]+")


@dataclass(frozen=True)
class TickerEntry:
    cik: int
    ticker: str
    title: str


@dataclass(frozen=True)
class Override:
    sponsor_pattern: str
    ticker: str
    note: str


@dataclass(frozen=True)
class SponsorMatch:
    sponsor: str
    ticker: str
    cik: int | None
    method: str  # override | exact | fuzzy
    confidence: float  # 0..1


def clean_name(name: str) -> str:
    """Lower case, '&' -> 'and', punctuation -> spaces (keeps '*' for override patterns)."""
    text = _STATE_TAG_RE.sub("", name).lower().replace("&", " and ")
    return " ".join(_NON_WORD_RE.sub(" ", text).split())


def normalize_name(name: str) -> str:
    """`clean_name` without trailing legal forms or a leading "the"; never reduced to nothing.

    >>> normalize_name("ELI LILLY & Co") == normalize_name("Eli Lilly and Company")
    True
    """
    words = clean_name(name).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            n = len(suffix)
            if len(words) > n and words[-n:] == suffix:
                words = words[:-n]
                changed = True
                break
        # "Eli Lilly and Co" loses "co" and would keep a dangling "and"
        if len(words) > 1 and words[-1] == "and":
            words = words[:-1]
            changed = True
    return " ".join(words)


def load_company_tickers(data: bytes | str) -> list[TickerEntry]:
    """Parse SEC `company_tickers.json` ({"0": {cik_str, ticker, title}, ...}) in file order."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"company_tickers.json is not valid JSON ({exc})", source="sec_tickers") from exc
    if not isinstance(doc, dict):
        raise DataError("company_tickers.json is not an object keyed by position", source="sec_tickers")
    entries = []
    # Keys are positions ("0", "1", ...) and SEC lists the main share class first.
    for key in sorted(doc, key=lambda k: int(k) if k.isdigit() else 1 << 62):
        row = doc[key]
        if (not isinstance(row, dict) or not isinstance(row.get("cik_str"), int)
                or not isinstance(row.get("ticker"), str) or not isinstance(row.get("title"), str)):
            raise DataError(f"company_tickers.json entry {key!r} lacks int cik_str, ticker or title",
                            source="sec_tickers", record_key=key)
        entries.append(TickerEntry(cik=row["cik_str"], ticker=row["ticker"], title=row["title"]))
    return entries


def load_overrides(path: Path | str = DEFAULT_OVERRIDES_PATH) -> list[Override]:
    """Read the override CSV (sponsor_pattern, ticker, note); `*` in a pattern is a wildcard."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"sponsor override table {path} cannot be read: {exc}") from exc
    return parse_overrides(text, where=str(path))


def parse_overrides(text: str, *, where: str = "sponsor overrides") -> list[Override]:
    reader = csv.DictReader(io.StringIO(text))
    expected = ["sponsor_pattern", "ticker", "note"]
    if reader.fieldnames != expected:
        raise ConfigError(f"{where}: header must be {','.join(expected)}, got {reader.fieldnames}")
    rows = []
    for line, row in enumerate(reader, start=2):
        pattern, ticker = (row["sponsor_pattern"] or "").strip(), (row["ticker"] or "").strip()
        if not pattern or not ticker:
            raise ConfigError(f"{where} line {line}: sponsor_pattern and ticker are required")
        rows.append(Override(pattern, ticker.upper(), (row["note"] or "").strip()))
    return rows


class SponsorMapper:
    """Maps industry lead sponsors to tickers; build once per run, then call `match`."""

    def __init__(self, tickers: Iterable[TickerEntry], overrides: Iterable[Override] = (),
                 *, fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> None:
        if not 0 < fuzzy_threshold <= 100:
            raise ConfigError(f"fuzzy_threshold must be in (0, 100], got {fuzzy_threshold}")
        self.fuzzy_threshold = fuzzy_threshold
        self._overrides = [(clean_name(o.sponsor_pattern), o) for o in overrides]
        self._cik_by_ticker: dict[str, int] = {}
        self._by_name: dict[str, TickerEntry] = {}
        for entry in tickers:
            self._cik_by_ticker.setdefault(entry.ticker.upper(), entry.cik)
            name = normalize_name(entry.title)
            if name:
                self._by_name.setdefault(name, entry)  # first = main share class (GOOGL before GOOG)
        self._names = list(self._by_name)

    @classmethod
    def from_files(cls, tickers_json: Path | str, overrides_csv: Path | str = DEFAULT_OVERRIDES_PATH,
                   *, fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> SponsorMapper:
        tickers = load_company_tickers(Path(tickers_json).read_bytes())
        return cls(tickers, load_overrides(overrides_csv), fuzzy_threshold=fuzzy_threshold)

    def _override(self, sponsor: str) -> SponsorMatch | None:
        cleaned, normalized = clean_name(sponsor), normalize_name(sponsor)
        for pattern, row in self._overrides:
            if "*" in pattern:
                hit = fnmatch.fnmatchcase(cleaned, pattern)
            else:
                hit = pattern == cleaned or normalize_name(pattern) == normalized
            if hit:
                return SponsorMatch(sponsor, row.ticker, self._cik_by_ticker.get(row.ticker), "override", 1.0)
        return None

    def match(self, sponsor: str | None, sponsor_class: str | None) -> SponsorMatch | None:
        """The ticker for an INDUSTRY lead sponsor, or None (not industry, or no match)."""
        if sponsor_class != "INDUSTRY" or not sponsor or not sponsor.strip():
            return None
        found = self._override(sponsor)
        if found:
            return found
        name = normalize_name(sponsor)
        entry = self._by_name.get(name)
        if entry:
            return SponsorMatch(sponsor, entry.ticker, entry.cik, "exact", 1.0)
        if len(name) < _MIN_FUZZY_LENGTH or not self._names:
            return None
        best = process.extractOne(name, self._names, scorer=fuzz.token_sort_ratio,
                                  score_cutoff=self.fuzzy_threshold)
        if best is None:
            return None
        entry = self._by_name[best[0]]
        return SponsorMatch(sponsor, entry.ticker, entry.cik, "fuzzy", round(best[1] / 100, 4))

    def matches_to(self, ticker: str, sponsors: Iterable[str]) -> list[SponsorMatch]:
        """The matches of those INDUSTRY `sponsors` that `match` maps to `ticker` (any case), in order.

        The reverse lookup without a fuzzy search per name: a sponsor an override row catches maps
        by that row alone, and any other can only map to `ticker` if its name is within the fuzzy
        threshold of one of the ticker's SEC titles; only those are matched in full.
        """
        wanted = ticker.strip().upper()
        titles = [name for name, entry in self._by_name.items() if entry.ticker.upper() == wanted]
        found = []
        for sponsor in sponsors:
            m = self._override(sponsor) if sponsor and sponsor.strip() else None
            if m is None and any(fuzz.token_sort_ratio(normalize_name(sponsor), t) >= self.fuzzy_threshold
                                 for t in titles):
                m = self.match(sponsor, "INDUSTRY")
            if m is not None and m.ticker.upper() == wanted:
                found.append(m)
        return found

    def unmapped(self, sponsors: Iterable[tuple[str | None, str | None]]) -> list[str]:
        """Distinct INDUSTRY sponsor names (from (name, class) pairs) with no match, sorted."""
        missing = {name for name, klass in sponsors
                   if klass == "INDUSTRY" and name and self.match(name, klass) is None}
        return sorted(missing)
