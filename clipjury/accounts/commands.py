"""Account commands for operators, until the admin pages exist: ``clipjury deactivate``,
``clipjury set-password`` and ``clipjury sign-out``, each ending every session and token of the account;
and ``clipjury create-admin``, the only way to make a national admin."""

from __future__ import annotations

import argparse
import getpass
import sys

from clipjury.accounts.admin import create_national_admin, deactivate
from clipjury.accounts.service import change_password, user_by_username
from clipjury.accounts.sessions import end_all_sessions
from clipjury.db import session_scope
from clipjury.errors import DomainError


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        # One line; the newline a pipe or `echo` adds is not part of the password.
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_set_password(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args)
        with session_scope() as session:
            change_password(session, user_by_username(session, args.username), password)
    except (DomainError, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"password of {args.username} changed; every session and API token of the account has ended")
    return 0


def cmd_deactivate(args: argparse.Namespace) -> int:
    try:
        with session_scope() as session:
            # The same rule as the admin pages: never the last active national admin.
            changed = deactivate(session, None, user_by_username(session, args.username))
    except DomainError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    state = "deactivated" if changed else "was already inactive"
    print(f"{args.username} {state}; every session and API token of the account has ended")
    return 0


def cmd_sign_out(args: argparse.Namespace) -> int:
    try:
        with session_scope() as session:
            end_all_sessions(session, user_by_username(session, args.username))
    except DomainError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"every session and API token of {args.username} has ended")
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args)
        with session_scope() as session:
            user = create_national_admin(
                session, username=args.username, display_name=args.display_name or "", password=password
            )
            user_id = user.id
    except (DomainError, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"national admin {args.username} created (id {user_id}); the audit log records it")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deactivate = subparsers.add_parser(
        "deactivate", help="deactivate an account: it can no longer log in, its sessions and tokens end at once"
    )
    deactivate.add_argument("username")
    deactivate.set_defaults(func=cmd_deactivate)

    set_password = subparsers.add_parser(
        "set-password", help="set an account's password (prompted, or one line on stdin); ends its sessions"
    )
    set_password.add_argument("username")
    set_password.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    set_password.set_defaults(func=cmd_set_password)

    create_admin = subparsers.add_parser(
        "create-admin",
        help="create a national admin (password prompted, or one line on stdin): at least 12 characters of two "
             "kinds, not the username, not a common password",
    )
    create_admin.add_argument("username")
    create_admin.add_argument("--display-name", help="the name shown to others (default: the username)")
    create_admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create_admin.set_defaults(func=cmd_create_admin)

    sign_out = subparsers.add_parser("sign-out", help="end every session and API token of an account")
    sign_out.add_argument("username")
    sign_out.set_defaults(func=cmd_sign_out)
