"""Which checks /health/<pipeline or group> covers."""
from __future__ import annotations

from datetime import time

from beat_schedule.calendars import DailyAt
from observability.health import named_scope, overall_scope, scope_names
from pipelines.core.model import Pipeline, Step, StepResult
from pipelines.core.registry import Registry
from pipelines.core.settings import Settings


def _step(ctx):  # pragma: no cover - never run
    return StepResult()


def _pipeline(name: str, group: str = "", scheduled: bool = True) -> Pipeline:
    return Pipeline(name=name, description="", steps=(Step("fetch", _step),),
                    calendar=DailyAt(time(6, 0)) if scheduled else None, group=group)


REGISTRY = Registry((_pipeline("insider_form4", "insider_hiring"), _pipeline("hiring", "insider_hiring"),
                     _pipeline("insider_hiring_master", "insider_hiring", scheduled=False),
                     _pipeline("clinical_trials", "clinical_trials"), _pipeline("adhoc", scheduled=False)))
SETTINGS = Settings({})


def test_a_group_covers_its_pipelines_their_queues_alerts_and_catch_up():
    scope = named_scope(REGISTRY, SETTINGS, "insider_hiring")
    assert [p.name for p in scope.pipelines] == ["insider_form4", "hiring", "insider_hiring_master"]
    assert scope.queues == ("pipeline.insider_form4", "pipeline.hiring", "pipeline.insider_hiring_master",
                            "alerts", "maintenance")
    assert scope.beat


def test_a_pipeline_whose_name_is_also_a_group_is_one_scope():
    scope = named_scope(REGISTRY, SETTINGS, "clinical_trials")
    assert [p.name for p in scope.pipelines] == ["clinical_trials"]


def test_a_manual_pipeline_needs_neither_beat_nor_maintenance():
    scope = named_scope(REGISTRY, SETTINGS, "adhoc")
    assert scope.queues == ("pipeline.adhoc", "alerts") and not scope.beat


def test_unknown_names_and_the_list_of_names():
    assert named_scope(REGISTRY, SETTINGS, "nope") is None
    assert scope_names(REGISTRY) == ["insider_form4", "hiring", "insider_hiring_master", "clinical_trials", "adhoc",
                                     "insider_hiring"]
    overall = overall_scope(REGISTRY)
    assert overall.beat and set(overall.queues) == set(REGISTRY.queues)
