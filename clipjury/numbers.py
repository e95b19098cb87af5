"""Numbers typed by people or sent in headers and forms: ASCII digits only.

``str.isdigit`` also accepts '²' (which ``int`` then refuses) and '٣' (which ``int`` reads as 3, a number
nobody typed); header bytes arrive decoded as latin-1, so such characters do reach us.
"""

from __future__ import annotations

from clipjury.db import DB_ID_MAX


def ascii_digits(text: str) -> bool:
    """Only ``[0-9]+``."""
    return text.isascii() and text.isdigit()


def db_id(text: str) -> int | None:
    """An id as a page or a client wrote it: ASCII digits within what the database holds, else None."""
    if not ascii_digits(text) or len(text) > len(str(DB_ID_MAX)):
        return None
    value = int(text)
    return value if 1 <= value <= DB_ID_MAX else None
