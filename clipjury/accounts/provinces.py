"""The provinces (and, later, central departments) anyone may list: registration offers them."""

from __future__ import annotations

from sqlmodel import Session, col, select

from clipjury.accounts.models import Province


def list_provinces(session: Session) -> list[Province]:
    # The table has no order of its own: ids are the order they were set up in (the seed's, an import's).
    return list(session.exec(select(Province).order_by(col(Province.id))))
