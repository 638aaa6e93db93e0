"""Render-and-assert tests of the chart (helm template + jmespath), in the style of the Airflow
chart's helm-tests: one Deployment per pool, a single active beat, secrets only in Secrets, probes
and security contexts everywhere, KEDA xor HPA."""
from __future__ import annotations

import base64
import re
import shutil

import jmespath
import pytest

from pipelines.core.settings import SECRET_NAMES

from .conftest import CHART, VALUE_SETS, named, of_kind, run

FULL = "signals-investment-signals"
APP_WORKLOADS = ("Deployment", "Job")


def _pod_spec(obj):
    return jmespath.search("spec.template.spec", obj)


def _env(container) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def _component(objects, kind: str, component: str):
    return [o for o in of_kind(objects, kind) if o["metadata"]["labels"]["app.kubernetes.io/component"] == component]


def _workers(objects):
    return _component(objects, "Deployment", "worker")


def _secret_data(objects, name=FULL) -> dict[str, str]:
    data = named(objects, "Secret", name).get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_default_pools_render_one_deployment_each_consuming_its_queues(render, yaml):
    pools = yaml.safe_load((CHART / "values.yaml").read_text())["workers"]["pools"]
    workers = _workers(render())
    assert sorted(d["metadata"]["name"] for d in workers) == sorted(f"{FULL}-worker-{p['name']}" for p in pools)
    for pool in pools:
        dep = named(workers, "Deployment", f"{FULL}-worker-{pool['name']}")
        container = jmespath.search("spec.template.spec.containers[?name=='worker'] | [0]", dep)
        assert container["args"] == ["/start-worker"]
        assert _env(container)["WORKER_QUEUES"] == ",".join(pool["queues"])
        assert _env(container)["WORKER_POOL_NAME"] == pool["name"]
        assert dep["spec"]["replicas"] == 1


def test_several_pools_with_overrides(render):
    objects = render(*VALUE_SETS["pools"])
    workers = {d["metadata"]["name"].removeprefix(f"{FULL}-worker-"): d for d in _workers(objects)}
    assert sorted(workers) == ["alerts", "clinical-trials", "insider", "maintenance", "patent-ip"]
    insider = workers["insider"]
    container = jmespath.search("spec.template.spec.containers[0]", insider)
    assert _env(container)["WORKER_QUEUES"] == "pipeline.insider_trades,pipeline.institutional"
    assert _env(container)["WORKER_CONCURRENCY"] == "6"
    assert _pod_spec(insider)["terminationGracePeriodSeconds"] == 900
    # An override deep-merges: the memory limit changes, the requests stay the defaults.
    assert container["resources"] == {"limits": {"memory": "2Gi"}, "requests": {"cpu": "100m", "memory": "384Mi"}}
    assert _pod_spec(workers["alerts"])["terminationGracePeriodSeconds"] == 420
    pdbs = {p["metadata"]["name"] for p in of_kind(objects, "PodDisruptionBudget")}
    assert f"{FULL}-worker-maintenance" not in pdbs
    assert f"{FULL}-worker-alerts" in pdbs and f"{FULL}-worker-insider" in pdbs


def test_keda_xor_hpa_per_pool(render):
    keda = render(*VALUE_SETS["keda"])
    pools = [d["metadata"]["name"] for d in _workers(keda)]
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(keda, "ScaledObject")}
    assert sorted(scaled) == sorted(pools)
    assert of_kind(keda, "HorizontalPodAutoscaler") == []
    assert all("replicas" not in d["spec"] for d in _workers(keda))  # KEDA owns the replica count
    alerts = scaled[f"{FULL}-worker-alerts"]
    assert (alerts["spec"]["minReplicaCount"], alerts["spec"]["maxReplicaCount"]) == (2, 4)
    trigger = alerts["spec"]["triggers"][0]
    assert trigger["type"] == "redis"
    assert trigger["metadata"] == {"address": f"{FULL}-redis.signals.svc:6379", "listName": "alerts",
                                   "listLength": "2", "activationListLength": "0", "databaseIndex": "0",
                                   "enableTLS": "false"}
    # Scale-down must not undercut warm shutdown.
    assert alerts["spec"]["cooldownPeriod"] >= 420

    pools_set = render(*VALUE_SETS["pools"])
    assert of_kind(pools_set, "ScaledObject") == []
    hpas = of_kind(pools_set, "HorizontalPodAutoscaler")
    assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas] == [f"{FULL}-worker-clinical-trials"]
    assert hpas[0]["spec"]["maxReplicas"] == 4
    assert "replicas" not in named(pools_set, "Deployment", f"{FULL}-worker-clinical-trials")["spec"]
    assert named(pools_set, "Deployment", f"{FULL}-worker-insider")["spec"]["replicas"] == 1


def test_keda_with_external_redis_authenticates_through_a_trigger_authentication(render):
    objects = render(*VALUE_SETS["external"])
    auths = of_kind(objects, "TriggerAuthentication")
    assert auths and all(a["spec"]["secretTargetRef"] == [{"parameter": "password", "name": "signals-credentials",
                                                          "key": "REDIS_PASSWORD"}] for a in auths)
    for so in of_kind(objects, "ScaledObject"):
        for trigger in so["spec"]["triggers"]:
            assert trigger["metadata"]["address"] == "redis.internal.example:6380"
            assert trigger["metadata"]["enableTLS"] == "true"
            assert "password" not in trigger["metadata"]
            assert trigger["authenticationRef"]["name"] == so["metadata"]["name"]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_a_single_active_beat(render, name):
    objects = render(*VALUE_SETS[name])
    beats = _component(objects, "Deployment", "beat")
    assert len(beats) == 1
    beat = beats[0]
    assert jmespath.search("spec.template.spec.containers[0].args", beat) == ["/start-beat"]
    if name in ("external", "production"):  # beat.standby: the second replica waits on the RedBeat lock
        assert beat["spec"]["replicas"] == 2
        assert beat["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    else:
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
    scalers = [o for o in objects if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")]
    assert all(s["spec"]["scaleTargetRef"]["name"] != beat["metadata"]["name"] for s in scalers)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_no_secret_in_a_configmap(render, name):
    objects = render(*VALUE_SETS[name])
    secret_values = {v for s in of_kind(objects, "Secret") for v in
                     (base64.b64decode(x).decode() for x in (s.get("data") or {}).values())}
    for cm in of_kind(objects, "ConfigMap"):
        for key, value in (cm.get("data") or {}).items():
            assert key not in SECRET_NAMES, f"{key} in ConfigMap {cm['metadata']['name']}"
            assert value not in secret_values
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", value), f"credentials in {key}"
    for obj in objects:
        for container in jmespath.search("spec.template.spec.[containers, initContainers][][]", obj) or []:
            for env in container.get("env", []):
                assert env["name"] not in SECRET_NAMES or "valueFrom" in env


def test_connection_urls_and_generated_credentials_live_in_the_secret(render):
    objects = render()
    data = _secret_data(objects)
    assert data["CELERY_BROKER_URL"] == f"redis://{FULL}-redis:6379/0"
    assert data["CELERY_RESULT_BACKEND"] == f"redis://{FULL}-redis:6379/1"
    assert data["REDBEAT_REDIS_URL"] == f"redis://{FULL}-redis:6379/2"
    password = base64.b64decode(named(objects, "Secret", f"{FULL}-postgresql")["data"]["password"]).decode()
    assert len(password) == 32
    # One generated password, the same in the database's Secret and in the application's URL.
    assert data["DATABASE_URL"] == f"postgresql://signals:{password}@{FULL}-postgresql:5432/signals"
    user, _, secret = data["FLOWER_BASIC_AUTH"].partition(":")
    assert user == "admin" and len(secret) == 24


def test_existing_secret_is_loaded_after_the_charts_own(render):
    objects = render(*VALUE_SETS["external"])
    data = _secret_data(objects)
    assert data["CELERY_BROKER_URL"] == "rediss://redis.internal.example:6380/0"
    assert data["SENTRY_DSN"] == "https://public@sentry.example/1"
    assert data["FLOWER_BASIC_AUTH"] == "ops:correct-horse-battery-staple"
    for obj in of_kind(objects, "Deployment") + of_kind(objects, "Job"):
        for container in jmespath.search("spec.template.spec.[containers, initContainers][][]", obj):
            refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
            assert refs == [FULL, FULL, "signals-credentials"]
    assert not [o for o in objects if o["kind"] == "StatefulSet"]  # no in-chart Redis or PostgreSQL


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_probes_and_security_context_everywhere(render, name):
    objects = render(*VALUE_SETS[name])
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = _pod_spec(obj)
        assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"] + pod.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"]["memory"]
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        main = pod["containers"][0]
        if component == "worker":
            heartbeat = "stat -c %Y /tmp/worker/heartbeat"
            assert heartbeat in main["livenessProbe"]["exec"]["command"][2]
            assert heartbeat in main["startupProbe"]["exec"]["command"][2]
            assert main["readinessProbe"]["exec"]["command"] == ["test", "-f", "/tmp/worker/ready"]
            assert "inspect" not in str(main)  # no `celery inspect ping`
            assert pod["initContainers"][0]["args"] == ["/wait-for-migrations"]
            sidecar = jmespath.search("containers[?name=='metrics'] | [0]", pod)
            assert sidecar["args"] == ["/start-exporter", "--no-cluster-metrics"]
            assert sidecar["livenessProbe"]["httpGet"] == {"path": "/live", "port": "metrics"}
            assert _env(sidecar)["PROMETHEUS_MULTIPROC_DIR"] == _env(main)["PROMETHEUS_MULTIPROC_DIR"]
            assert pod["shareProcessNamespace"] is True
        elif component in ("flower", "exporter"):
            assert main["livenessProbe"]["httpGet"]["port"] == "http"
            assert main["readinessProbe"]["httpGet"]["port"] == "http"
        elif component in ("redis", "postgresql"):
            assert main["livenessProbe"] and main["readinessProbe"]


def test_checksums_roll_the_pods_when_settings_change(render):
    before = render()
    after = render(set=("config.LOG_LEVEL=DEBUG",))
    for name in (f"{FULL}-worker-alerts", f"{FULL}-beat", f"{FULL}-flower", f"{FULL}-exporter"):
        old = named(before, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        new = named(after, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert re.fullmatch(r"[0-9a-f]{64}", old["checksum/config"]) and "checksum/secret" in old
        assert old["checksum/config"] != new["checksum/config"]


def test_migration_job_runs_as_a_hook_or_per_revision(render):
    hook = named(render(), "Job", f"{FULL}-migrate")
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert jmespath.search("spec.template.spec.containers[0].args", hook) == ["/start-migrate"]
    plain = of_kind(render(*VALUE_SETS["external"]), "Job")
    assert [j["metadata"]["name"] for j in plain] == [f"{FULL}-migrate-1"]
    assert "annotations" not in plain[0]["metadata"]


def test_network_policies_guard_flower_metrics_and_close_workers(render):
    objects = render(*VALUE_SETS["pools"])
    closed = named(objects, "NetworkPolicy", f"{FULL}-no-ingress")
    assert closed["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in closed["spec"]
    assert jmespath.search("spec.podSelector.matchExpressions[0].values", closed) == ["beat", "migrate"]
    workers = named(objects, "NetworkPolicy", f"{FULL}-worker")
    assert workers["spec"]["ingress"] == [{
        "ports": [{"port": 9092, "protocol": "TCP"}],
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}]
    no_sidecar = named(render(set=("workers.metrics.enabled=false",)), "NetworkPolicy", f"{FULL}-worker")
    assert "ingress" not in no_sidecar["spec"]
    flower = named(objects, "NetworkPolicy", f"{FULL}-flower")
    assert flower["spec"]["ingress"] == [{
        "ports": [{"port": 5555, "protocol": "TCP"}],
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]}]
    redis = named(objects, "NetworkPolicy", f"{FULL}-redis")
    assert jmespath.search("spec.ingress[0].from[0].podSelector.matchLabels", redis) == {
        "app.kubernetes.io/name": "investment-signals", "app.kubernetes.io/instance": "signals"}
    # With KEDA on, its operator's namespace may read the queue lengths too.
    keda_redis = named(render(*VALUE_SETS["keda"]), "NetworkPolicy", f"{FULL}-redis")
    assert jmespath.search("spec.ingress[0].from[1].namespaceSelector.matchLabels", keda_redis) == {
        "kubernetes.io/metadata.name": "keda"}


def test_service_monitor_scrapes_the_exporter_and_flower(render):
    objects = render(*VALUE_SETS["keda"])
    monitor = of_kind(objects, "ServiceMonitor")[0]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [s for s in of_kind(objects, "Service")
               if all(s["metadata"]["labels"].get(k) == v for k, v in selector.items())]
    assert sorted(s["metadata"]["name"] for s in scraped) == [f"{FULL}-exporter", f"{FULL}-flower",
                                                              f"{FULL}-worker-metrics"]
    ports = {s["metadata"]["name"]: s["spec"]["ports"][0]["name"] for s in scraped}
    assert ports[f"{FULL}-worker-metrics"] == "metrics" and ports[f"{FULL}-flower"] == "http"
    assert named(objects, "Service", f"{FULL}-worker-metrics")["spec"]["clusterIP"] == "None"
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("http", "/metrics"),
                                                                             ("metrics", "/metrics")]
    assert of_kind(render(), "ServiceMonitor") == []  # off by default


def test_notes_list_the_pools_and_what_is_missing(helm, tmp_path, yaml):
    # helm renders NOTES.txt only on install; render it as a ConfigMap in a copy of the chart.
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "notes" -}}\n' + notes + "{{- end -}}\n")
    (chart / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        "data:\n  notes: {{ include \"notes\" . | quote }}\n")

    def notes_for(*files):
        args = [a for f in files for a in ("-f", str(f))]
        proc = run([helm, "template", "signals", str(chart), "-s", "templates/notes.yaml", *args])
        assert proc.returncode == 0, proc.stderr
        return yaml.safe_load(proc.stdout)["data"]["notes"]

    default = notes_for()
    assert f"{FULL}-worker-alerts: queues alerts, concurrency 2, 1 replica(s), grace 420 s" in default
    assert "WARNING: config.SEC_USER_AGENT is empty" in default
    assert "jsonpath='{.data.FLOWER_BASIC_AUTH}'" in default
    production = notes_for(*VALUE_SETS["production"])
    assert f"{FULL}-worker-alerts: queues alerts, concurrency 2, KEDA 2-6 replicas, grace 420 s" in production
    assert "SEC_USER_AGENT" not in production and "in-chart" not in production
