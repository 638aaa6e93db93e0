"""compose/prometheus and compose/grafana: promtool checks, and every queried metric is one we export."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_flower import FLOWER_DOCUMENTED
from tests.support.services import REPO, engine_env, free_port, wait_for

pytestmark = pytest.mark.integration
PROM = REPO / "compose" / "prometheus"
GRAFANA = REPO / "compose" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
PROMETHEUS_OWN = {"up"}  # written by Prometheus itself for every scrape target
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = ("promtool is missing: apt-get install -y --no-install-recommends prometheus "
                   "(scripts/test does it through ensure_promtool)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*args: str) -> str:
    done = subprocess.run([_promtool(), *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def grafana_to_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced by values Prometheus can parse."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    return re.sub(r"\$\{?\w+\}?", "1", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (function names, labels and keywords left out)."""
    e = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^{}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\[\]]*\]", " ", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", e):
        if m.group(0) not in _KEYWORDS and not e[m.end():].lstrip().startswith("("):
            names.add(m.group(0))
    return names


def _dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            queries += [(f"{path.name}: {panel['title']}", t["expr"]) for t in panel["targets"]]
    return queries


def _rule_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [(f"alerts.yml: {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]


def test_prometheus_config_rules_and_rule_unit_tests():
    assert "SUCCESS" in _run("check", "config", str(PROM / "prometheus.yml"))
    assert "SUCCESS" in _run("check", "rules", str(PROM / "alerts.yml"))
    assert "SUCCESS" in _run("test", "rules", str(PROM / "alerts_test.yml"))
    tested = {t["alertname"] for test in yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]
              for t in test["alert_rule_test"]}
    declared = {name.split(": ")[1] for name, _ in _rule_queries()}
    assert declared == tested == {"PipelineFailed", "PipelineBehindSchedule", "WorkerDown", "QueueBacklogGrowing",
                                  "AlertOutboxStuck", "HealthCheckFailing", "ExporterDown"}


def test_every_dashboard_query_is_valid_promql(tmp_path):
    queries = _dashboard_queries()
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)} for i, (_, expr) in enumerate(queries)]}]}
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(queries)} rules found" in _run("check", "rules", str(path))


def test_dashboards_are_provisioned_with_their_datasource():
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert titles == {"Pipeline Overview", "Health Status", "Cost Tracking"}
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    datasource = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"], (path.name, panel["title"])
            assert panel["targets"], (path.name, panel["title"])
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/signals.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"
    cost = json.loads((GRAFANA / "dashboards/cost_tracking.json").read_text())
    prices = {v["name"] for v in cost["templating"]["list"] if v["type"] == "textbox"}
    assert prices == {"slot_hour_price", "request_price_per_1k", "fixed_monthly_cost"}
    monthly = next(p for p in cost["panels"] if p["title"] == "Estimated monthly cost")["targets"][0]["expr"]
    assert all(f"${name}" in monthly for name in prices)


def _exported_names(tmp_path: Path, database_url: str) -> set[str]:
    """Sample names a real `signals exporter` process serves (declared families included)."""
    port = free_port()
    env = engine_env(database_url, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    proc = subprocess.Popen([sys.executable, "-m", "workers.cli", "exporter", "--host", "127.0.0.1", "--port",
                             str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        def scrape() -> str | None:
            try:
                return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            except requests.ConnectionError:
                assert proc.poll() is None, "the exporter exited"
                return None

        text = wait_for(scrape, 60, "the exporter's /metrics")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


def test_every_metric_a_dashboard_or_rule_queries_is_exported(tmp_path, clean_db):
    assert metric_names('sum by (le) (rate(a_bucket{x="y"}[5m])) > on(q) group_left b offset 5m') == {"a_bucket", "b"}
    exported = _exported_names(tmp_path, clean_db)
    flower = {name + s for name, kind in FLOWER_DOCUMENTED.items()
              for s in (("_bucket", "_sum", "_count") if kind == "histogram" else ("",))}
    known = exported | flower | PROMETHEUS_OWN
    used: dict[str, list[str]] = {}
    for where, expr in _dashboard_queries() + _rule_queries():
        for name in metric_names(grafana_to_promql(expr)):
            used.setdefault(name, []).append(where)
    for path in DASHBOARDS:
        for var in json.loads(path.read_text())["templating"]["list"]:
            if var["type"] == "query":
                used.setdefault(re.search(r"label_values\((\w+)", var["definition"]).group(1), []).append(path.name)
    unknown = {name: where for name, where in used.items() if name not in known}
    assert not unknown, unknown
    # The names are all there, under exactly these names.
    assert {"pipeline_executions_total", "pipeline_duration_seconds_bucket", "signals_detected_total",
            "alerts_sent_total", "health_check_status", "health_check_duration_seconds"} <= exported
