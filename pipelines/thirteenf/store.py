"""Reading and writing the 13F tables; loads are idempotent on the filing's accession and the
report version's (cik, period, as_of)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from types import TracebackType
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipelines.scoring.institutional import ManagerChange, screen_figures, share_values
from pipelines.sources.edgar.thirteenf import CoverPage, Holding, Report
from pipelines.sources.edgar.thirteenf_rows import ScannedRows, TextColumns

from .background_copy import BackgroundCopy
from pipelines.core.db import is_postgresql, table_of

from .bulk import NULL, copy_lines, copy_sql, escape, insert_rows
from .models import ThirteenFFiling, ThirteenFHolding, ThirteenFPositionChange, ThirteenFReport

HOLDING_COLUMNS = ("filing_id", "row", "cusip", "name_of_issuer", "title_of_class", "value_usd",
                   "shares_or_principal", "sh_prn_type", "put_call", "investment_discretion", "other_managers",
                   "voting_sole", "voting_shared", "voting_none")
CHANGE_COLUMNS = ("report_id", "cusip", "put_call", "title_of_class", "sh_prn_type", "name_of_issuer", "ticker",
                  "mapped", "status", "shares_prev", "shares_cur", "value_prev_usd", "value_cur_usd", "weight_cur",
                  "rank_cur", "rows_cur")


def insert_if_absent(session: Session, model: type, values: dict[str, Any], conflict: Sequence[str]) -> int | None:
    """Insert a row unless its unique key exists; the new id, or None when it was already there."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    return session.execute(stmt.returning(table_of(model).c.id)).scalar_one_or_none()


def known_accessions(session: Session, accessions: Iterable[str]) -> set[str]:
    wanted = list(set(accessions))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        found.update(session.scalars(select(ThirteenFFiling.accession)
                                     .where(ThirteenFFiling.accession.in_(wanted[i:i + 500]))))
    return found


def record_filing(session: Session, values: dict[str, Any]) -> int | None:
    """The filing row (loaded, quarantined or unavailable); None when this accession is already stored."""
    return insert_if_absent(session, ThirteenFFiling, values, ["accession"])


def holding_rows(filing_id: int, holdings: Iterable[Holding]) -> Iterable[tuple[Any, ...]]:
    for h in holdings:
        yield (filing_id, h.row, h.cusip, h.name_of_issuer, h.title_of_class, h.value_usd, h.shares_or_principal,
               h.sh_prn_type, h.put_call, h.investment_discretion, ",".join(str(m) for m in h.other_managers),
               h.voting_sole, h.voting_shared, h.voting_none)


def holding_lines(filing_id: int, holdings: Iterable[Holding]) -> Iterable[str]:
    """COPY text lines of `holding_rows`, written out directly: this is the hot loop of a quarter's load.

    CUSIP, types and discretion were validated by the parser, so only names and titles need escaping.
    """
    for h in holdings:
        others = ",".join(map(str, h.other_managers)) if h.other_managers else ""
        yield (f"{filing_id}\t{h.row}\t{h.cusip}\t{escape(h.name_of_issuer)}\t{escape(h.title_of_class)}\t"
               f"{h.value_usd}\t{h.shares_or_principal}\t{h.sh_prn_type}\t{h.put_call or NULL}\t"
               f"{h.investment_discretion}\t{others}\t{h.voting_sole}\t{h.voting_shared}\t{h.voting_none}\n")


def holding_text(holdings: Sequence[Holding]) -> str:
    """COPY text lines of `holdings` without the leading filing id (see `with_filing_id`).

    Rows straight from the regex scan are written from its text columns, building no Holding; other
    rows by a comprehension over the Holdings. Names and titles are escaped one by one only in a
    filing where some need it (rare: a backslash or a control character): one test covers them all.
    """
    if isinstance(holdings, ScannedRows):
        return _columns_text(holdings.text_columns())
    names = "".join([h.name_of_issuer + h.title_of_class for h in holdings])
    if "\\" in names or not names.isprintable():
        return "".join([line.partition("\t")[2] for line in holding_lines(0, holdings)])
    return "".join([
        f"{h.row}\t{h.cusip}\t{h.name_of_issuer}\t{h.title_of_class}\t{h.value_usd}\t{h.shares_or_principal}\t"
        f"{h.sh_prn_type}\t{h.put_call or NULL}\t{h.investment_discretion}\t"
        f"{','.join(map(str, h.other_managers)) if h.other_managers else ''}\t{h.voting_sole}\t"
        f"{h.voting_shared}\t{h.voting_none}\n" for h in holdings])


def _columns_text(c: TextColumns) -> str:
    names, titles = c.name_of_issuer, c.title_of_class
    joined = "".join(names) + "".join(titles)
    if "\\" in joined or not joined.isprintable():
        names, titles = list(map(escape, names)), list(map(escape, titles))
    put_calls = [NULL if p is None else p for p in c.put_call]
    return "".join([f"{row}\t{cusip}\t{name}\t{title}\t{value}\t{amount}\t{sh_prn}\t{put_call}\t{discretion}\t"
                    f"{others}\t{sole}\t{shared}\t{none}\n"
                    for row, cusip, name, title, value, amount, sh_prn, put_call, discretion, others, sole, shared,
                    none in zip(c.row, c.cusip, names, titles, c.value_usd, c.shares_or_principal, c.sh_prn_type,
                                put_calls, c.investment_discretion, c.other_managers, c.voting_sole,
                                c.voting_shared, c.voting_none, strict=True)])


def filing_figures(holdings: Sequence[Holding]) -> dict[str, int]:
    """A table's own figures, kept on its filing row (migration 0009): its rows' value, and the
    manager screen's share positions by CUSIP, their value and the ten largest's."""
    if isinstance(holdings, ScannedRows):  # summed from the scanned columns, building no Holding
        total, positions_values = holdings.value_total(), holdings.share_position_values()
    else:
        total, positions_values = sum(h.value_usd for h in holdings), list(share_values(holdings).values())
    positions, value, top10 = screen_figures(positions_values)
    return {"table_value_usd": total, "share_positions": positions, "share_value_usd": value,
            "share_top10_usd": top10}


def with_filing_id(filing_id: int, text: str) -> str:
    """`holding_text` lines with their filing id in front: one C-level replace for the whole filing.

    Escaped values never hold a raw newline, so every newline in `text` ends a line.
    """
    if not text:
        return text
    fid = f"{filing_id}\t"
    return fid + text[:-1].replace("\n", "\n" + fid) + "\n"


class FilingLoader:
    """Loads parsed filings in batches: one INSERT for the filing rows, then one COPY for all their holdings.

    A quarter has thousands of filings of a few hundred rows each; two round trips per filing cost
    more than the rows themselves. A filing whose accession is already stored is skipped whole.
    On PostgreSQL a filing's rows are turned into COPY text as soon as it is added, so the batch holds
    strings, not hundreds of thousands of Holding objects for the garbage collector to walk; and each
    batch's COPY runs on a background thread while the caller parses the next filings (see
    background_copy). A batch is loaded once `batch_rows` rows are pending, or (batch_rows=None) only
    when the caller calls `flush`. Use it as a context manager: leaving the block loads what is pending
    and waits for the last COPY, raising its error; leaving on an exception only waits.
    """

    def __init__(self, session: Session, batch_rows: int | None = 50_000) -> None:
        self.session = session
        self.batch_rows = batch_rows
        self.loaded: list[str] = []  # accessions written
        self.skipped: list[str] = []  # accessions another run stored first
        self.rows = 0
        self._copy = is_postgresql(session)
        self._copier = BackgroundCopy(session) if self._copy else None
        self._pending: list[tuple[dict[str, Any], Sequence[Holding] | str, int]] = []
        self._pending_rows = 0

    def __enter__(self) -> FilingLoader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.close(raise_error=False)

    def add(self, values: dict[str, Any], holdings: Sequence[Holding]) -> None:
        values = {**values, **filing_figures(holdings)}
        self._pending.append((values, holding_text(holdings) if self._copy else holdings, len(holdings)))
        self._pending_rows += len(holdings)
        if self.batch_rows is not None and self._pending_rows >= self.batch_rows:
            self.flush()

    def wait(self) -> None:
        """Wait for the COPY in flight (raising its error): the connection is free afterwards."""
        if self._copier is not None:
            self._copier.wait()

    def flush(self) -> None:
        """Insert the pending filing rows and start the COPY of their holdings (PostgreSQL: in the background)."""
        if not self._pending:
            return
        self.wait()  # the INSERT below needs the connection
        ids = self._insert_filings([v for v, _, _ in self._pending])
        batch = [(ids[v["accession"]], rows, n) for v, rows, n in self._pending if v["accession"] in ids]
        self.skipped += [v["accession"] for v, _, _ in self._pending if v["accession"] not in ids]
        self.loaded += [v["accession"] for v, _, _ in self._pending if v["accession"] in ids]
        self._pending, self._pending_rows = [], 0
        table = table_of(ThirteenFHolding)
        if self._copier is not None:
            text = "".join([with_filing_id(fid, t) for fid, t, _ in batch if isinstance(t, str)])
            if text:
                self._copier.submit(copy_sql(table, HOLDING_COLUMNS), text)
        else:
            rows = (row for fid, holdings, _ in batch if not isinstance(holdings, str)
                    for row in holding_rows(fid, holdings))
            insert_rows(self.session, table, HOLDING_COLUMNS, rows)
        self.rows += sum(n for _, _, n in batch)

    def _insert_filings(self, values: list[dict[str, Any]]) -> dict[str, int]:
        """Insert the filing rows (skipping stored accessions); accession -> id of those inserted."""
        # One statement executed with many parameter sets: compiled once and cached, sent in pages
        # (insertmanyvalues). A VALUES list of the rows instead was compiled anew for every batch,
        # about a millisecond per filing.
        keys = sorted({k for v in values for k in v})
        insert = postgresql.insert if self._copy else sqlite.insert
        stmt = (insert(table_of(ThirteenFFiling)).on_conflict_do_nothing(index_elements=["accession"])
                .returning(ThirteenFFiling.id, ThirteenFFiling.accession))
        rows = self.session.execute(stmt, [{k: v.get(k) for k in keys} for v in values])
        return {acc: fid for fid, acc in rows}

    def finish(self) -> None:
        """Load what is pending and wait for the last COPY, raising the error of any that failed."""
        try:
            self.flush()
        except BaseException:
            self.close(raise_error=False)
            raise
        self.close()

    def close(self, *, raise_error: bool = True) -> None:
        """Wait for the COPY in flight and stop its thread (without loading what is pending)."""
        if self._copier is not None:
            self._copier.close(raise_error=raise_error)


def filing_cover(f: ThirteenFFiling) -> CoverPage:
    """The cover page as stored on the filing row (what report_as_of needs of it)."""
    if f.period is None:  # only filings that could not be read lack one, and they are not loaded
        raise ValueError(f"13F filing {f.accession} has no period: it was not loaded")
    return CoverPage(filer_cik=f.cik, filer_name=f.manager_name, submission_type=f.form_type, period=f.period,
                     report_type=f.report_type or "", is_amendment=f.amendment_type is not None,
                     amendment_number=f.amendment_number, amendment_type=f.amendment_type,
                     entry_total=f.entry_total, value_total=f.value_total_reported,
                     other_included_managers_count=None, other_managers=(), is_confidential_omitted=False,
                     signature_date=None)


def loaded_filings(session: Session, cik: int, period: date) -> list[Report]:
    """Every loaded filing of one manager's quarter with its rows, as `Report`s (oldest first)."""
    filings = list(session.scalars(select(ThirteenFFiling).where(
        ThirteenFFiling.cik == cik, ThirteenFFiling.period == period, ThirteenFFiling.state == "loaded")
        .order_by(ThirteenFFiling.filed, ThirteenFFiling.id)))
    if not filings:
        return []
    by_filing: dict[int, list[Holding]] = defaultdict(list)
    filed = {f.id: f.filed for f in filings}
    # Plain rows, not ORM objects: a large manager's quarter is tens of thousands of rows.
    h = ThirteenFHolding
    rows = session.execute(select(h.filing_id, h.row, h.cusip, h.name_of_issuer, h.title_of_class, h.value_usd,
                                  h.shares_or_principal, h.sh_prn_type, h.put_call, h.investment_discretion,
                                  h.other_managers, h.voting_sole, h.voting_shared, h.voting_none)
                           .where(h.filing_id.in_(list(filed))).order_by(h.filing_id, h.row))
    for (fid, row, cusip, name, title, value, amount, sh_prn, put_call, discretion, others, sole, shared,
         none) in rows:
        by_filing[fid].append(Holding(
            name_of_issuer=name, title_of_class=title, cusip=cusip, value_usd=value, shares_or_principal=amount,
            sh_prn_type=sh_prn, put_call=put_call, investment_discretion=discretion,
            other_managers=tuple(int(m) for m in others.split(",") if m) if others else (),
            voting_sole=sole, voting_shared=shared, voting_none=none, filed=filed[fid], row=row))
    return [Report(cover=filing_cover(f), holdings=tuple(by_filing[f.id]), filed=f.filed, accession=f.accession)
            for f in filings]


def report_versions(session: Session, cik: int, period: date) -> set[date]:
    return set(session.scalars(select(ThirteenFReport.as_of).where(ThirteenFReport.cik == cik,
                                                                  ThirteenFReport.period == period)))


def record_report(session: Session, values: dict[str, Any]) -> int | None:
    return insert_if_absent(session, ThirteenFReport, values, ["cik", "period", "as_of"])


def change_rows(report_id: int, changes: Iterable[ManagerChange]) -> Iterable[tuple[Any, ...]]:
    for mc in changes:
        c = mc.change
        yield (report_id, c.cusip, c.put_call or "", c.title_of_class, c.sh_prn_type, c.name_of_issuer, c.ticker,
               c.mapped, c.status, c.shares_prev, c.shares_cur, c.value_prev_usd, c.value_cur_usd,
               float(c.weight_cur), c.rank_cur, c.rows_cur)


def change_lines(report_id: int, changes: Iterable[ManagerChange]) -> Iterable[str]:
    """COPY text lines of `change_rows` (a quarter's diff writes about as many rows as it reads)."""
    for mc in changes:
        c = mc.change
        yield (f"{report_id}\t{c.cusip}\t{c.put_call or ''}\t{escape(c.title_of_class)}\t{c.sh_prn_type}\t"
               f"{escape(c.name_of_issuer)}\t{c.ticker or NULL}\t{'t' if c.mapped else 'f'}\t{c.status}\t"
               f"{c.shares_prev}\t{c.shares_cur}\t{c.value_prev_usd}\t{c.value_cur_usd}\t{float(c.weight_cur)!r}\t"
               f"{NULL if c.rank_cur is None else c.rank_cur}\t{c.rows_cur}\n")


def save_changes(session: Session, report_id: int, changes: Iterable[ManagerChange]) -> int:
    """The position changes of a report version just recorded; COPY on PostgreSQL."""
    table = table_of(ThirteenFPositionChange)
    if is_postgresql(session):
        return copy_lines(session, table, CHANGE_COLUMNS, change_lines(report_id, changes))
    return insert_rows(session, table, CHANGE_COLUMNS, change_rows(report_id, changes))


def delete_reports(session: Session, ids: Select[Any]) -> None:
    """Delete the report versions `ids` selects, and their position changes (no foreign key cascades them)."""
    chosen = list(session.scalars(ids))
    if chosen:
        session.execute(delete(ThirteenFPositionChange).where(ThirteenFPositionChange.report_id.in_(chosen)))
        session.execute(delete(ThirteenFReport).where(ThirteenFReport.id.in_(chosen)))
