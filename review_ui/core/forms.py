"""What every page form does: read the posted form, run the state change, roll back and explain a
refusal as a flash message, and answer with a redirect (303, so the browser follows with a GET)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.datastructures import FormData

from clipjury.errors import DomainError
from review_ui.core.flash import flash

# Longest accepted reason for a decision, and rank field, before the domain reads them.
REASON_FIELD_MAX = 10000
RANK_FIELD_MAX = 16

# A decision's reason, and the work's revision the page showed (a decision on a stale page is refused).
ReasonField = Annotated[str, Form(max_length=REASON_FIELD_MAX)]
ExpectedRevField = Annotated[int | None, Form()]


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def form_data(request: Request) -> FormData:
    """The whole posted form, for forms with fields named per row (rank_<id>, …). Starlette's own limits
    on fields and files apply; it was already parsed (and cached) by PageRoute's CSRF check."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


def form_action(
    request: Request,
    session: Session,
    action: Callable[[], object],
    done: str | None = None,
    *,
    not_found_is_page: bool = True,
) -> bool:
    """Run a state change from a form; flash ``done`` (or the message ``action`` returns) on success.

    A refusal becomes a Chinese flash message and nothing of the action is kept (the request boundary
    would otherwise commit what the service had already flushed). With ``not_found_is_page`` a 404 (a
    work outside the caller's scope) stays the 404 page instead. Returns whether the action ran."""
    try:
        result = action()
    except DomainError as exc:
        if not_found_is_page and exc.status_code == 404:
            raise
        session.rollback()
        flash(request, exc.message, "error")
        return False
    flash(request, done if done is not None else str(result))
    return True
