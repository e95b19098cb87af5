"""``clipjury showcase-backfill``: ask the workers for the public copy of every recommended work that has
none yet (works recommended before the showcase existed, or whose job was lost), and with
``--retry-failed`` of those whose copy failed. It lives with the workers because ``--now`` runs the worker's
own copy job in this process (the domain may not import the workers)."""

from __future__ import annotations

import argparse

from clipjury.campaigns.service import active_campaign
from clipjury.db import session_scope
from clipjury.showcase.publishing import backfill
from workers.tasks import make_public_copy


def cmd_showcase_backfill(args: argparse.Namespace) -> int:
    with session_scope() as session:
        asked = backfill(session, active_campaign(session), retry_failed=args.retry_failed)
    # The jobs are sent after the commit above; a worker makes the copies.
    print(f"public copies asked for: {len(asked)} work(s) {asked if asked else ''}".rstrip())
    if args.now and asked:
        for work_id in asked:
            print(f"work {work_id}: {make_public_copy(work_id)}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backfill_cmd = subparsers.add_parser(
        "showcase-backfill", help="make the public copies (stripped, faststart) of recommended works lacking one",
    )
    backfill_cmd.add_argument("--retry-failed", action="store_true", help="also retry copies that failed")
    backfill_cmd.add_argument("--now", action="store_true",
                              help="also make them in this process (else a running worker does)")
    backfill_cmd.set_defaults(func=cmd_showcase_backfill)
