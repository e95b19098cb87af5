"""No phone number in a log line: the access log prints every request's path and query, and the dev outbox's
fixed contract (``GET /api/v1/dev/sms-outbox?phone=P``) puts a number there; a route's own log line could
name one by mistake. The filter rewrites the line before any handler sees it: the value of a ``phone=``
parameter becomes ``***`` and any mainland mobile number left (``13800138000``, ``+86 138 0013 8000``,
``138-0013-8000``) is masked as ``138****8000``."""

from __future__ import annotations

import logging
import re

# A query parameter named phone (any spelling of the number, URL-encoded or not).
_PHONE_PARAM = re.compile(r"(?i)(\bphone=)[^&\s\"']*")
# An 11-digit mainland mobile number, with an optional +86 / 0086 / 86 and spaces or hyphens between groups.
_MOBILE = re.compile(r"(?<![\d])(?:(?:\+|%2B|00)?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?![\d])")



def masked(text: str) -> str:
    text = _PHONE_PARAM.sub(r"\1***", text)
    return _MOBILE.sub(r"\1****\3", text)


class MaskPhones(logging.Filter):
    """Masks numbers in a record's format string and in each of its string arguments. The arguments keep
    their shape: a formatter such as uvicorn's access formatter unpacks them one by one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = masked(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(masked(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: masked(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install() -> None:
    """Adds the filter to the access logger and to every handler the root and uvicorn loggers have (a
    record logged on a child logger meets its ancestors' handlers, not their filters). create_app and the
    worker call it after logging is set up; calling it again adds nothing."""
    targets: list[logging.Filterer] = [logging.getLogger("uvicorn.access")]
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        targets.extend(logging.getLogger(name).handlers)
    for target in targets:
        if not any(isinstance(f, MaskPhones) for f in target.filters):
            target.addFilter(MaskPhones())
