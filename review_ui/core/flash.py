"""One-shot messages shown on the next page the user sees."""

from __future__ import annotations

from fastapi import Request

FLASH_SESSION_KEY = "flash"


def flash(request: Request, text: str, kind: str = "success") -> None:
    messages = list(request.session.get(FLASH_SESSION_KEY) or [])
    messages.append({"kind": kind, "text": text})
    request.session[FLASH_SESSION_KEY] = messages[-5:]


def pop_flashes(request: Request) -> list[dict[str, str]]:
    messages = request.session.pop(FLASH_SESSION_KEY, None) or []
    return [m for m in messages if isinstance(m, dict)]
