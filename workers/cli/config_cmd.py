"""`signals config env-example|show`."""
from __future__ import annotations

import argparse
import sys

from pipelines.core.settings import SECRET_NAMES, env_example, get_settings

from .common import console


def add_commands(sub: argparse._SubParsersAction) -> None:
    cfg = sub.add_parser("config", help="settings")
    csub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    csub.add_parser("env-example", help="print compose/env.example").set_defaults(func=_example)
    csub.add_parser("show", help="print the effective settings, secrets masked").set_defaults(func=_show)


def _example(args: argparse.Namespace) -> int:
    sys.stdout.write(env_example())
    return 0


def _show(args: argparse.Namespace) -> int:
    for key, value in sorted(get_settings().values.items()):
        shown = "***" if key in SECRET_NAMES and value else value
        console.print(f"{key}={shown}", highlight=False, markup=False)
    return 0
