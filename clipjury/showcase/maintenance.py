"""The likes' periodic work, run by every worker's sweep (``workers.sweeps``): the display counts rebuilt
from the database, the counts frozen once the window has closed, and the voters' retention. Each is
idempotent (the freeze's unique version lets one of several workers win), so workers need no lock."""

from __future__ import annotations

from dataclasses import dataclass

from clipjury.campaigns.service import NoActiveCampaign, active_campaign
from clipjury.db import session_scope
from clipjury.showcase import counts, snapshots, voters


@dataclass(frozen=True)
class LikesSweepReport:
    reconciled: int
    frozen_version: int | None


def sweep_likes() -> LikesSweepReport:
    with session_scope() as session:
        try:
            campaign = active_campaign(session)
        except NoActiveCampaign:
            return LikesSweepReport(0, None)
        snapshot = snapshots.freeze_if_due(session, campaign)
    with session_scope() as session:
        reconciled = counts.reconcile(session)
    return LikesSweepReport(reconciled, snapshot.version if snapshot else None)


def sweep_voter_retention() -> voters.RetentionReport:
    with session_scope() as session:
        return voters.sweep_retention(session)
