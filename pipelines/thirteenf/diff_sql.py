"""Report versions and their position changes on PostgreSQL, computed where the rows are.

The Python diff (`detect.python_versions`: SQLite's path, and the reference) reads both quarters'
rows of each manager back as objects, diffs them and COPYs the changes in: a quarter's rows cross
the connection three times. Here Python only decides, from the filing rows alone, which versions to
record and which filings' rows make up each side (`report_parts_as_of`: amendments point in time);
PostgreSQL sums, ranks and diffs every version's positions in one INSERT ... SELECT: the full outer
join of each version's previous and current positions, done as one GROUP BY over both sides' rows.
A version's rows, value and manager-screen figures come from its filing row when the view is that one
filing (the loader summed them while parsing: store.filing_figures); only views that combine filings,
and filings loaded before migration 0009, are summed from the rows (_STATS).

The change rows are the Python diff's (tests/integration/test_13f_diff_sql.py runs both on the same
data): the same aggregation key (CUSIP, put/call, class, SH/PRN), each position's issuer name from its
first row in view order (filing order, then row), ranks by value then CUSIP in code point order
(COLLATE "C") then first row, weights as the same IEEE division (exact for totals below 2^53 dollars),
and a CUSIP's ticker from its first name in the current view, else in the previous one.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, cast

from sqlalchemy import CursorResult, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from pipelines.core.db import table_of
from pipelines.core.model import StepContext
from pipelines.scoring.institutional import passes_screen
from pipelines.sources.edgar.refs import filing_index_url
from pipelines.sources.edgar.thirteenf import Report
from pipelines.sources.edgar.thirteenf_reports import report_parts_as_of

from .models import ThirteenFFiling, ThirteenFReport
from .quarters import quarter_before
from .store import filing_cover
from .tickers import name_tickers
from .views import views_as_of

WORK_MEM = "64MB"  # per sort or hash of the diff statements (a few at once), for their duration only


Stats = tuple[int, int, int, int, int]  # rows, value, share positions, their value, the ten largest's value


@dataclass(frozen=True)
class Version:
    """One report version to record: its view, and the filings whose rows make up each side."""

    cik: int
    period: date
    as_of: date
    manager: str
    view: Report  # cover, accession and sources of the view (no holdings)
    cur: tuple[int, ...]  # filing ids, in view order
    prev: tuple[int, ...] | None  # None: no previous quarter known on `as_of`
    link: str
    figures: Stats | None  # a one-filing view's, from its filing row; None: summed in SQL (_stats)


def sql_versions(ctx: StepContext, pairs: Sequence[tuple[int, date]], names: dict[int, str], as_of: date,
                 titles: dict[str, str]) -> Counter[str]:
    """Record the new report versions of each (cik, period) and their position changes; the counts."""
    counts: Counter[str] = Counter()
    versions = plan_versions(ctx, pairs, names, as_of, counts)
    if not versions:
        return counts
    session = ctx.session
    stats = {i: v.figures for i, v in enumerate(versions) if v.figures is not None}
    if len(stats) < len(versions):
        stats.update(_stats(session, versions, [i for i, v in enumerate(versions) if v.figures is None]))
    ids = _record_reports(ctx, versions, stats)
    if not ids:
        return counts
    diffed = {i: rid for i, rid in ids.items() if versions[i].prev is not None}
    counts["report_versions"] += len(ids)
    counts["no_prior_quarter"] += len(ids) - len(diffed)
    counts["position_changes"] += _insert_changes(
        session, versions, diffed, {v: figures[1] for v, figures in stats.items()}, titles) if diffed else 0
    return counts


def plan_versions(ctx: StepContext, pairs: Sequence[tuple[int, date]], names: dict[int, str], as_of: date,
                  counts: Counter[str]) -> list[Version]:
    """The versions not recorded yet: one per filing date up to `as_of` of each (cik, period)."""
    session = ctx.session
    ciks = sorted({c for c, _ in pairs})
    periods = sorted({p for _, p in pairs} | {quarter_before(p) for _, p in pairs})
    if not ciks:
        return []
    f = ThirteenFFiling
    filings: dict[tuple[int, date], list[tuple[int, Report]]] = defaultdict(list)
    figures: dict[int, Stats] = {}
    for row in session.scalars(select(f).where(f.cik.in_(ciks), f.period.in_(periods), f.state == "loaded")
                               .order_by(f.filed, f.id)):
        filings[(row.cik, row.period)].append(  # type: ignore[index]
            (row.id, Report(cover=filing_cover(row), holdings=(), filed=row.filed, accession=row.accession)))
        if None not in (row.table_value_usd, row.share_positions, row.share_value_usd, row.share_top10_usd):
            figures[row.id] = (row.rows, row.table_value_usd, row.share_positions,  # type: ignore[assignment]
                               row.share_value_usd, row.share_top10_usd)
    r = ThirteenFReport
    recorded: dict[tuple[int, date], set[date]] = defaultdict(set)
    for cik, period, day in session.execute(select(r.cik, r.period, r.as_of).where(r.cik.in_(ciks),
                                                                                   r.period.in_(periods))):
        recorded[(cik, period)].add(day)
    versions: list[Version] = []
    for cik, period in pairs:
        own = filings.get((cik, period), [])
        dates = sorted({rep.filed for _, rep in own if rep.filed <= as_of} - recorded[(cik, period)])
        if not dates:
            continue
        prev = filings.get((cik, quarter_before(period)), [])
        ids = {rep.accession: fid for fid, rep in own + prev}
        manager = names.get(cik) or own[0][1].cover.filer_name
        for day in dates:
            views = views_as_of(ctx, report_parts_as_of, [rep for _, rep in own], [rep for _, rep in prev], cik,
                                period, day, counts)
            if views is None:
                continue
            (view, parts), before = views
            cur = tuple(ids[p.accession] for p in parts)
            versions.append(Version(
                cik, period, day, manager, view, cur,
                None if before is None else tuple(ids[p.accession] for p in before[1]),
                filing_index_url(ctx.settings.SEC_WWW_BASE_URL, cik, view.accession),
                figures.get(cur[0]) if len(cur) == 1 else None))
    return versions


def _parts(versions: Sequence[Version], which: Sequence[int], *, prev: bool) -> dict[str, list[int]]:
    """unnest() arrays of (version, side, ord, filing_id): side 0 the current view, 1 the previous one."""
    out: dict[str, list[int]] = {"version": [], "side": [], "ord": [], "filing_id": []}
    for i in which:
        v = versions[i]
        for side, ids in ((0, v.cur), (1, v.prev if prev else None)):
            for n, fid in enumerate(ids or ()):
                out["version"].append(i)
                out["side"].append(side)
                out["ord"].append(n)
                out["filing_id"].append(fid)
    return out


# The parts come sorted by version: joined to the rows through the primary key (filing_id, row), they
# then reach the GROUP BY already in version order, so each version's rows are sorted on their own, in
# memory (an incremental sort), instead of the whole quarter's in one sort that spills to disk.
_PARTS = """parts AS (
    SELECT * FROM unnest(CAST(:version AS int[]), CAST(:side AS int[]), CAST(:ord AS int[]),
                         CAST(:filing_id AS bigint[])) AS p(version, side, ord, filing_id)
    ORDER BY version, side, ord)"""

# Per version: rows and value of the view, and the manager screen's figures (its share rows summed by
# CUSIP: how many, their value, the ten largest's value), in one pass over the rows. Text keys are
# grouped bytewise (COLLATE "C"): the database's default collation compares through strcoll, several
# times slower, and equality is the same either way.
_STATS = text(f"""
WITH {_PARTS},
by_cusip AS (
    SELECT p.version, h.cusip COLLATE "C" AS cusip, h.put_call IS NULL AS shares, count(*) AS n,
           sum(h.value_usd)::bigint AS value
    FROM parts p JOIN thirteenf_holdings h ON h.filing_id = p.filing_id
    GROUP BY 1, 2, 3),
ranked AS (SELECT *, row_number() OVER (PARTITION BY version, shares ORDER BY value DESC) AS k FROM by_cusip)
SELECT version, sum(n), sum(value), count(*) FILTER (WHERE shares), coalesce(sum(value) FILTER (WHERE shares), 0),
       coalesce(sum(value) FILTER (WHERE shares AND k <= 10), 0)
FROM ranked GROUP BY version
""")


def _stats(session: Session, versions: Sequence[Version], which: Sequence[int]) -> dict[int, Stats]:
    """version -> its Stats, summed from the rows, for the versions `which`; empty views absent."""
    with statement_settings(session):
        rows = session.execute(_STATS, _parts(versions, which, prev=False)).all()
    return {v: (int(n), int(value), int(positions), int(total), int(top10))
            for v, n, value, positions, total, top10 in rows}


def _record_reports(ctx: StepContext, versions: Sequence[Version],
                    stats: dict[int, Stats]) -> dict[int, int]:
    """Insert the report rows (a version another run recorded first is skipped); version -> report id."""
    now = datetime.now(timezone.utc)
    values: list[dict[str, Any]] = []
    for i, v in enumerate(versions):
        rows, value, positions, total, top10 = stats.get(i, (0, 0, 0, 0, 0))
        values.append(dict(
            cik=v.cik, manager_name=v.manager, period=v.period, as_of=v.as_of, accession=v.view.accession,
            sources=list(v.view.sources), rows=rows, value_usd=value, qualified=passes_screen(positions, total, top10),
            prev_period=quarter_before(v.period) if v.prev is not None else None,
            diff_state="diffed" if v.prev is not None else "no_prior", link=v.link, run_id=ctx.run_id, created_at=now))
    r = ThirteenFReport
    stmt = (postgresql.insert(table_of(r)).on_conflict_do_nothing(index_elements=["cik", "period", "as_of"])
            .returning(r.id, r.cik, r.period, r.as_of))
    index = {(v.cik, v.period, v.as_of): i for i, v in enumerate(versions)}
    return {index[(cik, period, day)]: rid for rid, cik, period, day in ctx.session.execute(stmt, values)}


# Every version's changes at once, as one GROUP BY over both sides' rows (one sort instead of two
# aggregates and a join). The seq inside `first` orders a version's rows as the Python diff reads
# them: the current view's before the previous one's, each in filing order, then row order (a view's
# filings stay below 2^16 and a filing's rows below 2^32). A position is named by its first row (a
# current one if it has any), a CUSIP's ticker comes from its first row's name, and equal values of
# one CUSIP rank by first row.
# PostgreSQL has no "value at the smallest seq" aggregate, so `first` is the zero-padded seq
# followed by the name, and min() over it in byte order (COLLATE "C") picks the first row's name.
# Share rows have put_call '' in the key, as in the stored changes. Keys are grouped and sorted
# bytewise, as _STATS explains; the parts come in report order, as _PARTS explains, and so do the
# rows written, which keeps the primary key's inserts on its last pages. Each part carries its view's
# value total (the stats' sum of the same rows), which the weights divide by.
_CHANGES = """
WITH parts AS (
    SELECT * FROM unnest(CAST(:report_id AS bigint[]), CAST(:side AS int[]), CAST(:ord AS int[]),
                         CAST(:filing_id AS bigint[]), CAST(:total AS bigint[]))
                  AS p(report_id, side, ord, filing_id, total)
    ORDER BY report_id, side, ord),
pos AS (
    SELECT p.report_id, h.cusip COLLATE "C" AS cusip, coalesce(h.put_call, '') COLLATE "C" AS put_call,
           h.title_of_class COLLATE "C" AS title_of_class, h.sh_prn_type COLLATE "C" AS sh_prn_type,
           min((lpad(((p.side::bigint << 48) + (p.ord::bigint << 32) + h.row)::text, 19, '0')
                || h.name_of_issuer) COLLATE "C") AS first,
           coalesce(sum(h.shares_or_principal) FILTER (WHERE p.side = 0), 0)::bigint AS shares_cur,
           coalesce(sum(h.shares_or_principal) FILTER (WHERE p.side = 1), 0)::bigint AS shares_prev,
           coalesce(sum(h.value_usd) FILTER (WHERE p.side = 0), 0)::bigint AS value_cur,
           coalesce(sum(h.value_usd) FILTER (WHERE p.side = 1), 0)::bigint AS value_prev,
           (count(*) FILTER (WHERE p.side = 0))::int AS rows_cur,
           (count(*) FILTER (WHERE p.side = 1))::int AS rows_prev,
           max(p.total) AS total
    FROM parts p JOIN thirteenf_holdings h ON h.filing_id = p.filing_id
    GROUP BY 1, 2, 3, 4, 5),
ranked AS (
    SELECT *, CASE WHEN rows_cur > 0 THEN row_number() OVER (PARTITION BY report_id, rows_cur > 0
                                                            ORDER BY value_cur DESC, cusip, first) END AS rank,
           min(first) OVER (PARTITION BY report_id, cusip) AS cusip_first
    FROM pos){tickers}
INSERT INTO thirteenf_position_changes (report_id, cusip, put_call, title_of_class, sh_prn_type, name_of_issuer,
    ticker, mapped, status, shares_prev, shares_cur, value_prev_usd, value_cur_usd, weight_cur, rank_cur, rows_cur)
SELECT x.report_id, x.cusip, x.put_call, x.title_of_class, x.sh_prn_type, substr(x.first, 20), {ticker},
       {ticker} IS NOT NULL,
       CASE WHEN x.rows_prev = 0 THEN 'new' WHEN x.rows_cur = 0 THEN 'closed'
            WHEN x.shares_cur > x.shares_prev THEN 'increased' WHEN x.shares_cur < x.shares_prev THEN 'decreased'
            ELSE 'unchanged' END,
       x.shares_prev, x.shares_cur, x.value_prev, x.value_cur,
       CASE WHEN x.rows_cur > 0 AND x.total <> 0 THEN x.value_cur::float8 / x.total::float8 ELSE 0 END,
       x.rank, x.rows_cur
FROM ranked x{ticker_join}
"""
_TICKERS = """,
names AS (SELECT * FROM unnest(CAST(:names AS text[]), CAST(:tickers AS text[])) AS m(name, ticker))"""
_TICKER_JOIN = """
LEFT JOIN names t ON t.name = substr(x.cusip_first, 20)"""
_NAMES = text("SELECT DISTINCT name_of_issuer FROM thirteenf_holdings WHERE filing_id = ANY(CAST(:ids AS bigint[]))")


def _insert_changes(session: Session, versions: Sequence[Version], diffed: dict[int, int], totals: dict[int, int],
                    titles: dict[str, str]) -> int:
    """Write the position changes of the `diffed` versions (version -> report id, value total); the rows
    written."""
    params: dict[str, Any] = _parts(versions, sorted(diffed), prev=True)
    params["total"] = [totals.get(v, 0) for v in params["version"]]
    params["report_id"] = [diffed[v] for v in params.pop("version")]
    mapped = {}
    if titles:  # only names seen in these views can be a first name
        seen = session.scalars(_NAMES, {"ids": sorted(set(params["filing_id"]))})
        mapped = name_tickers(seen, titles)
    if mapped:
        sql = _CHANGES.format(tickers=_TICKERS, ticker="t.ticker", ticker_join=_TICKER_JOIN)
        params.update(names=list(mapped), tickers=list(mapped.values()))
    else:
        sql = _CHANGES.format(tickers="", ticker="CAST(NULL AS text)", ticker_join="")
    with statement_settings(session):
        result = cast(CursorResult[Any], session.execute(text(sql), params))  # an INSERT: a cursor's result
        return result.rowcount


@contextmanager
def statement_settings(session: Session) -> Iterator[None]:
    """Settings for the big statements, for their duration only:
    - work_mem: sorts and hashes of a quarter's positions in memory (the default 4 MB spills them);
    - no JIT: its compiling (about a second, set off by the row estimates) costs more than it saves;
    - no merge joins: unnest() and rows loaded in this transaction have no statistics, and on those
      estimates the planner sorted a whole quarter's changes by issuer name to merge-join the few
      thousand mapped names (a hash join of them costs little), and the changes then reached the
      primary key in random order: the two together tripled the INSERT at 3 M rows."""
    names = ("work_mem", "jit", "enable_mergejoin")
    old = session.execute(text("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))).one()
    _set(session, dict(zip(names, (WORK_MEM, "off", "off"), strict=True)))
    yield
    # Not after an error: the transaction is aborted then, and its rollback undoes these local settings.
    _set(session, dict(zip(names, old, strict=True)))


def _set(session: Session, settings: dict[str, str]) -> None:
    session.execute(text("SELECT " + ", ".join(f"set_config('{n}', :{n}, true)" for n in settings)), settings)
