"""The one pager of the long lists (the review queue, the national review, the audit log)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from clipjury.numbers import ascii_digits


def int_or_none(value: str) -> int | None:
    value = value.strip()
    return int(value) if ascii_digits(value) and len(value) < 12 else None


def page_number(value: str) -> int:
    """A page number from a query string; anything that is not one is the first page."""
    number = int_or_none(value)
    return number if number and number > 0 else 1


@dataclass
class Pager:
    page: int
    pages: int
    total: int
    size: int
    base: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def url(self, number: int) -> str:
        query = urlencode({k: v for k, v in {**self.params, "page": str(number)}.items() if v})
        return f"{self.base}?{query}"

    @property
    def links(self) -> list[tuple[int | None, str]]:
        """(page number or None for a gap, url): the first, the last and two either side of this one."""
        wanted = sorted({1, self.pages, *range(max(1, self.page - 2), min(self.pages, self.page + 2) + 1)})
        links: list[tuple[int | None, str]] = []
        previous = 0
        for number in wanted:
            if number - previous > 1:
                links.append((None, ""))
            links.append((number, self.url(number)))
            previous = number
        return links

    @property
    def prev_url(self) -> str:
        return self.url(self.page - 1) if self.page > 1 else ""

    @property
    def next_url(self) -> str:
        return self.url(self.page + 1) if self.page < self.pages else ""

    @property
    def here(self) -> str:
        """This page's own address (where a form on it comes back to); the bare base on an unfiltered first page."""
        shown = any(v for v in self.params.values()) or self.page > 1
        return self.url(self.page) if shown else self.base


def pager(total: int, page: int, size: int, base: str, params: dict[str, str]) -> Pager:
    pages = max(1, -(-total // size))
    return Pager(page=min(page, pages), pages=pages, total=total, size=size, base=base, params=params)
