"""Tables of the patent_ip pipeline: one snapshot of the Orange Book per distinct release.

Design: every release that differs from the last one is stored whole (products, patents,
exclusivities, calendar), keyed by release id, rather than as "current rows + history".
- FDA rewrites and reorders rows between editions; a snapshot is exactly what FDA published, and
  "what did the Orange Book say on date X" is one `WHERE release_id = ...`.
- Loading is idempotent by construction: the release row is unique on the ZIP's sha256 and is
  inserted in the same transaction as its rows, so a release is either wholly loaded or absent,
  and loading it again changes nothing.
- The diff against the previous release reads that release back from these tables.
- Size: releases change monthly and unchanged downloads are skipped; a full release is ~70,000
  rows, about 850,000 rows a year, which PostgreSQL holds easily (old snapshots can be pruned by
  release id with ON DELETE CASCADE).
Created by migration 0004_orange_book.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipelines.core.ledger import Base, BigId, UTCDateTime, utcnow


def _release_fk() -> Any:
    return ForeignKey("ob_releases.id", ondelete="CASCADE")


class ObRelease(Base):
    """One distinct Orange Book data-files ZIP, as downloaded."""

    __tablename__ = "ob_releases"
    __table_args__ = (UniqueConstraint("sha256", name="uq_ob_releases_sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64))  # also the artifact key of the raw ZIP
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    source_url: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    as_of: Mapped[date] = mapped_column(Date)
    previous_release_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ob_releases.id", ondelete="SET NULL"))
    product_count: Mapped[int] = mapped_column(Integer)
    patent_count: Mapped[int] = mapped_column(Integer)
    exclusivity_count: Mapped[int] = mapped_column(Integer)
    row_error_count: Mapped[int] = mapped_column(Integer)
    event_count: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ObProduct(Base):
    """A products.txt row of one release. `row_no` is its position among the file's good rows."""

    __tablename__ = "ob_products"
    __table_args__ = (UniqueConstraint("release_id", "row_no", name="uq_ob_products_row"),
                      Index("ix_ob_products_key", "release_id", "appl_no", "product_no"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(BigId, _release_fk())
    row_no: Mapped[int] = mapped_column(Integer)
    appl_type: Mapped[str] = mapped_column(String(1))
    appl_no: Mapped[str] = mapped_column(String(6))
    product_no: Mapped[str] = mapped_column(String(3))
    ingredient: Mapped[str] = mapped_column(Text)
    df_route: Mapped[str] = mapped_column(Text)
    trade_name: Mapped[str] = mapped_column(Text)
    applicant: Mapped[str] = mapped_column(Text)
    applicant_full_name: Mapped[str] = mapped_column(Text)
    strength: Mapped[str] = mapped_column(Text)
    te_code: Mapped[str] = mapped_column(String(16))
    approval_date: Mapped[date | None] = mapped_column(Date)
    approved_pre_1982: Mapped[bool] = mapped_column(Boolean)
    rld: Mapped[bool] = mapped_column(Boolean)
    rs: Mapped[bool] = mapped_column(Boolean)
    type: Mapped[str] = mapped_column(String(8))


class ObPatent(Base):
    """A patent.txt row (one per patent and use code) of one release."""

    __tablename__ = "ob_patents"
    __table_args__ = (UniqueConstraint("release_id", "row_no", name="uq_ob_patents_row"),
                      Index("ix_ob_patents_key", "release_id", "appl_no", "product_no"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(BigId, _release_fk())
    row_no: Mapped[int] = mapped_column(Integer)
    appl_type: Mapped[str] = mapped_column(String(1))
    appl_no: Mapped[str] = mapped_column(String(6))
    product_no: Mapped[str] = mapped_column(String(3))
    patent_no: Mapped[str] = mapped_column(String(32))  # without "*PED"
    expire_date: Mapped[date] = mapped_column(Date)
    drug_substance: Mapped[bool] = mapped_column(Boolean)
    drug_product: Mapped[bool] = mapped_column(Boolean)
    use_code: Mapped[str] = mapped_column(String(32))
    delisted: Mapped[bool] = mapped_column(Boolean)
    submission_date: Mapped[date | None] = mapped_column(Date)
    ped: Mapped[bool] = mapped_column(Boolean)


class ObExclusivity(Base):
    """An exclusivity.txt row of one release (expired rows included, as FDA lists them)."""

    __tablename__ = "ob_exclusivities"
    __table_args__ = (UniqueConstraint("release_id", "row_no", name="uq_ob_exclusivities_row"),
                      Index("ix_ob_exclusivities_key", "release_id", "appl_no", "product_no"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(BigId, _release_fk())
    row_no: Mapped[int] = mapped_column(Integer)
    appl_type: Mapped[str] = mapped_column(String(1))
    appl_no: Mapped[str] = mapped_column(String(6))
    product_no: Mapped[str] = mapped_column(String(3))
    code: Mapped[str] = mapped_column(String(32))
    exclusivity_date: Mapped[date] = mapped_column(Date)


class ObCalendarEntry(Base):
    """The patent cliff of one NDA product in one release, with its opportunity score."""

    __tablename__ = "ob_calendar_entries"
    __table_args__ = (UniqueConstraint("release_id", "appl_no", "product_no", name="uq_ob_calendar_product"),
                      Index("ix_ob_calendar_loe", "release_id", "effective_loe"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(BigId, _release_fk())
    appl_no: Mapped[str] = mapped_column(String(6))
    product_no: Mapped[str] = mapped_column(String(3))
    trade_name: Mapped[str] = mapped_column(Text)
    ingredient: Mapped[str] = mapped_column(Text)
    df_route: Mapped[str] = mapped_column(Text)
    strength: Mapped[str] = mapped_column(Text)
    applicant: Mapped[str] = mapped_column(Text)
    applicant_full_name: Mapped[str] = mapped_column(Text)
    ticker: Mapped[str | None] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(8))
    last_patent_expiry: Mapped[date | None] = mapped_column(Date)
    last_patent_no: Mapped[str] = mapped_column(String(40))
    last_ds_dp_patent_expiry: Mapped[date | None] = mapped_column(Date)
    last_exclusivity_expiry: Mapped[date | None] = mapped_column(Date)
    last_exclusivity_code: Mapped[str] = mapped_column(String(32))
    effective_loe: Mapped[date | None] = mapped_column(Date)
    loe_source: Mapped[str] = mapped_column(Text)
    months_to_loe: Mapped[float | None] = mapped_column(Float)
    ped_applied: Mapped[bool] = mapped_column(Boolean)
    patent_count: Mapped[int] = mapped_column(Integer)
    generic_count: Mapped[int] = mapped_column(Integer)
    generics: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    score_components: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class ObReleaseEvent(Base):
    """A change from the previous release (patent added, delisted, ...), as scored and alerted."""

    __tablename__ = "ob_release_events"
    __table_args__ = (UniqueConstraint("release_id", "event_key", name="uq_ob_release_events_key"),
                      Index("ix_ob_release_events_product", "appl_no", "product_no"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(BigId, _release_fk())
    previous_release_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ob_releases.id", ondelete="SET NULL"))
    event_key: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(32))
    appl_no: Mapped[str] = mapped_column(String(6))
    product_no: Mapped[str] = mapped_column(String(3))
    ticker: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime())


OB_TABLES = ("ob_release_events", "ob_calendar_entries", "ob_exclusivities", "ob_patents", "ob_products",
             "ob_releases")
