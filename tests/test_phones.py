"""Phone verification against the real Redis: normalisation, the code lifecycle, the limits per number,
address and network, Redis down, the dev outbox and the webhook sender (a real local HTTP relay), and
numbers at rest (AES-GCM, HMAC)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from clipjury.phones import codes, crypto, senders
from clipjury.phones.codes import BadCode, CodesUnavailable, Purpose
from clipjury.phones.limits import network_of
from clipjury.phones.numbers import BadPhone, ForeignPhone, LandlinePhone, mask, normalise_mobile
from clipjury.settings import get_settings
from tests.conftest import free_port, run_jobs

E164 = "+8613800138000"
OTHER = "+8613900139000"
RELAY_TOKEN = "relay-token-for-the-test-suite"


@pytest.fixture()
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(), client=("203.0.113.5", 50000)) as client:
        yield client


def ask(client: TestClient, phone: str, purpose: str = "register") -> Any:
    return client.post("/api/v1/public/codes", json={"phone": phone, "purpose": purpose})


def outbox(client: TestClient, phone: str = E164) -> list[dict[str, Any]]:
    response = client.get("/api/v1/dev/sms-outbox", params={"phone": phone})
    assert response.status_code == 200, response.text
    return list(response.json())


# -- numbers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("written", [
    "13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "+86-138-0013-8000", "+8613800138000",
    "0086 138 0013 8000", "0086-13800138000", "8613800138000", "86 138 0013 8000", "(+86) 138 0013 8000",
    "１３８００１３８０００", "１３８ ００１３ ８０００",
    "＋８６ １３８ ００１３ ８０００", "００８６１３８００１３８０００",
    " 13800138000 ",
])
def test_every_way_of_writing_a_mobile_number_is_one_number(written: str) -> None:
    assert normalise_mobile(written) == E164


@pytest.mark.parametrize(("written", "error"), [
    ("010-12345678", LandlinePhone),  # Beijing
    ("0311-8765 4321", LandlinePhone),  # Shijiazhuang
    ("+86 10 1234 5678", LandlinePhone),
    ("+1 650 253 0000", ForeignPhone),
    ("+852 9123 4567", ForeignPhone),  # Hong Kong: not mainland
    ("+44 7911 123456", ForeignPhone),
    ("12345", BadPhone),
    ("1380013800", BadPhone),  # ten digits
    ("138001380001", BadPhone),  # twelve
    ("10000000000", BadPhone),  # no such prefix
    ("1380013800x", BadPhone),
    ("abc", BadPhone),
    ("", BadPhone),
    ("1" * 60, BadPhone),
])
def test_landline_foreign_and_invalid_numbers_are_refused(written: str, error: type[BadPhone]) -> None:
    with pytest.raises(BadPhone) as refused:
        normalise_mobile(written)
    assert type(refused.value) is error, refused.value
    assert refused.value.code == "bad_phone" and refused.value.status_code == 422


def test_masked_numbers() -> None:
    assert mask(E164) == "138****8000"


def test_refused_numbers_answer_422_bad_phone_in_chinese(app_client: TestClient) -> None:
    for phone, words in (("010-12345678", "固定电话"), ("+1 650 253 0000", "中国大陆"), ("12345", "11 位")):
        response = ask(app_client, phone)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "bad_phone" and words in response.json()["detail"], response.text
    unknown = ask(app_client, E164, "delete-account")
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid"
    assert outbox(app_client) == []


def test_a_large_body_is_refused_before_it_is_read(app_client: TestClient) -> None:
    body = json.dumps({"phone": "1" * 10_000, "purpose": "register"}).encode()
    response = app_client.post("/api/v1/public/codes", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"phone": "'
        for _ in range(10):
            yield b"1" * 1000
        yield b'", "purpose": "register"}'

    response = app_client.post("/api/v1/public/codes", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


# -- the code lifecycle ----------------------------------------------------------------------------

def test_a_code_is_sent_verified_once_and_then_gone(app_client: TestClient) -> None:
    response = ask(app_client, "138 0013 8000")
    assert response.status_code == 202, response.text
    assert response.json() == {"expires_in_s": 300, "resend_after_s": 60}
    [sms] = outbox(app_client, "０086 138-0013-8000")
    assert sms["phone"] == E164 and sms["purpose"] == "register" and sms["sent_at"].endswith("Z")
    assert len(sms["code"]) == 6 and sms["code"].isdigit() and sms["code"] in sms["text"]
    # Another purpose's code is another code.
    with pytest.raises(BadCode):
        codes.verify(E164, Purpose.login, sms["code"])
    assert codes.verify("13800138000", "register", sms["code"]) == E164
    with pytest.raises(BadCode, match="已失效"):
        codes.verify(E164, Purpose.register, sms["code"])


def test_a_code_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "otp_ttl_s", 1)
    issued = codes.issue(E164, Purpose.reset)
    time.sleep(2.1)
    with pytest.raises(BadCode, match="已失效"):
        codes.verify(E164, Purpose.reset, issued.code)


def test_five_wrong_tries_end_the_code() -> None:
    issued = codes.issue(E164, Purpose.login)
    wrong = f"{(int(issued.code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        with pytest.raises(BadCode) as refused:
            codes.verify(E164, Purpose.login, wrong)
        assert refused.value.extra["attempts_left"] == left
    with pytest.raises(BadCode, match="次数过多") as refused:
        codes.verify(E164, Purpose.login, wrong)
    assert refused.value.extra["attempts_left"] == 0
    with pytest.raises(BadCode, match="已失效"):
        codes.verify(E164, Purpose.login, issued.code)


def test_a_malformed_code_costs_no_try() -> None:
    issued = codes.issue(E164, Purpose.vote)
    for malformed in ("12345", "1234567", "abcdef", ""):
        with pytest.raises(BadCode, match="6 位数字"):
            codes.verify(E164, Purpose.vote, malformed)
    full_width = issued.code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert codes.verify(E164, Purpose.vote, full_width) == E164


def test_two_verifications_at_once_cannot_both_win() -> None:
    issued = codes.issue(E164, Purpose.register)
    barrier = threading.Barrier(8)
    wins: list[str] = []
    losses: list[BadCode] = []

    def attempt() -> None:
        barrier.wait()
        try:
            wins.append(codes.verify(E164, Purpose.register, issued.code))
        except BadCode as exc:
            losses.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1 and len(losses) == 7


def test_the_resend_cooldown(app_client: TestClient) -> None:
    assert ask(app_client, E164).status_code == 202
    again = ask(app_client, E164)
    assert again.status_code == 429, again.text
    body = again.json()
    assert body["code"] == "too_many" and 55 <= body["retry_after_s"] <= 60
    assert again.headers["Retry-After"] == str(body["retry_after_s"])
    assert len(outbox(app_client)) == 1  # nothing sent, and the first code still holds
    assert codes.verify(E164, Purpose.register, outbox(app_client)[0]["code"]) == E164


# -- limits ----------------------------------------------------------------------------------------

def test_per_number_limits_hold_across_purposes(app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().otp_limits_per_number == "1/minute;5/hour;10/day"
    monkeypatch.setattr(get_settings(), "otp_resend_cooldown_s", 0)
    assert ask(app_client, E164, "register").status_code == 202
    refused = ask(app_client, E164, "login")  # no cooldown for this purpose, but 1 a minute per number
    assert refused.status_code == 429 and refused.json()["code"] == "too_many"
    assert "该手机号码" in refused.json()["detail"] and 1 <= refused.json()["retry_after_s"] <= 60
    assert ask(app_client, OTHER, "login").status_code == 202  # another number is not held up

    monkeypatch.setattr(get_settings(), "otp_limits_per_number", "3/hour")  # a window of its own, counted anew
    for _ in range(3):
        assert ask(app_client, OTHER, "vote").status_code == 202
    refused = ask(app_client, OTHER, "vote")
    assert refused.status_code == 429 and refused.json()["retry_after_s"] > 3000


def _numbers(count: int) -> list[str]:
    return [f"+86139{i:08d}" for i in range(count)]


def test_per_address_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "otp_limits_per_address", "2/hour")
    app = create_app()
    first, neighbour = TestClient(app, client=("203.0.113.5", 1)), TestClient(app, client=("203.0.113.6", 1))
    one, two, three, four = _numbers(4)
    assert ask(first, one).status_code == 202
    assert ask(first, two).status_code == 202
    refused = ask(first, three)
    assert refused.status_code == 429 and "网络地址" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 3000
    # The same network from another address, and the refused number itself from there: a refusal for the
    # address took nothing from the number.
    assert ask(neighbour, three).status_code == 202
    assert ask(neighbour, four).status_code == 202


def test_per_network_limit_ipv4_and_ipv6(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "otp_limits_per_network", "2/hour")
    app = create_app()
    numbers = iter(_numbers(10))
    for same, other in ((("203.0.113.5", "203.0.113.77", "203.0.113.200"), "198.51.100.1"),
                        (("2001:db8::1", "2001:db8::ffff:1", "2001:db8::2"), "2001:db8:0:1::1")):
        assert ask(TestClient(app, client=(same[0], 1)), next(numbers)).status_code == 202
        assert ask(TestClient(app, client=(same[1], 1)), next(numbers)).status_code == 202
        refused = ask(TestClient(app, client=(same[2], 1)), next(numbers))
        assert refused.status_code == 429 and "所在的网络" in refused.json()["detail"], refused.text
        assert ask(TestClient(app, client=(other, 1)), next(numbers)).status_code == 202
    assert network_of("203.0.113.5") == "203.0.113.0/24" == network_of("::ffff:203.0.113.9")
    assert network_of("2001:db8::1") == "2001:db8::/64"


def test_the_development_defaults_allow_a_rehearsal_of_a_hundred_phones(app_client: TestClient) -> None:
    for phone in _numbers(100):
        assert ask(app_client, phone).status_code == 202
    assert len(outbox(app_client, _numbers(1)[0])) == 1


def test_redis_down_fails_closed(app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    response = ask(app_client, E164)
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "service_unavailable"
    assert app_client.get("/api/v1/dev/sms-outbox").status_code == 503
    with pytest.raises(CodesUnavailable):
        codes.verify(E164, Purpose.register, "123456")
    # Past the cooldown check, the limits themselves.
    from clipjury.phones import limits

    with pytest.raises(CodesUnavailable):
        limits.check_and_count("0" * 64, "203.0.113.5")


# -- senders ---------------------------------------------------------------------------------------

def test_the_outbox_is_newest_first_and_filtered_by_number(app_client: TestClient) -> None:
    assert ask(app_client, E164, "register").status_code == 202
    assert ask(app_client, OTHER, "login").status_code == 202
    everything = app_client.get("/api/v1/dev/sms-outbox").json()
    assert [entry["phone"] for entry in everything] == [OTHER, E164]
    assert [entry["purpose"] for entry in outbox(app_client, "139 0013 9000")] == ["login"]
    bad = app_client.get("/api/v1/dev/sms-outbox", params={"phone": "010-12345678"})
    assert bad.status_code == 422 and bad.json()["code"] == "bad_phone"


@dataclass
class Relay:
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)
    url: str = ""


@pytest.fixture()
def relay() -> Iterator[Relay]:
    state = Relay()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.replies.pop(0) if state.replies else 200
            if status == 200:
                state.received.append((dict(self.headers.items()), json.loads(body)))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/sms/send"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def use_webhook(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "sms_sender", "webhook")
    monkeypatch.setattr(settings, "sms_webhook_url", url)
    monkeypatch.setattr(settings, "sms_webhook_token", SecretStr(RELAY_TOKEN))


def test_no_dev_outbox_under_the_webhook_sender(monkeypatch: pytest.MonkeyPatch, relay: Relay) -> None:
    use_webhook(monkeypatch, relay.url)
    with TestClient(create_app()) as client:
        response = client.get("/api/v1/dev/sms-outbox", params={"phone": E164})
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_the_webhook_sender_posts_from_a_job_that_carries_no_number(
    monkeypatch: pytest.MonkeyPatch, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    from clipjury.jobs import NOTIFY, get_queue

    caplog.set_level("DEBUG")
    use_webhook(monkeypatch, relay.url)
    with TestClient(create_app(), client=("203.0.113.5", 1)) as client:
        assert ask(client, "138 0013 8000", "reset").status_code == 202
    [job] = get_queue(NOTIFY).get_jobs()
    assert len(job.args) == 1 and "138" not in str(job.args) and "138" not in (job.description or "")
    relay.replies = [503]  # the relay is down at first: the job fails and is retried
    run_jobs()
    assert relay.received == []
    [message_id] = job.args
    assert senders.deliver_queued(message_id) is True
    [(headers, payload)] = relay.received
    assert headers["Authorization"] == f"Bearer {RELAY_TOKEN}"
    assert headers["Idempotency-Key"] == f"clipjury-otp-{message_id}"
    assert payload["phone"] == E164 and payload["purpose"] == "reset" and payload["kind"] == "verification_code"
    assert payload["code"] in payload["text"] and "重置密码" in payload["text"]
    assert codes.verify(E164, Purpose.reset, payload["code"]) == E164
    # Sent once: a repeated job finds nothing left to send.
    assert senders.deliver_queued(message_id) is False
    assert len(relay.received) == 1
    assert "13800138000" not in caplog.text and "138****8000" in caplog.text


def test_a_code_for_a_relay_that_refuses_it_is_dropped(monkeypatch: pytest.MonkeyPatch, relay: Relay) -> None:
    use_webhook(monkeypatch, relay.url)
    with TestClient(create_app(), client=("203.0.113.5", 1)) as client:
        assert ask(client, E164).status_code == 202
    relay.replies = [400]
    run_jobs()
    assert relay.received == [] and run_jobs() == 0


# -- numbers at rest -------------------------------------------------------------------------------

def test_encrypted_numbers_round_trip_and_resist_tampering(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = crypto.encrypt(E164), crypto.encrypt(E164)
    assert first != second and E164 not in first and "13800138000" not in first
    assert crypto.decrypt(first) == crypto.decrypt(second) == E164
    version, body = first.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{version}.{flipped}", "v2." + body, "v1.", "v1.@@@", "plain"):
        with pytest.raises(crypto.PhoneDecryptError):
            crypto.decrypt(bad)
    monkeypatch.setattr(get_settings(), "phone_key", SecretStr("another-phone-key-of-at-least-32-chars"))
    with pytest.raises(crypto.PhoneDecryptError):
        crypto.decrypt(first)


def test_the_lookup_hmac_is_one_per_number_and_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = crypto.lookup_hmac("138 0013 8000")
    assert digest == crypto.lookup_hmac("＋８６１３８００１３８０００") == crypto.lookup_hmac(E164)
    assert len(digest) == 64 and digest != crypto.lookup_hmac(OTHER)
    monkeypatch.setattr(get_settings(), "phone_hmac_key", SecretStr("another-lookup-key-of-at-least-32-chars"))
    assert crypto.lookup_hmac(E164) != digest
    with pytest.raises(BadPhone):
        crypto.lookup_hmac("010-12345678")


def test_no_number_is_written_to_redis_in_clear_by_the_codes_and_limits(app_client: TestClient) -> None:
    from clipjury.jobs import get_redis

    assert ask(app_client, E164).status_code == 202
    redis = get_redis()
    keys = [key for key in redis.keys("*") if isinstance(key, bytes)]
    assert any(b"otp:code" in key for key in keys) and any(b"otp-limits" in key for key in keys)
    for key in keys:
        if key.endswith(b"sms-outbox"):
            continue  # the dev sender's outbox shows numbers on purpose (development only)
        assert b"13800138000" not in key
        kind = redis.type(key)
        value = redis.hgetall(key) if kind == b"hash" else redis.get(key) if kind == b"string" else b""
        assert b"13800138000" not in repr(value).encode(), key
    assert get_settings().sms_sender == "dev"


# -- provinces -------------------------------------------------------------------------------------

def test_provinces_are_public(app_client: TestClient, demo: dict[str, int]) -> None:
    response = app_client.get("/api/v1/provinces")
    assert response.status_code == 200
    assert response.json() == [{"code": "hebei", "name": "河北省"}, {"code": "shanxi", "name": "山西省"}]


# -- no number in a log line ------------------------------------------------------------------------------

def test_log_lines_never_carry_a_phone_number(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from clipjury.phones.logmask import MaskPhones, install, masked

    # uvicorn's access line, with the dev outbox's query in every spelling a client may send.
    for query in ("phone=13800138000", "phone=%2B86%20138%200013%208000", "phone=138-0013-8000&x=1"):
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                                   ("127.0.0.1:5000", "GET", f"/api/v1/dev/sms-outbox?{query}", "1.1", 200), None)
        assert MaskPhones().filter(record)
        line = record.getMessage()
        assert "/api/v1/dev/sms-outbox?phone=***" in line and "0013" not in line and "8000" not in line, line
    # A number written into a message anywhere is masked; other digits are left alone.
    assert masked("sent to +86 138 0013 8000 and 13912345678") == "sent to 138****8000 and 139****5678"
    assert masked("work 12345678901 took 19 s, id 2026120512") == "work 12345678901 took 19 s, id 2026120512"
    # Installed once on the access logger and the handlers, however often it is called.
    install()
    install()
    access = logging.getLogger("uvicorn.access")
    assert sum(isinstance(f, MaskPhones) for f in access.filters) == 1
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/api/v1/dev/sms-outbox?phone=13800138000",
                    "1.1", 200)
    assert "13800138000" not in caplog.text and "phone=***" in caplog.text
    # uvicorn's own access formatter unpacks the five arguments: they keep their shape.
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/api/v1/dev/sms-outbox?phone=13800138000", "1.1", 200),
                               None)
    assert MaskPhones().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == '127.0.0.1:5000 - "GET /api/v1/dev/sms-outbox?phone=*** HTTP/1.1" 200 OK', line
