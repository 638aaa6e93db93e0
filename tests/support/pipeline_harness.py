"""One pipeline run in-process on PostgreSQL, as the embedded mode runs it (`run_locally`, no broker),
and the reads a pipeline integration test makes of what the run stored.

Per-pipeline bits are passed in: the pipeline's name, its modules and the settings that point it at
a local stand-in server. A test subclasses PipelineHarness only to add reads of its own tables.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, inspect, select, text

from pipelines.core.artifacts import load_blob
from pipelines.core.db import get_engine, session_factory
from pipelines.core.dispatch import Dispatcher
from pipelines.core.executor import run_locally
from pipelines.core.ledger import PipelineRun, RunArtifact, Trigger
from pipelines.core.model import Pipeline
from pipelines.core.registry import load_registry
from pipelines.core.runs import Opened, RunRequest
from pipelines.core.settings import Settings


def truncate(settings: Settings, tables: Iterable[str]) -> None:
    """Empty a pipeline's own tables; the integration `settings` fixture empties only the engine's."""
    with get_engine(settings.DATABASE_URL).begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))


class PipelineHarness:
    # What a repeated or replayed run must leave as it was; a subclass names its pipeline's models.
    snapshot_models: tuple[type, ...] = ()

    def __init__(self, settings: Settings, pipeline: str, modules: tuple[str, ...] = (), **overrides: Any) -> None:
        """`modules` load besides PRODUCT_MODULES (naming one of those again is harmless); `overrides`
        are settings, typically base URLs pointing at a local stand-in server."""
        self.settings = settings.replace(**overrides)
        self.pipeline = pipeline
        self.registry = load_registry(modules)
        self.sessions = session_factory(self.settings.DATABASE_URL)

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(self.settings, self.registry, self._send)

    def _send(self, pipeline: Pipeline, run_id: int) -> None:
        # self.settings is read per run, so a test may replace it between runs; retries never wait.
        run_locally(self.settings, self.registry, run_id, sleep=lambda seconds: None)

    def manual(self, conf: Mapping[str, Any] | None = None, *, pipeline: str | None = None,
               replay_of: int | None = None, expect: str | None = "success") -> int:
        """A manual run, run to its end; its state is checked against `expect` unless that is None."""
        opened = self.dispatcher().manual(pipeline or self.pipeline, dict(conf or {}), replay_of=replay_of)
        if expect is not None:
            self.check(opened.run_id, expect)
        return opened.run_id

    def rerun(self, run_id: int) -> Opened:
        """The same interval again (`backfill --reprocess all`): same run id, every step again."""
        run = self.run_row(run_id)
        request = RunRequest(run.pipeline, Trigger.MANUAL, (run.data_interval_start, run.data_interval_end))
        opened = self.dispatcher().open(self.registry.get(run.pipeline), request, reprocess="all")
        assert opened.action == "rerun", opened
        self.check(run_id)
        return opened

    def check(self, run_id: int, expect: str = "success") -> None:
        run = self.run_row(run_id)
        assert run.state == expect, run.error

    def run_row(self, run_id: int) -> PipelineRun:
        with self.sessions() as s:
            run = s.get(PipelineRun, run_id)
            assert run is not None, f"no run {run_id}"
            s.expunge(run)
            return run

    def counts(self, run_id: int) -> dict[str, int]:
        return dict(self.run_row(run_id).counts)

    def rows(self, model: type, *where: Any) -> list[Any]:
        """Detached rows of `model` matching `where`, in primary key order."""
        with self.sessions() as s:
            found: list[Any] = list(s.scalars(select(model).where(*where).order_by(*inspect(model).primary_key)))
            s.expunge_all()
            return found

    def total(self, model: type) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    def snapshot(self, *models: type) -> dict[str, int]:
        """Row counts by model name (`snapshot_models` when none is named)."""
        return {m.__name__: self.total(m) for m in models or self.snapshot_models}

    def artifact(self, run_id: int, name: str) -> bytes:
        with self.sessions() as s:
            key = s.scalar(select(RunArtifact.key).where(RunArtifact.run_id == run_id, RunArtifact.name == name))
            assert key is not None, f"run {run_id} stored no artifact {name}"
            return load_blob(s, key)
