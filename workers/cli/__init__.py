"""`signals`: the operator's command line. Each sub-command lives in a small module of its own."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from observability.sentry import init_sentry
from pipelines.core.errors import SignalsError
from pipelines.core.logs import configure_logging
from pipelines.core.settings import SettingsError, get_settings

from . import (config_cmd, db_cmd, exporter_cmd, hiring_cmd, holders_cmd, insiders_cmd, inspect_cmd, patents_cmd,
               portfolio_cmd, quarantine_cmd, runs_cmd, schedule_cmd, stack_cmd, timeline_cmd, trials_cmd)

COMMANDS = (db_cmd, runs_cmd, timeline_cmd, trials_cmd, patents_cmd, insiders_cmd, holders_cmd, portfolio_cmd,
            hiring_cmd, quarantine_cmd, schedule_cmd, stack_cmd, config_cmd, inspect_cmd, exporter_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signals", description="investment-signals: pipelines, runs, schedules")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
        configure_logging(settings.LOG_LEVEL, settings.LOG_JSON)
        init_sentry(settings, args.command)
        return int(args.func(args) or 0)
    except (SettingsError, SignalsError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"signals: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
