"""`signals config env-example|show|helm-pools`."""
from __future__ import annotations

import argparse
import json
import sys
from typing import cast

from pipelines.core.registry import Registry
from pipelines.core.settings import SECRET_NAMES, env_example, get_settings

from .common import console, context

GRACE_MARGIN = 60  # seconds after a pool's longest task limit for the worker to wind down


def add_commands(sub: argparse._SubParsersAction) -> None:
    cfg = sub.add_parser("config", help="settings")
    csub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    csub.add_parser("env-example", help="print compose/env.example").set_defaults(func=_example)
    csub.add_parser("show", help="print the effective settings, secrets masked").set_defaults(func=_show)
    pools = csub.add_parser("helm-pools", help="print the default Helm worker pools (workers.pools) as YAML")
    pools.add_argument("--indent", type=int, default=0, help="spaces before each line, to paste into values")
    pools.set_defaults(func=_helm_pools)


def _example(args: argparse.Namespace) -> int:
    sys.stdout.write(env_example())
    return 0


def _show(args: argparse.Namespace) -> int:
    for key, value in sorted(get_settings().values.items()):
        shown = "***" if key in SECRET_NAMES and value else value
        console.print(f"{key}={shown}", highlight=False, markup=False)
    return 0


def helm_pools(registry: Registry) -> list[dict[str, object]]:
    """Registry.worker_pools() plus, for pipeline pools, a terminationGracePeriodSeconds that lets
    warm shutdown outlast the longest step (pools without one use the chart's default)."""
    longest = {p.queue: max(s.time_limit for s in p.steps) for p in registry.pipelines if p.steps}
    pools = []
    for pool in registry.worker_pools():
        limits = [longest[q] for q in cast(list[str], pool["queues"]) if q in longest]
        pools.append({**pool, "terminationGracePeriodSeconds": max(limits) + GRACE_MARGIN} if limits else pool)
    return pools


def helm_pools_yaml(pools: list[dict[str, object]], indent: int = 0) -> str:
    """The pools as a YAML block sequence; JSON scalars are valid YAML, so no YAML library is needed."""
    pad = " " * indent
    lines = []
    for pool in pools:
        queues = ", ".join(json.dumps(q) for q in cast(list[str], pool["queues"]))
        lines += [f"{pad}- name: {json.dumps(pool['name'])}", f"{pad}  queues: [{queues}]"]
        if "terminationGracePeriodSeconds" in pool:
            lines.append(f"{pad}  terminationGracePeriodSeconds: {pool['terminationGracePeriodSeconds']}")
    return "\n".join(lines) + "\n"


def _helm_pools(args: argparse.Namespace) -> int:
    _, registry = context()
    sys.stdout.write(helm_pools_yaml(helm_pools(registry), args.indent))
    return 0
