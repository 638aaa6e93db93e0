"""`signals db upgrade|current`: Alembic migrations of the ledger database."""
from __future__ import annotations

import argparse

from pipelines.core import migrate

from .common import console, context


def add_commands(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database migrations")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dsub.add_parser("upgrade", help="apply migrations (default: to the newest)")
    up.add_argument("revision", nargs="?", default="heads")
    up.set_defaults(func=_upgrade)
    cur = dsub.add_parser("current", help="print the applied revision")
    cur.set_defaults(func=_current)


def _upgrade(args: argparse.Namespace) -> int:
    settings, _ = context()
    migrate.upgrade(settings.DATABASE_URL, args.revision)
    console.print(f"database at revision {migrate.current(settings.DATABASE_URL)}")
    return 0


def _current(args: argparse.Namespace) -> int:
    settings, _ = context()
    console.print(migrate.current(settings.DATABASE_URL) or "empty (run `signals db upgrade`)")
    return 0
