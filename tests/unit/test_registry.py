"""The registry is the one source of task names, queues, routes, beat entries and worker pools."""
from __future__ import annotations

import pytest
from celery import Celery

from beat_schedule import beat_entries
from pipelines.core.registry import ALERTS_QUEUE, MAINTENANCE_QUEUE, load_registry
from pipelines.core.settings import load_settings
from workers.celeryconfig import celery_config
from workers.tasks import register_tasks


def _app(registry):
    settings = load_settings()
    app = Celery("signals-test", set_as_current=False)
    app.config_from_object(celery_config(settings, registry))
    register_tasks(app, registry)
    return app, settings


@pytest.mark.parametrize("extra", [(), ("tests.support.demo_pipeline",)], ids=["product", "with-demo"])
def test_every_step_is_a_task_routed_to_a_declared_queue_and_every_beat_entry_names_a_task(extra):
    registry = load_registry(extra)
    app, settings = _app(registry)
    declared = {q.name for q in app.conf.task_queues}
    assert declared == set(registry.queues)
    assert len(registry.queues) == len(declared)  # no queue declared twice
    router = app.amqp.router
    for pipeline in registry.pipelines:
        for name in [pipeline.dispatch_task] + [pipeline.task_name(s.name) for s in pipeline.steps]:
            assert name in app.tasks, name
            route = router.route({}, name)
            assert route["queue"].name == pipeline.queue
            assert route["queue"].name in declared
    for key, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, key
        queue = entry["options"]["queue"]
        assert queue in declared
        assert router.route({}, entry["task"])["queue"].name == queue
        assert 0 < entry["options"]["expires"] <= 3600
    assert "maintenance.reconcile" in app.tasks
    assert router.route({}, "maintenance.reconcile")["queue"].name == MAINTENANCE_QUEUE
    scheduled = [p for p in registry.pipelines if p.calendar_for(settings) is not None]
    assert len(app.conf.beat_schedule) == len(scheduled) + sum(
        1 for k in app.conf.beat_schedule if not k.startswith("dispatch-"))


def test_worker_pools_cover_every_queue_once():
    registry = load_registry(("tests.support.demo_pipeline",))
    pools = registry.worker_pools()
    queues = [q for pool in pools for q in pool["queues"]]
    assert sorted(queues) == sorted(registry.queues)
    assert {ALERTS_QUEUE, MAINTENANCE_QUEUE} <= set(queues)


def test_beat_entries_come_from_calendars_in_utc():
    registry = load_registry(("tests.support.demo_pipeline",))
    entries = beat_entries(registry, load_settings())
    assert entries["dispatch-demo"]["task"] == "pipelines.demo.dispatch"
    assert entries["dispatch-demo"]["schedule"].run_every.total_seconds() == 600
    assert entries["dispatch-demo"]["kwargs"] == {"trigger": "schedule"}


def test_a_visibility_timeout_shorter_than_a_time_limit_is_refused(monkeypatch):
    monkeypatch.setenv("VISIBILITY_TIMEOUT", "30")
    registry = load_registry(("tests.support.demo_pipeline",))
    with pytest.raises(ValueError, match="VISIBILITY_TIMEOUT"):
        celery_config(load_settings(), registry)


def test_delivery_settings_follow_the_at_least_once_recipe():
    registry = load_registry(("tests.support.demo_pipeline",))
    conf = celery_config(load_settings(), registry)
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    vt = conf["broker_transport_options"]["visibility_timeout"]
    assert vt == conf["visibility_timeout"] == conf["result_backend_transport_options"]["visibility_timeout"]
    assert conf["redbeat_lock_timeout"] <= 60 and conf["beat_max_loop_interval"] <= 10
    assert conf["redbeat_redis_url"] != ""
    assert conf["worker_send_task_events"] and conf["task_send_sent_event"]
