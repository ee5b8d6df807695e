"""The ``caucusbot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, environment, read_database_url, read_master_key, read_settings
from bot.i18n import LANGUAGES
from bot.logs import configure_logging
from storage.crypto import MasterKey

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caucusbot", description="Caucus: confidential mediation over Telegram.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (polling)")
    demo = commands.add_parser("demo", help="run a scripted mediation against a local Bot API stand-in")
    demo.add_argument("--language", default="en", choices=sorted(LANGUAGES), help="the parties' language")
    demo.add_argument("--save", type=Path, metavar="DIR", help="save the chart and the report the mediator receives")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the schema migrations")
    keys = commands.add_parser("keys", help="master keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("generate", help="print a new random master key (base64)")
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


async def _run() -> int:
    from bot.application import CaucusBot, StartupError  # noqa: PLC0415 - keep `keys generate` fast

    settings = read_settings()
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
        if args.command == "keys":
            print(MasterKey.generate().to_base64())
            return 0
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
        if args.command == "report":
            from bot.status import write_report  # noqa: PLC0415

            env = environment(None)
            return asyncio.run(write_report(read_database_url(env), read_master_key(env), args.case_id,
                                            args.output, args.language))
        if args.command == "export":
            from bot.status import export_grievances  # noqa: PLC0415

            env = environment(None)
            return export_grievances(read_database_url(env), read_master_key(env), args.output, args.language)
        return asyncio.run(_run())
    except ConfigError as error:
        print(f"caucusbot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
