"""`helm lint --strict` and `helm template | kubernetes-validate --strict -k 1.32.0` for every value
set; custom resources against the vendored schemas in schemas/; bad values refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import CHART, VALUE_SETS, run, tool

# jsonschema comes with kubernetes-validate (scripts/lib.sh ensure_deploy_tools installs both).
jsonschema = pytest.importorskip("jsonschema")

KUBE_VERSION = "1.32.0"
SCHEMAS = Path(__file__).with_name("schemas")
CRD_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"),
             ("monitoring.coreos.com/v1", "ServiceMonitor")}


def _values_args(files: list[Path]) -> list[str]:
    return [arg for f in files for arg in ("-f", str(f))]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint_strict(helm, name):
    proc = run([helm, "lint", "--strict", str(CHART), *_values_args(VALUE_SETS[name])])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_manifests_validate_against_kubernetes_1_32(helm, name, tmp_path):
    proc = run([helm, "template", "signals", str(CHART), "--namespace", "signals", "--kube-version", KUBE_VERSION,
                *_values_args(VALUE_SETS[name])])
    assert proc.returncode == 0, proc.stderr
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(proc.stdout)
    check = run([tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, "--quiet", str(manifest)])
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ERROR" not in check.stdout
    # kubernetes-validate only warns (exit 0) on kinds it has no schema for: those must be exactly
    # the custom resources checked in test_custom_resources_match_vendored_schemas.
    unknown = [line for line in check.stdout.splitlines() if line.startswith("WARN")]
    for line in unknown:
        assert any(f"kind {kind} with api version {api}" in line for api, kind in CRD_KINDS), line


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_custom_resources_match_vendored_schemas(render, name):
    objects = render(*VALUE_SETS[name])
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        if key in CRD_KINDS:
            schema_file = SCHEMAS / f"{key[0].split('/')[0]}_{key[0].split('/')[1]}_{key[1]}.json"
            jsonschema.validate(obj, json.loads(schema_file.read_text()))


def test_value_sets_exercise_the_custom_resources(render):
    kinds = {o["kind"] for name in ("keda", "external") for o in render(*VALUE_SETS[name])}
    assert {"ScaledObject", "TriggerAuthentication", "ServiceMonitor"} <= kinds


def test_vendored_schemas_reject_a_malformed_scaled_object(render):
    so = next(o for o in render(*VALUE_SETS["keda"]) if o["kind"] == "ScaledObject")
    schema = json.loads((SCHEMAS / "keda.sh_v1alpha1_ScaledObject.json").read_text())
    bad = json.loads(json.dumps(so))
    bad["spec"]["triggers"][0]["metadata"]["listLength"] = 5  # KEDA wants strings
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(so))
    bad["spec"]["maxReplicas"] = 3  # the HPA's spelling, not KEDA's
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("sets, message", [
    (["workers.keda.enabled=true", "workers.hpa.enabled=true"], "workers: Must not validate the schema"),
    (["workers.keda.enabled=true", "workers.poolOverrides.alerts.hpa.enabled=true"], "keda and hpa are both enabled"),
    (["config.DATABASE_URL=postgresql://u:p@db/x"], "DATABASE_URL"),
    (["config.SLACK_WEBHOOK_URL=https://hooks.example/x"], "SLACK_WEBHOOK_URL"),
    (["workers.poolOverrides.nosuchpool.replicas=2"], "names no pool"),
    (["redis.enabled=false"], "no Redis"),
    (["postgresql.enabled=false"], "no database"),
    (["externalRedis.url=redis://elsewhere:6379"], "choose the in-chart Redis or an external one"),
    (["workers.pools[0].name=Bad_Name", "workers.pools[0].queues={alerts}"], "pools"),
    (["workers.replica=2"], "Additional property replica is not allowed"),
    (["redis.enabled=false", "externalRedis.url=redis://r:6379", "workers.keda.enabled=true"],
     "workers.keda.redis.address (host:port) is required"),
])
def test_contradictory_or_unsafe_values_are_refused(helm, sets, message):
    cmd = [helm, "template", "signals", str(CHART)]
    for s in sets:
        cmd += ["--set", s]
    proc = run(cmd)
    assert proc.returncode != 0
    assert message in proc.stderr
