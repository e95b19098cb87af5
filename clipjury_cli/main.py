"""The ``clipjury`` command line (console script ``clipjury``, or ``python -m clipjury_cli``).

The commands import what they run when they run, so ``clipjury migrate`` does not load the web app or
the worker; the domains' own commands (``register``) are listed here, not discovered.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from pydantic import ValidationError

import clipjury.accounts.commands
import clipjury.devservices
import clipjury.integrity.commands
import clipjury.uploads.commands
import workers.commands
import workers.showcase_commands
from clipjury.phones import logmask
from clipjury.settings import get_settings

Command = Callable[[argparse.Namespace], int]


def cmd_migrate(_args: argparse.Namespace) -> int:
    from clipjury.migrate import upgrade

    upgrade()
    print("database migrated to head")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from clipjury.db import session_scope
    from clipjury.seed import SeedRefused, seed_demo

    try:
        with session_scope() as session:
            campaign = seed_demo(session)
            print(f"demo campaign ready: {campaign.name} (id {campaign.id}); demo accounts use password 'demo'")
        if args.works:
            from clipjury_cli.demo import DemoError, describe, seed_demo_works

            try:
                report = seed_demo_works(args.works)
            except DemoError as exc:
                print(f"seed-demo: {exc}", file=sys.stderr)
                return 1
            print(describe(report))
    except SeedRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    host = args.host or settings.host
    try:
        settings.check_listen_address(host)
    except ValueError as exc:
        print(f"clipjury serve: refusing to start: {exc}", file=sys.stderr)
        return 2
    trusted = settings.trusted_proxy_list
    # Proxy headers only from the configured proxies: uvicorn's own default trusts 127.0.0.1, which
    # would let anything on this host (or a proxy that passes headers through) choose the client address.
    uvicorn.run(
        "api.app:create_app", factory=True, host=host, port=args.port or settings.port,
        workers=args.workers, proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None,
        log_level=settings.log_level.lower(),
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.worker import run_worker

    return run_worker(burst=args.burst, name=args.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clipjury", description="clipjury: micro-video contests")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed-demo", help="create the demo campaign and accounts (not in production)")
    seed.add_argument(
        "--works", type=int, default=0, metavar="N",
        help="also make N demo works with generated videos, walked through every state (idempotent)",
    )
    seed.set_defaults(func=cmd_seed_demo)
    serve = sub.add_parser("serve", help="serve the API and the web UI")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a media worker (validation, posters, renditions, sweeps)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument("--name")
    worker.set_defaults(func=cmd_worker)

    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    """Commands that live with their domain, each module's ``register``."""
    return [
        workers.commands.register, clipjury.uploads.commands.register, clipjury.accounts.commands.register,
        clipjury.devservices.register, workers.showcase_commands.register,
        clipjury.integrity.commands.register,
    ]


def main(argv: list[str] | None = None) -> int:
    try:
        settings = get_settings()
    except ValidationError as exc:
        # An operator reads this on start-up: the settings' own words, not a traceback.
        problems = "; ".join(
            (f"CLIPJURY_{str(error['loc'][0]).upper()}: " if error["loc"] else "")
            + str(error["msg"]).removeprefix("Value error, ")
            for error in exc.errors()
        )
        print(f"clipjury: refusing to start: {problems}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logmask.install()
    args = build_parser().parse_args(argv)
    func: Command = args.func
    return func(args)
