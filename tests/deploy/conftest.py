"""Deployment checks: the real docker-compose and helm binaries (scripts/lib.sh ensure_deploy_tools
puts them in .tools/bin) and kubernetes-validate. Nothing is run in a container or a cluster."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "investment-signals"
COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"
TOOLS = REPO / ".tools" / "bin"
VALUE_SETS = {
    "default": [],
    "keda": [CHART / "ci" / "keda-values.yaml"],
    "external": [CHART / "ci" / "external-values.yaml"],
    "pools": [CHART / "ci" / "pools-values.yaml"],
    "production": [CHART / "values-production.yaml"],
}


def tool(name: str) -> str:
    """Path of a deploy tool; fails under CI=true when it is missing, skips elsewhere."""
    for candidate in (TOOLS / name, Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} not found: run `. scripts/lib.sh && ensure_deploy_tools` (it fills .tools/bin)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: the product registry and default settings only."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PIPELINE_MODULES", "DATABASE_URL", "SIGNALS_ENV")
           and not k.startswith(("CELERY_", "REDBEAT_"))}
    env.update({"PYTHONPATH": str(REPO), "SIGNALS_DOTENV": "/nonexistent/.env"}, **extra)
    return env


@pytest.fixture(scope="session")
def yaml() -> Any:
    """PyYAML, which comes with kubernetes-validate (ensure_deploy_tools installs both)."""
    tool("kubernetes-validate")
    import yaml as pyyaml

    return pyyaml


@pytest.fixture(scope="session")
def helm() -> str:
    return tool("helm")


@pytest.fixture(scope="session")
def render(helm: str, yaml: Any) -> Callable[..., list[dict[str, Any]]]:
    """render(*values_files, set=[...]) -> the rendered objects; fails the test on a render error."""
    cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def _render(*files: Path, set: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        key = (files, set)
        if key not in cache:
            cmd = [helm, "template", "signals", str(CHART), "--namespace", "signals"]
            for f in files:
                cmd += ["-f", str(f)]
            for s in set:
                cmd += ["--set", s]
            proc = run(cmd)
            assert proc.returncode == 0, proc.stderr
            cache[key] = [d for d in yaml.safe_load_all(proc.stdout) if d]
        return cache[key]

    return _render


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


@pytest.fixture(scope="session")
def product_facts() -> dict[str, Any]:
    """From the product registry, in a clean process: the Helm pools and the longest task time limit
    per queue (every registered task, routed as Celery routes it)."""
    code = """
import json
from workers.app import app, registry
limits = {}
for name, task in app.tasks.items():
    if name.startswith("celery."):
        continue
    queue = app.amqp.router.route({}, name)["queue"].name
    limits[queue] = max(limits.get(queue, 0), task.time_limit or 0)
print(json.dumps({"pools": registry.worker_pools(), "queues": registry.queues, "limits": limits}))
"""
    proc = run([sys.executable, "-c", code], cwd=REPO, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
