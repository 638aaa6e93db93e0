"""The Celery app: configuration and tasks both come from the pipeline registry. No logic here."""
from __future__ import annotations

from celery import Celery
from celery.signals import beat_init, celeryd_init, setup_logging, task_postrun, task_prerun, worker_process_init

from observability.sentry import init_sentry
from pipelines.core import db, metrics
from pipelines.core.logs import configure_logging, set_log_context
from pipelines.core.registry import registry_for
from pipelines.core.settings import get_settings

from . import queue_heartbeat
from .celeryconfig import celery_config
from .heartbeat import install as install_heartbeat
from .tasks import register_tasks

settings = get_settings()
registry = registry_for(settings)

app = Celery("signals")
app.config_from_object(celery_config(settings, registry))
register_tasks(app, registry)
install_heartbeat(app)
queue_heartbeat.install(app)  # signals:worker:<hostname> keys for the exporter


@setup_logging.connect
def _logging(**_: object) -> None:
    configure_logging(settings.LOG_LEVEL, settings.LOG_JSON)


# At process start rather than at import: the CLI and the exporter import this module too.
celeryd_init.connect(lambda **_: init_sentry(settings, "worker"), weak=False)
beat_init.connect(lambda **_: init_sentry(settings, "beat"), weak=False)


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    db.reset_after_fork()
    metrics.preinit(registry.names)


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
