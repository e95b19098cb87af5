"""Development-only routes, included only while ``CLIPJURY_SMS_SENDER=dev`` (which production refuses):
the SMS the dev sender did not send, so a rehearsal can read its codes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.params import NO_NUL
from api.problems import REDIS_ERRORS, VALIDATION_ERRORS, problem_responses
from clipjury.phones import senders
from clipjury.phones.codes import CodesUnavailable
from clipjury.phones.numbers import MAX_INPUT_CHARS, BadPhone

router = APIRouter(prefix="/api/v1/dev", tags=["dev"])


class OutboxEntry(BaseModel):
    phone: str
    text: str
    code: str
    purpose: str
    sent_at: datetime


@router.get("/sms-outbox", response_model=list[OutboxEntry], responses=problem_responses(
    *VALIDATION_ERRORS, *REDIS_ERRORS, BadPhone, CodesUnavailable,
))
def sms_outbox(
    phone: Annotated[str | None, Query(min_length=1, max_length=MAX_INPUT_CHARS, pattern=NO_NUL)] = None,
) -> list[OutboxEntry]:
    """What the dev SMS sender kept, newest first; only this number's when `phone` is given (any form)."""
    return [OutboxEntry.model_validate(entry) for entry in senders.outbox(phone)]
