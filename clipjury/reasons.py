"""The one rule for a required reason (disqualifying, unlocking a judge, adjusting an award, "not a
duplicate", an organising-award decision): blank is refused, so is one over the limit; what is kept is the
text without its surrounding blanks. The review decisions keep their own wording (the submitter reads it)
in ``reviews.service``, with the same codes."""

from __future__ import annotations

from clipjury.errors import Invalid

REASON_MAX = 2000


class ReasonRequired(Invalid):
    code = "reason_required"
    message = "请填写理由。"


class ReasonTooLong(Invalid):
    code = "reason_too_long"
    message = f"理由不能超过 {REASON_MAX} 个字。"


def required_reason(reason: str | None, *, what: str = "理由", max_chars: int = REASON_MAX) -> str:
    """The reason as kept; ``what`` names it in the refusal ("请填写决定理由。")."""
    text = (reason or "").strip().strip("\ufeff").strip()  # a byte-order mark alone is blank too
    if not text:
        raise ReasonRequired(f"请填写{what}。")
    if len(text) > max_chars:
        raise ReasonTooLong(f"{what}不能超过 {max_chars} 个字。")
    return text
