"""The chart and compose follow the code: pools from the registry, grace periods from the task time
limits, secret names from the settings, and every chart value documented."""
from __future__ import annotations

import json
import re
import sys

import pytest

from pipelines.core.settings import SECRET_NAMES, SPEC_BY_NAME
from tests.support.demo_pipeline import PIPELINES as DEMO_PIPELINES

from .conftest import CHART, REPO, VALUE_SETS, clean_env, run

MARGIN = 30  # seconds of grace beyond the longest task, for the worker to wind down


def _chart_values(yaml) -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def test_chart_default_pools_equal_the_registry(yaml):
    proc = run([sys.executable, "-m", "workers.cli", "config", "helm-pools"], cwd=REPO, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    expected = yaml.safe_load(proc.stdout)
    assert _chart_values(yaml)["workers"]["pools"] == expected, (
        "helm/investment-signals/values.yaml workers.pools drifted from the pipeline registry; "
        "replace the list with the output of `signals config helm-pools --indent 4`")


def test_helm_pools_output_pastes_into_values(yaml):
    proc = run([sys.executable, "-m", "workers.cli", "config", "helm-pools", "--indent", "4"], cwd=REPO,
               env=clean_env(PIPELINE_MODULES="tests.support.demo_pipeline"))
    assert proc.returncode == 0, proc.stderr
    pasted = yaml.safe_load("workers:\n  pools:\n" + proc.stdout)
    # Pipeline pools carry a grace period: their longest step time limit plus a minute.
    grace = {p.name: max(s.time_limit for s in p.steps) + 60 for p in DEMO_PIPELINES}
    pools = pasted["workers"]["pools"]
    # Product pools first, then the plug-in's, then alerts and maintenance.
    assert pools[-4:] == [
        {"name": "demo", "queues": ["pipeline.demo"], "terminationGracePeriodSeconds": grace["demo"]},
        {"name": "demo-fast", "queues": ["pipeline.demo_fast"], "terminationGracePeriodSeconds": grace["demo_fast"]},
        {"name": "alerts", "queues": ["alerts"]},
        {"name": "maintenance", "queues": ["maintenance"]},
    ][-4:]
    assert pools[:-4] == _chart_values(yaml)["workers"]["pools"][:-2]


def test_worker_grace_covers_the_longest_task_of_each_pool(yaml, product_facts):
    values = _chart_values(yaml)["workers"]
    for pool in values["pools"]:
        override = values["poolOverrides"].get(pool["name"], {})
        grace = override.get("terminationGracePeriodSeconds", pool.get("terminationGracePeriodSeconds",
                                                                         values["terminationGracePeriodSeconds"]))
        longest = max(product_facts["limits"].get(q, 0) for q in pool["queues"])
        assert grace >= longest + MARGIN, f"pool {pool['name']}: grace {grace} s < longest task {longest} s + {MARGIN}"
    assert values["keda"]["cooldownPeriod"] >= values["terminationGracePeriodSeconds"]


def test_chart_secret_names_are_the_settings_secrets(yaml):
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    listed = re.search(r'define "signals.secretNames".*?list (.*?) \| toJson', helpers, re.S).group(1)
    assert set(re.findall(r'"([A-Z_]+)"', listed)) == set(SECRET_NAMES)
    schema = json.loads((CHART / "values.schema.json").read_text())
    refused = schema["properties"]["config"]["propertyNames"]["not"]["enum"]
    assert set(refused) == set(SECRET_NAMES)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_config_keys_are_known_non_secret_settings(yaml, name):
    files = [CHART / "values.yaml", *VALUE_SETS[name]]
    for f in files:
        doc = yaml.safe_load(f.read_text()) or {}
        for key in doc.get("config", {}):
            assert key in SPEC_BY_NAME, f"{f.name}: config.{key} is no setting (pipelines/core/settings.py)"
            assert key not in SECRET_NAMES
        for key in doc.get("secrets", {}).get("values", {}):
            assert key in SECRET_NAMES, f"{f.name}: secrets.values.{key} is not a secret setting"


def _leaf_paths(node, prefix=""):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield f"{prefix}{key}"
            yield from _leaf_paths(value, f"{prefix}{key}.")


def _schema_at(schema, path):
    for part in path.split("."):
        props = schema.get("properties", {})
        if part in props:
            schema = props[part]
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        else:
            return None
    return schema


def test_every_value_is_documented_and_typed(yaml):
    values = _chart_values(yaml)
    schema = json.loads((CHART / "values.schema.json").read_text())
    lines = (CHART / "values.yaml").read_text().splitlines()
    for path in _leaf_paths(values):
        node = _schema_at(schema, path)
        assert node is not None and node.get("type"), f"{path} is not typed in values.schema.json"
        assert node.get("description"), f"{path} has no description in values.schema.json"
    # In values.yaml itself every key outside a list carries a comment line right above it.
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z_][\w.-]*):", line)
        if not m or line.lstrip().startswith("-"):
            continue
        indent = len(m.group(1))
        above = lines[i - 1].strip() if i else ""
        in_list = any(re.match(rf"^\s{{0,{indent}}}- ", prev) for prev in lines[max(0, i - 3):i])
        assert above.startswith("#") or in_list, f"values.yaml line {i + 1}: {line.strip()} has no comment above"
