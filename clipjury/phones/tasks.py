"""The job that hands a code's SMS to the relay; its only argument is an opaque id (no number)."""

from __future__ import annotations

from clipjury.phones.senders import deliver_queued


def send_code_sms(message_id: str) -> None:
    deliver_queued(message_id)
