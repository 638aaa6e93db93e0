"""The Celery app: configuration and tasks both come from the pipeline registry. No logic here."""
from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_process_init

from pipelines.core import db
from pipelines.core.logs import configure_logging, set_log_context
from pipelines.core.registry import registry_for
from pipelines.core.settings import get_settings

from .celeryconfig import celery_config
from .tasks import register_tasks

settings = get_settings()
registry = registry_for(settings)

app = Celery("signals")
app.config_from_object(celery_config(settings, registry))
register_tasks(app, registry)


@setup_logging.connect
def _logging(**_: object) -> None:
    configure_logging(settings.LOG_LEVEL, settings.LOG_JSON)


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    db.reset_after_fork()


@task_prerun.connect
def _task_log_context(task=None, args=None, **_: object) -> None:  # type: ignore[no-untyped-def]
    name = getattr(task, "name", "") or ""
    parts = name.split(".")
    run_id = args[0] if args and parts[0] == "pipelines" and isinstance(args[0], int) else None
    set_log_context(pipeline=parts[1] if len(parts) == 3 else None, run_id=run_id,
                    step=parts[2] if len(parts) == 3 else None)


@task_postrun.connect
def _clear_log_context(**_: object) -> None:
    set_log_context()
