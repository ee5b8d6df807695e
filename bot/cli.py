"""The ``caucusbot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, environment, read_database_url, read_settings
from bot.i18n import LANGUAGES
from bot.logs import configure_logging
from bot.maintenance import COMMANDS as MAINTENANCE_COMMANDS
from bot.maintenance import MISSING_KEY_HINT, add_commands, read_key_ring, run_command
from storage.errors import UnknownMasterKeyError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caucusbot", description="Caucus: confidential mediation over Telegram.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (polling)")
    commands.add_parser("webhook", help="run the bot behind a webhook (CAUCUS_WEBHOOK_URL, CAUCUS_WEBHOOK_SECRET)")
    demo = commands.add_parser("demo", help="run a scripted mediation against a local Bot API stand-in")
    demo.add_argument("--language", default="en", choices=sorted(LANGUAGES), help="the parties' language")
    demo.add_argument("--save", type=Path, metavar="DIR", help="save the chart and the report the mediator receives")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the schema migrations")
    add_commands(commands)  # keys generate|status|rotate, backup, restore
    purge = commands.add_parser("purge", help="erase cases and grievances closed longer ago than "
                                              "CAUCUS_RETENTION_DAYS (the bot also does it daily)")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be erased")
    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="recompute the audit trail's hash chain and print its head")
    status = commands.add_parser("status", help="a case's progress (never content)")
    status.add_argument("case_id", help="the case's short id")
    report = commands.add_parser("report", help="write a case's joint-session report (HTML) for its mediators")
    report.add_argument("case_id", help="the case's short id")
    report.add_argument("--output", type=Path, help="where to write it (default: caucus-<id>-report.html here)")
    report.add_argument("--language", default="en", choices=sorted(LANGUAGES), help="the report's language")
    export = commands.add_parser("export", help="export data for the teams that use it")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    grievances = export_commands.add_parser(
        "grievances", help="write grievances.csv and grievances.html (no identifying data of anonymous submitters)")
    grievances.add_argument("--output", type=Path, default=Path(), help="the folder to write into (default: here)")
    grievances.add_argument("--language", default="en", choices=sorted(LANGUAGES), help="the HTML report's language")
    return parser


async def _run(*, webhook: bool = False) -> int:
    from bot.application import CaucusBot, StartupError  # noqa: PLC0415 - keep `keys generate` fast

    settings = read_settings(need_webhook=webhook)
    bot = CaucusBot(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await bot.start()
    except StartupError as error:
        await bot.stop()
        print(f"caucusbot: {error}", file=sys.stderr)
        return 2
    except UnknownMasterKeyError as error:  # the database needs a master key that is not configured
        await bot.stop()
        print(f"caucusbot: {error}: {MISSING_KEY_HINT}", file=sys.stderr)
        return 2
    # What start-up loaded (modules, tables, catalogs, fonts) lives as long as the process: out of the collector's
    # way, so that its full collections, which a busy bot runs every few seconds, walk only what updates made.
    gc.collect()
    gc.freeze()
    await stop.wait()
    await bot.stop()
    return 0


def _status(case_id: str) -> int:
    from bot.status import print_status  # noqa: PLC0415

    settings = read_settings(need_token=False)
    return asyncio.run(print_status(settings, case_id))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The demo prints its own transcript; only problems should interrupt it.
    configure_logging(logging.WARNING if args.command == "demo" else logging.INFO)
    try:
        if args.command in MAINTENANCE_COMMANDS:
            return run_command(args, environment(None))
        if args.command == "db":
            from storage.migrate import upgrade  # noqa: PLC0415

            upgrade(read_database_url(environment(None)))
            print("database is up to date")
            return 0
        if args.command == "demo":
            from bot.demo import run_demo  # noqa: PLC0415

            return asyncio.run(run_demo(language=args.language, save=args.save))
        if args.command == "status":
            return _status(args.case_id)
        if args.command in {"purge", "audit"}:
            from bot import status as operator  # noqa: PLC0415

            settings = read_settings(need_token=False)
            if args.command == "purge":
                return asyncio.run(operator.purge(settings, dry_run=args.dry_run))
            return asyncio.run(operator.verify_audit(settings))
        if args.command == "report":
            from bot.status import write_report  # noqa: PLC0415

            env = environment(None)
            return asyncio.run(write_report(read_database_url(env), read_key_ring(env), args.case_id,
                                            args.output, args.language))
        if args.command == "export":
            from bot.status import export_grievances  # noqa: PLC0415

            env = environment(None)
            return export_grievances(read_database_url(env), read_key_ring(env), args.output, args.language)
        return asyncio.run(_run(webhook=args.command == "webhook"))
    except ConfigError as error:
        print(f"caucusbot: {error}", file=sys.stderr)
        return 2
    except UnknownMasterKeyError as error:
        print(f"caucusbot: {error}: {MISSING_KEY_HINT}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
