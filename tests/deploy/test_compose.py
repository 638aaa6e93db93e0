"""compose/: `docker-compose config` with the real binary, the stack's shape, the start scripts and
the Dockerfile. No Docker engine here: the stack is validated, not run."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import COMPOSE_FILE, REPO, clean_env, run, tool

COMPOSE = REPO / "compose"
ROLES = ("worker", "beat", "flower", "exporter", "migrate")
COMPOSE_ONLY = {"POSTGRES_PASSWORD": "pg-secret", "FLOWER_BASIC_AUTH": "ops:flower-secret",
                "GRAFANA_ADMIN_PASSWORD": "grafana-secret"}
MARGIN = 30


def _env_file(tmp_path: Path, **drop: bool) -> Path:
    """compose/.env as the README has the operator make it: env.example plus the compose-only values."""
    path = tmp_path / "signals.env"
    extra = "".join(f"{k}={v}\n" for k, v in COMPOSE_ONLY.items() if k not in drop)
    path.write_text((COMPOSE / "env.example").read_text() + "SEC_USER_AGENT=Example ops@example.org\n" + extra)
    return path


def _compose(tmp_path: Path, *args: str, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env_file = env_file or _env_file(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_ONLY}
    env["SIGNALS_ENV_FILE"] = str(env_file)
    return run([tool("docker-compose"), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args], env=env)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> dict:
    proc = _compose(tmp_path_factory.mktemp("compose"), "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _seconds(duration: str) -> int:
    parts = re.findall(r"(\d+)([hms])", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def test_compose_config_is_valid(tmp_path):
    proc = _compose(tmp_path, "config", "-q")
    assert proc.returncode == 0, proc.stderr


def test_missing_credentials_or_env_file_fail_with_a_message(tmp_path):
    proc = _compose(tmp_path, "config", "-q", env_file=_env_file(tmp_path, POSTGRES_PASSWORD=True))
    assert proc.returncode != 0 and "set POSTGRES_PASSWORD in compose/.env" in proc.stderr
    proc = _compose(tmp_path, "config", "-q", env_file=_env_file(tmp_path, FLOWER_BASIC_AUTH=True))
    assert proc.returncode != 0 and "FLOWER_BASIC_AUTH" in proc.stderr
    env = dict(os.environ)
    env["SIGNALS_ENV_FILE"] = str(tmp_path / "absent.env")
    proc = run([tool("docker-compose"), "-f", str(COMPOSE_FILE), "--env-file", str(_env_file(tmp_path)),
                "config", "-q"], env=env)
    assert proc.returncode != 0 and "absent.env" in proc.stderr


def _service_snippet(pool: dict, longest: int) -> str:
    grace = max(7 * 60, longest + 60)
    return (f"  worker-{pool['name']}:\n    <<: *worker\n    stop_grace_period: {grace}s\n"
            f"    environment:\n      <<: *worker-env\n      WORKER_POOL_NAME: {pool['name']}\n"
            f"      WORKER_QUEUES: {','.join(pool['queues'])}\n")


def test_one_worker_per_registry_pool(stack, product_facts):
    limits = product_facts["limits"]
    workers = {name: svc for name, svc in stack["services"].items() if svc.get("command") == ["/start-worker"]}
    expected = {f"worker-{p['name']}": ",".join(p["queues"]) for p in product_facts["pools"]}
    actual = {name: svc["environment"]["WORKER_QUEUES"] for name, svc in workers.items()}
    missing = "".join(_service_snippet(p, max(limits.get(q, 0) for q in p["queues"]))
                      for p in product_facts["pools"] if f"worker-{p['name']}" not in actual)
    assert actual == expected, ("compose/docker-compose.yml worker services drifted from the registry "
                                f"(`signals config helm-pools`); services to add:\n{missing}")
    for name, svc in workers.items():
        queues = svc["environment"]["WORKER_QUEUES"].split(",")
        longest = max(limits.get(q, 0) for q in queues)
        assert _seconds(svc["stop_grace_period"]) >= longest + MARGIN, name
        assert "/tmp/worker/heartbeat" in " ".join(svc["healthcheck"]["test"])
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert svc["environment"]["WORKER_POOL_NAME"] == name.removeprefix("worker-")


def test_app_services_share_one_image_read_only_with_exec_form_commands(stack):
    app = {n: s for n, s in stack["services"].items()
           if s.get("image") == "investment-signals:latest" and n != "metrics"}
    assert set(app) >= {"migrate", "beat", "flower", "exporter", "worker-alerts", "worker-maintenance"}
    for name, svc in app.items():
        assert svc["read_only"] is True and svc["tmpfs"] == ["/tmp"], name
        assert isinstance(svc["command"], list) and len(svc["command"]) == 1, name
        assert svc["build"]["dockerfile"] == "compose/Dockerfile"
        assert svc["environment"]["DATABASE_URL"] == "postgresql://signals:pg-secret@postgres:5432/signals"
        assert svc["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert stack["services"]["migrate"]["restart"] == "no"


def test_workers_and_exporter_share_the_metrics_directory_in_one_pid_namespace(stack):
    services = stack["services"]
    holder = services["metrics"]
    assert holder["command"][-1] == "find /metrics -mindepth 1 -delete && exec sleep infinity"
    sharing = {n for n, s in services.items() if s.get("pid") == "service:metrics"}
    workers = {n for n, s in services.items() if s.get("command") == ["/start-worker"]}
    assert sharing == workers | {"exporter"}
    for name in sharing:
        svc = services[name]
        assert {(v["source"], v["target"]) for v in svc["volumes"]} == {("worker-metrics", "/metrics")}
        assert svc["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/metrics"
    # The shared directory is wiped by the holder, never by one worker under the others' feet.
    assert all(services[n]["environment"]["METRICS_DIR_SHARED"] == "true" for n in workers)


def test_redis_postgres_and_observability_services(stack):
    services = stack["services"]
    redis_cmd = services["redis"]["command"]
    assert redis_cmd[redis_cmd.index("--maxmemory-policy") + 1] == "noeviction"
    assert redis_cmd[redis_cmd.index("--appendonly") + 1] == "yes"
    for name in ("redis", "postgres", "flower", "exporter", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "ops:flower-secret"
    for name in ("flower", "exporter", "prometheus", "grafana"):
        assert all(p["host_ip"] == "127.0.0.1" for p in services[name]["ports"]), name
    assert "ports" not in services["redis"] and "ports" not in services["postgres"]
    mounts = {(v["source"], v["target"]) for name in ("prometheus", "grafana") for v in services[name]["volumes"]
              if v["type"] == "bind"}
    assert mounts == {(str(COMPOSE / "prometheus"), "/etc/prometheus"),
                      (str(COMPOSE / "grafana" / "provisioning"), "/etc/grafana/provisioning"),
                      (str(COMPOSE / "grafana" / "dashboards"), "/var/lib/grafana/dashboards")}
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "grafana-secret"


@pytest.mark.parametrize("role", ROLES)
def test_start_scripts_are_strict_bash_ending_in_exec(role):
    script = COMPOSE / role / "start"
    text = script.read_text()
    assert script.stat().st_mode & stat.S_IXUSR
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -o errexit -o pipefail -o nounset" in text
    last = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))][-1]
    assert last.startswith("exec "), last
    assert run(["bash", "-n", str(script)]).returncode == 0
    if shutil.which("shellcheck"):
        proc = run(["shellcheck", str(script), str(COMPOSE / "migrate" / "wait")])
        assert proc.returncode == 0, proc.stdout


def test_worker_start_wipes_metrics_and_execs_celery(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "celery").write_text('#!/usr/bin/env bash\necho "pid=$$"\nprintf "%s\\n" "$@"\n')
    (fake / "celery").chmod(0o755)
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_1234.db").write_text("stale")
    env = {"PATH": f"{fake}:/usr/bin:/bin", "WORKER_QUEUES": "pipeline.a,alerts", "WORKER_POOL_NAME": "a",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics), "WORKER_PROBE_DIR": str(tmp_path / "probe")}
    proc = subprocess.Popen([str(COMPOSE / "worker" / "start")], env=env, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    lines = out.splitlines()
    assert lines[0] == f"pid={proc.pid}"  # exec: celery is the process that receives SIGTERM
    assert lines[1:] == ["-A", "workers.app", "worker", "--queues", "pipeline.a,alerts", "--hostname", "a@%h",
                         "--loglevel", "INFO", "--heartbeat-file", f"{tmp_path}/probe/heartbeat",
                         "--ready-file", f"{tmp_path}/probe/ready"]
    assert list(metrics.iterdir()) == []
    (metrics / "counter_77.db").write_text("another worker's")
    shared = subprocess.run([str(COMPOSE / "worker" / "start")], env=dict(env, METRICS_DIR_SHARED="true"),
                            capture_output=True, text=True, timeout=30)
    assert shared.returncode == 0 and (metrics / "counter_77.db").exists()
    missing = subprocess.run([str(COMPOSE / "worker" / "start")], env={"PATH": env["PATH"]},
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "WORKER_QUEUES" in missing.stderr


def test_dockerfile_is_slim_non_root_with_exec_form_entrypoint():
    text = (COMPOSE / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and not users[-1].startswith(("root", "0"))
    entry = re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1)
    cmd = re.search(r"^CMD (.+)$", text, re.M).group(1)
    assert json.loads(entry) == ["/usr/bin/tini", "-s", "--"]
    assert json.loads(cmd) == ["/start-worker"]
    for source, _ in re.findall(r"^COPY --chmod=0755 (\S+) (\S+)$", text, re.M):
        assert (REPO / source).is_file(), source
    copied = {target for _, target in re.findall(r"^COPY --chmod=0755 (\S+) (\S+)$", text, re.M)}
    assert {f"/start-{role}" for role in ROLES} | {"/wait-for-migrations"} == copied
    ignore = (COMPOSE / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".tools", ".git", "var"} <= set(ignore)


def test_wait_for_migrations_blocks_until_the_schema_is_at_head(tmp_path):
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path}/signals.db", VAR_DIR=str(tmp_path / "var"),
                    MIGRATION_WAIT_SECONDS="0", PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    before = run([str(COMPOSE / "migrate" / "wait")], env=env, cwd=tmp_path)
    assert before.returncode == 1 and "migrations are not at head" in before.stderr
    assert run([str(COMPOSE / "migrate" / "start")], env=env, cwd=tmp_path).returncode == 0
    after = run([str(COMPOSE / "migrate" / "wait")], env=env, cwd=tmp_path)
    assert after.returncode == 0 and "database schema is current" in after.stdout
