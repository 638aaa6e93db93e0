"""The SQL diff of 13F report versions (PostgreSQL's path) against the Python diff (SQLite's path and
the reference), on the same stored filings: every report row and every position change must match.

The quarters are test-built from the recorded LTS One and Berkshire tables' own rows, to cover what
the diff decides: new, closed, increased, decreased and unchanged positions; repeated CUSIPs folded
into one position; option and principal rows kept apart; a CUSIP whose issuer name differs between
quarters (the first row names it); equal values of one CUSIP (ranked by first row); amendments
(NEW HOLDINGS adds, RESTATEMENT replaces) point in time; a previous quarter filed too late to count;
a quarter worth nothing (weights 0); tickers mapped by issuer name.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from pipelines.core.db import get_engine, session_factory
from pipelines.sources.edgar.thirteenf import parse_infotable
from pipelines.thirteenf.detect import record_versions
from pipelines.thirteenf.diff_sql import WORK_MEM, statement_settings
from pipelines.thirteenf.store import FilingLoader
from pipelines.thirteenf.tickers import title_index
from tests.conftest import shared_fixture
from tests.support.infotables import field, ns1, split, with_value

OWN_TABLES = ("thirteenf_position_changes", "thirteenf_reports", "thirteenf_holdings", "thirteenf_filings")
MSFT, INTU, CSX, IRHYTHM, AMZN = "594918104", "461202103", "126408103", "450056106", "023135106"
A, B, C, D = 9_100_001, 9_100_002, 9_100_003, 9_100_004  # test managers
Q1, Q2, Q3 = date(2023, 3, 31), date(2023, 6, 30), date(2023, 9, 30)
AS_OF = date(2023, 11, 28)

REPORT_SQL = text("""
SELECT cik, manager_name, period, as_of, accession, sources::text, rows, value_usd, qualified, prev_period,
       diff_state, link FROM thirteenf_reports ORDER BY cik, period, as_of""")
CHANGE_SQL = text("""
SELECT r.cik, r.period, r.as_of, c.cusip, c.put_call, c.title_of_class, c.sh_prn_type, c.name_of_issuer, c.ticker,
       c.mapped, c.status, c.shares_prev, c.shares_cur, c.value_prev_usd, c.value_cur_usd, c.weight_cur, c.rank_cur,
       c.rows_cur
FROM thirteenf_position_changes c JOIN thirteenf_reports r ON r.id = c.report_id
ORDER BY r.cik, r.period, r.as_of, c.cusip, c.put_call, c.title_of_class, c.sh_prn_type""")

# A filing's figures as stored, then as summed here from its stored rows.
FIGURES_SQL = text("""
WITH shares AS (SELECT filing_id, cusip, sum(value_usd) AS value FROM thirteenf_holdings
                WHERE put_call IS NULL GROUP BY filing_id, cusip),
ranked AS (SELECT *, row_number() OVER (PARTITION BY filing_id ORDER BY value DESC) AS k FROM shares)
SELECT f.rows, f.table_value_usd, f.share_positions, f.share_value_usd, f.share_top10_usd,
       (SELECT count(*) FROM thirteenf_holdings h WHERE h.filing_id = f.id),
       (SELECT coalesce(sum(value_usd), 0) FROM thirteenf_holdings h WHERE h.filing_id = f.id),
       (SELECT count(*) FROM ranked r WHERE r.filing_id = f.id),
       (SELECT coalesce(sum(value), 0) FROM ranked r WHERE r.filing_id = f.id),
       (SELECT coalesce(sum(value), 0) FROM ranked r WHERE r.filing_id = f.id AND k <= 10)
FROM thirteenf_filings f ORDER BY f.id""")


def snapshot(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return ([tuple(r) for r in session.execute(REPORT_SQL)], [tuple(r) for r in session.execute(CHANGE_SQL)])


def diff_both_ways(sessions: Callable[[], Session], base_url: str, pairs: Sequence[tuple[int, date]],
                   names: dict[int, str], as_of: date, titles: dict[str, str]) -> dict[bool, Any]:
    """Each path from no report versions at all, in a transaction rolled back afterwards:
    {in_sql: (counts, reports, changes, quarantined keys)}."""
    out: dict[bool, Any] = {}
    for in_sql in (False, True):
        with sessions() as s:
            s.execute(text("DELETE FROM thirteenf_position_changes"))  # no foreign key cascades (migration 0008)
            s.execute(text("DELETE FROM thirteenf_reports"))
            quarantined: list[str] = []
            ctx = SimpleNamespace(session=s, settings=SimpleNamespace(SEC_WWW_BASE_URL=base_url), run_id=None,
                                  quarantine=lambda source, key, *_, into=quarantined: into.append(key))
            counts = record_versions(ctx, pairs, names, as_of, titles, in_sql=in_sql)  # type: ignore[arg-type]
            out[in_sql] = (dict(counts), *snapshot(s), quarantined)
            s.rollback()
    return out


# --- quarters built from the recorded rows -----------------------------------------------------------

def _read(name: str) -> bytes:
    return shared_fixture("edgar_13f", name).read_bytes()


def _shares(block: bytes, shares: int) -> bytes:
    return with_value(with_value(block, "sshPrnamt", str(shares)), "Sole", str(shares))


def _option(block: bytes, kind: str) -> bytes:
    """The row as an option row (putCall after shrsOrPrnAmt, as the schema orders it)."""
    close = b"</ns1:shrsOrPrnAmt>" if b"ns1:" in block else b"</shrsOrPrnAmt>"
    tag = "ns1:putCall" if b"ns1:" in block else "putCall"
    return block.replace(close, close + f"<{tag}>{kind}</{tag}>".encode())


@pytest.fixture
def sessions(pg_url):
    with get_engine(pg_url).begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(OWN_TABLES) + " CASCADE"))
    return session_factory(pg_url)


def _filing(cik: int, n: int, period: date, filed: date, rows: int, amendment: str | None = None) -> dict[str, Any]:
    return dict(accession=f"{cik:010d}-23-{n:06d}", cik=cik, manager_name=f"Test Manager {cik}",
                form_type="13F-HR/A" if amendment else "13F-HR", filed=filed, period=period,
                report_type="13F HOLDINGS REPORT", amendment_type=amendment, amendment_number=1 if amendment else None,
                entry_total=rows, rows=rows, state="loaded", discovered_via="test",
                loaded_at=datetime.now(timezone.utc))


def _load(sessions: Callable[[], Session], filings: list[tuple[dict[str, Any], bytes]]) -> None:
    with sessions() as s:
        with FilingLoader(s, batch_rows=1) as loader:  # a COPY per filing, in the background
            for values, table in filings:
                holdings, bad = parse_infotable(table, filed=values["filed"])
                assert bad == []
                loader.add({**values, "rows": len(holdings)}, holdings)
        s.commit()


def test_sql_diff_equals_python_diff_on_derived_quarters(sessions) -> None:
    head, rows, tail = split(_read("13f_hr_ltsone_2023q3_infotable.xml"))
    brk_head, brk_rows, brk_tail = split(_read("13f_hr_berkshire_2022q4_infotable_trimmed.xml"))
    by_cusip = {field(b, "cusip"): b for b in rows}
    aapl = next(b for b in brk_rows if field(b, "cusip") == "037833100")
    ally = next(b for b in brk_rows if field(b, "cusip") == "02005N100")

    def lts(blocks: list[bytes]) -> bytes:
        return head + b"".join(blocks) + tail

    def brk(blocks: list[bytes]) -> bytes:
        return brk_head + b"".join(blocks) + brk_tail

    # A: LTS One's shape. Q2 without iRhythm, MSFT and INTU share counts changed, Amazon under another
    # name, plus ALLY; Q3 as recorded plus an MSFT call row worth exactly the MSFT shares (a rank tie
    # within one CUSIP) and a principal row; then NEW HOLDINGS (Apple) and RESTATEMENT (no CSX).
    q2 = [_shares(b, {MSFT: 30000, INTU: 65000}[field(b, "cusip")]) if field(b, "cusip") in (MSFT, INTU)
          else with_value(b, "nameOfIssuer", "AMAZON.COM INC") if field(b, "cusip") == AMZN else b
          for b in rows if field(b, "cusip") != IRHYTHM] + [ns1(ally)]
    q3 = rows + [_option(by_cusip[MSFT], "Call"), with_value(by_cusip[CSX], "sshPrnamtType", "PRN")]
    # B: Berkshire's shape (repeated CUSIPs, default namespace); the quarter before, filed in 2022
    # (values in thousands), cut or grown here and there, with one position sold since.
    brk_prev = [_shares(b, int(field(b, "sshPrnamt")) * (2 if i % 3 == 0 else 1) // (1 if i % 4 else 2))
                for i, b in enumerate(brk_rows[2:])] + [with_value(brk_rows[0], "cusip", "00206R102")]
    zero = [with_value(b, "value", "0") for b in rows[:5]]  # D: a quarter worth nothing
    _load(sessions, [
        (_filing(A, 1, Q2, date(2023, 8, 14), 0), lts(q2)),
        (_filing(A, 2, Q3, date(2023, 11, 14), 0), lts(q3)),
        (_filing(A, 3, Q3, date(2023, 11, 20), 0, "NEW HOLDINGS"), lts([ns1(aapl)])),
        (_filing(A, 4, Q3, date(2023, 11, 27), 0, "RESTATEMENT"), lts([b for b in q3 if field(b, "cusip") != CSX])),
        (_filing(B, 1, date(2022, 9, 30), date(2022, 11, 14), 0), brk(brk_prev)),
        (_filing(B, 2, date(2022, 12, 31), date(2023, 2, 14), 0), brk(brk_rows + [_option(brk_rows[4], "Put")])),
        (_filing(C, 1, Q3, date(2023, 11, 14), 0), lts(rows)),  # C: its Q2 arrives after its Q3
        (_filing(C, 2, Q2, date(2023, 11, 20), 0), lts(rows[3:])),
        (_filing(D, 1, Q2, date(2023, 8, 1), 0), lts(rows[:6])),
        (_filing(D, 2, Q3, date(2023, 11, 1), 0), lts(zero)),
    ])
    pairs = [(A, Q2), (A, Q3), (B, date(2022, 9, 30)), (B, date(2022, 12, 31)), (C, Q2), (C, Q3), (D, Q1), (D, Q2),
             (D, Q3)]
    names = {A: "Manager A", B: "Manager B", C: "", D: "Manager D"}
    titles = title_index(shared_fixture("edgar_index", "company_tickers_trimmed.json").read_bytes())
    both = diff_both_ways(sessions, "https://www.sec.gov", pairs, names, AS_OF, titles)

    assert both[True] == both[False]
    counts, reports, changes, quarantined = both[True]
    assert counts == {"report_versions": 10, "no_prior_quarter": 5, "position_changes": len(changes)}
    assert quarantined == []
    # The data covers what the comparison is meant to check.
    assert {c[10] for c in changes} == {"new", "closed", "increased", "decreased", "unchanged"}
    a_q3 = {(c[2], c[3], c[4], c[6]): c for c in changes if c[0] == A and c[1] == Q3}
    msft, msft_call = a_q3[(date(2023, 11, 14), MSFT, "", "SH")], a_q3[(date(2023, 11, 14), MSFT, "Call", "SH")]
    assert msft[14] == msft_call[14] and msft_call[16] == msft[16] + 1  # equal value: the first row ranks first
    assert (msft[8], msft[9]) == ("MSFT", True)
    assert a_q3[(date(2023, 11, 14), AMZN, "", "SH")][7] == "AMAZON COM INC"  # the current quarter's name
    assert a_q3[(date(2023, 11, 14), CSX, "", "PRN")][10] == "new"
    assert (date(2023, 11, 20), "037833100", "", "SH") in a_q3  # NEW HOLDINGS added Apple
    assert (date(2023, 11, 27), "037833100", "", "SH") not in a_q3  # RESTATEMENT replaced the table
    assert {c[15] for c in changes if c[0] == D} == {0.0}
    late = [r for r in reports if r[0] == C and r[2] == Q3]
    assert [r[10] for r in late] == ["no_prior"]  # its Q2 was filed after this version's date
    assert [r[5] for r in reports if r[0] == A and r[3] == date(2023, 11, 27)] == [
        f'["{A:010d}-23-000002", "{A:010d}-23-000003", "{A:010d}-23-000004"]']
    assert {r[8] for r in reports} == {True, False}  # the manager screen passes and fails

    # A version of one filing takes its rows, value and screen figures from the filing row (summed
    # while loading); a view that combines filings is summed in SQL. With the figures gone, as on
    # filings loaded before migration 0009, every version is summed in SQL, to the same reports.
    with sessions() as s:
        figures = s.execute(FIGURES_SQL).all()
        assert [f[:5] for f in figures] == [f[5:] for f in figures]
        assert any(f[4] < f[3] for f in figures)  # some filing has more than ten share positions
        s.execute(text("UPDATE thirteenf_filings SET share_top10_usd = NULL"))
        s.commit()
    assert diff_both_ways(sessions, "https://www.sec.gov", pairs, names, AS_OF, titles)[True] == both[True]


def teststatement_settings_hold_for_the_big_statements_only(sessions) -> None:
    """work_mem, JIT and merge joins are set for the diff's statements and put back after them, inside
    the step's transaction (a later statement of the step plans as usual)."""
    names = ("work_mem", "jit", "enable_mergejoin")
    query = text("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))
    with sessions() as s:
        s.execute(text("SET LOCAL work_mem = '5MB'"))
        before = tuple(s.execute(query).one())
        assert before[0] == "5MB"
        with statement_settings(s):
            assert tuple(s.execute(query).one()) == (WORK_MEM, "off", "off")
        assert tuple(s.execute(query).one()) == before
        s.rollback()
