"""Operator commands: ``clipjury integrity-backfill`` (fingerprint and screen works stored before the
integrity aids existed, or again with ``--force``) and ``clipjury integrity-switch`` (turn either job on
or off for a campaign, as the national page does)."""

from __future__ import annotations

import argparse
import sys

from sqlmodel import Session, col, select

from clipjury.campaigns.models import Campaign
from clipjury.db import session_scope
from clipjury.integrity.models import IntegritySwitches
from clipjury.integrity.service import version_of
from clipjury.integrity.tasks import reset_and_defer
from clipjury.timeutil import utcnow
from clipjury.works.models import VersionStatus, Work, WorkVersion


def _campaigns(session: Session, slug: str | None) -> list[Campaign]:
    query = select(Campaign)
    if slug:
        query = query.where(Campaign.slug == slug)
    return list(session.exec(query))


def backfill(*, campaign_slug: str | None, force: bool) -> int:
    """Queue both jobs for every work's standing version (submitted, else current) that has no finished
    fingerprint or screening (every one with ``force``); returns how many versions were queued. The jobs
    themselves read the campaign's switches."""
    queued = 0
    with session_scope() as session:
        campaigns = _campaigns(session, campaign_slug)
        if campaign_slug and not campaigns:
            raise LookupError(f"no campaign {campaign_slug!r}")
        for campaign in campaigns:
            works = session.exec(select(Work).where(Work.campaign_id == campaign.id).order_by(col(Work.id)))
            for work in works:
                version_id = version_of(work)
                version = session.get(WorkVersion, version_id) if version_id else None
                if version is None or version.status != VersionStatus.ready or version.purged_at is not None:
                    continue
                if reset_and_defer(session, version, campaign.id or 0, force=force):
                    queued += 1
    return queued


def cmd_backfill(args: argparse.Namespace) -> int:
    try:
        queued = backfill(campaign_slug=args.campaign, force=args.force)
    except LookupError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"queued fingerprint and screening jobs for {queued} version(s); a worker runs them on the "
          f"integrity queue")
    return 0


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


def cmd_switch(args: argparse.Namespace) -> int:
    with session_scope() as session:
        campaigns = _campaigns(session, args.campaign)
        if not campaigns:
            print(f"refused: no campaign {args.campaign!r}", file=sys.stderr)
            return 2
        campaign = campaigns[0]
        row = session.get(IntegritySwitches, campaign.id) or IntegritySwitches(campaign_id=campaign.id or 0)
        fingerprints, screening = _on_off(args.fingerprints), _on_off(args.screening)
        if fingerprints is not None:
            row.fingerprints = fingerprints
        if screening is not None:
            row.screening = screening
        row.updated_at = utcnow()
        row.updated_by_id = None  # an operator at the console, not a national admin's account
        session.add(row)
        print(f"campaign {campaign.slug}: fingerprints {'on' if row.fingerprints else 'off'}, "
              f"screening {'on' if row.screening else 'off'}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("integrity-backfill", help="fingerprint and screen works stored before (or again)")
    parser.add_argument("--campaign", help="a campaign's slug (default: every campaign)")
    parser.add_argument("--force", action="store_true", help="also versions already done (after a rule change)")
    parser.set_defaults(func=cmd_backfill)
    switch = sub.add_parser("integrity-switch", help="turn the fingerprint or screening job on or off")
    switch.add_argument("--campaign", required=True, help="the campaign's slug")
    switch.add_argument("--fingerprints", choices=("on", "off"))
    switch.add_argument("--screening", choices=("on", "off"))
    switch.set_defaults(func=cmd_switch)
