"""``clipjury cleanup-uploads``: expire abandoned uploads and free their parts and objects."""

from __future__ import annotations

import argparse

from clipjury.db import session_scope
from clipjury.timeutil import utcnow
from clipjury.uploads.expiry import cleanup_expired_uploads


def cmd_cleanup_uploads(_args: argparse.Namespace) -> int:
    with session_scope() as session:
        count = cleanup_expired_uploads(session, utcnow())
    print(f"expired {count} abandoned upload(s)")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subparsers.add_parser(
        "cleanup-uploads", help="expire abandoned uploads and free their storage (the workers also do this)"
    ).set_defaults(func=cmd_cleanup_uploads)
