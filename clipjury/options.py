"""What a policy answers for one action a user may be offered: allowed, or refused with the very error the
service raises when it is tried anyway (so a page's reason and the API's refusal cannot differ)."""

from __future__ import annotations

from dataclasses import dataclass

from clipjury.errors import DomainError


@dataclass(frozen=True)
class Option:
    refusal: DomainError | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def code(self) -> str:
        return self.refusal.code if self.refusal else ""

    @property
    def message(self) -> str:
        return self.refusal.message if self.refusal else ""

    def ensure(self) -> None:
        if self.refusal is not None:
            raise self.refusal


ALLOWED = Option()
