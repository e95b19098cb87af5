"""Request parameters that several routes share, declared once so the OpenAPI document states them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# PostgreSQL can neither store nor compare text holding NUL (it raised DataError, answered as a misleading
# ``out_of_range``), while SQLite took it: text bound for the database refuses it up front, on both.
NO_NUL = r"^[^\x00]*$"

TextQuery = Annotated[str | None, Query(pattern=NO_NUL)]
ProvinceQuery = Annotated[str | None, Query(max_length=32, pattern=NO_NUL)]
SearchQuery = Annotated[str | None, Query(max_length=100, pattern=NO_NUL)]
