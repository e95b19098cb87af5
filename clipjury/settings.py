"""Typed settings, read once from the environment (prefix ``CLIPJURY_``) or a ``.env`` file.

Nothing else in the code base reads the environment: everything asks ``get_settings()``.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Values that ship in the repository for local development; production must replace them.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-before-production"
DEV_S3_ACCESS_KEY = "clipjury-dev"
DEV_S3_SECRET_KEY = "clipjury-dev-secret"
DEV_PHONE_KEY = "dev-only-phone-encryption-key-change-me"
DEV_PHONE_HMAC_KEY = "dev-only-phone-lookup-key-change-me"
# What a job does besides running ffmpeg (download the original, upload the results, record them).
JOB_TIMEOUT_MARGIN_S = 300
# What docs/production/clipjury.env has where each deployment must put its own value.
PLACEHOLDER = "CHANGE-ME"


# The channel names ``notify_channels`` may list. The settings are read before anything else, so they
# name the channels and ``clipjury.notifications.channels`` implements exactly these (checked there).
NOTIFY_CHANNELS = ("in_app", "email", "sms")

# Code requests per client address and per network when not set, by profile (production?): generous for
# carrier-grade NAT (thousands of phones behind one public IPv4) in production, and outside it for a
# rehearsal of a hundred or more phones from one machine within minutes.
OTP_ADDRESS_LIMITS = {True: "20/minute;200/hour;1000/day", False: "200/minute;2000/hour;10000/day"}
OTP_NETWORK_LIMITS = {True: "60/minute;600/hour;3000/day", False: "200/minute;2000/hour;10000/day"}


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(url: str) -> str:
    return urlparse(url).hostname or ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CLIPJURY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.development
    log_level: str = "INFO"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    data_dir: Path = PROJECT_ROOT / "var"

    # Database: SQLite by default, PostgreSQL in production (postgresql+psycopg://...).
    database_url: str = ""

    # Redis for the rq job queues and upload locks. Empty: `clipjury run-local` starts its own.
    redis_url: str = ""

    # S3-compatible object storage. Empty endpoint: `clipjury run-local` starts SeaweedFS.
    s3_endpoint_url: str = ""
    s3_bucket: str = "clipjury"
    s3_access_key_id: str = DEV_S3_ACCESS_KEY
    s3_secret_access_key: SecretStr = SecretStr(DEV_S3_SECRET_KEY)
    s3_region: str = "us-east-1"
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    s3_presign_expiry_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Part size of multipart uploads to the store (S3 requires >= 5 MiB except the last part).
    s3_part_size: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)
    # Where browsers reach the store, if different from s3_endpoint_url (e.g. behind a proxy).
    s3_public_endpoint_url: str = ""
    # SHA-256 of every request body in the signature (botocore does it on http:// endpoints only).
    # Off: bodies are sent UNSIGNED-PAYLOAD with a CRC32 checksum header the store verifies.
    s3_sign_payload: bool = False

    # Web sessions and API tokens.
    access_token_expire_minutes: int = 12 * 60
    session_max_age_s: int = 12 * 3600
    cookie_secure: bool = False
    # Failed logins per account and address within the window before logins from there are refused
    # (the address alone may fail 5 times as often); 0 turns the limits off.
    login_max_failures: int = Field(default=10, ge=0)
    # Failed logins per account from all addresses together (one password tried from many places).
    login_max_failures_per_account: int = Field(default=50, ge=1)
    login_window_s: int = Field(default=900, ge=60)

    # Where people reach this deployment (e.g. https://wsp.example.gov.cn), for links sent outside a
    # request's own page (staff invitations). Empty: the address the request came to.
    public_base_url: str = ""
    # How long a staff invitation link stays usable.
    invite_ttl_hours: int = Field(default=72, ge=1, le=30 * 24)

    # Self-registration (clipjury.accounts.registration): whom people ask about their personal data (shown
    # in the privacy notice every registrant consents to), and after how many days without a sign-in a
    # submitter's account is deleted by the maintenance sweep as if they had deleted it (0: never).
    privacy_contact: str = Field(default="本活动主办方（各省级保密部门宣传教育处）", min_length=1, max_length=200)
    inactive_account_retention_days: int = Field(default=3 * 365, ge=0)

    # The public pages (public_ui): how long browsers and shared caches may reuse an anonymous visitor's
    # page; 0 still lets them store it but revalidate (ETag) on every view.
    public_cache_max_age_s: int = Field(default=60, ge=0)

    # Uploads (tus).
    upload_expiry_hours: int = 24
    upload_lock_ttl_s: int = 120
    # Per-account limits (0 turns one off): works still in draft, uploads being received (a file sent in
    # parallel pieces counts once), partial uploads not joined to a file yet, and bytes of uploads
    # started within the last 24 hours.
    max_draft_works_per_account: int = Field(default=20, ge=0)
    max_active_uploads_per_account: int = Field(default=10, ge=0)
    max_orphan_partials_per_account: int = Field(default=64, ge=0)
    max_upload_bytes_per_day: int = Field(default=20 * 1024**3, ge=0)
    # Stored files (original, poster, rendition) of versions that are neither the submitted one nor the
    # current good one are deleted this many days after they were uploaded; their rows stay.
    old_version_retention_days: int = Field(default=30, ge=1)

    # Workers.
    ffmpeg_path: str = "ffmpeg"
    ffprobe_path: str = "ffprobe"
    probe_timeout_s: int = 60
    decode_timeout_s: int = 900
    transcode_timeout_s: int = 1800
    # Address-space limit (RLIMIT_AS) of every ffmpeg/ffprobe child, in MiB: whatever a file declares,
    # a child that wants more fails (and the file is refused as corrupt) instead of taking the machine.
    media_memory_limit_mib: int = Field(default=1024, ge=128)
    # Decoder threads of every ffmpeg run (each thread holds its own frames).
    media_threads: int = Field(default=2, ge=1, le=16)
    # Packets a second of clip may hold, all streams together (120 fps video with 5.1 audio is ~170):
    # the probe stops reading packets at this rate x (duration limit + 10 s) and decides there.
    probe_max_packets_per_s: int = Field(default=1000, ge=100)
    # rq's limit on a whole job. Empty: derived from the step timeouts (JOB_TIMEOUT_MARGIN_S on top of the
    # longest job's steps). Set by hand it must exceed them too, or rq would kill a long transcode
    # before ffmpeg's own limit fires and the job would fail without a recorded reason.
    job_timeout_s: int | None = Field(default=None, ge=60)
    job_heartbeat_s: int = 5
    # A processing job whose heartbeat is older than this is taken as dead and run again.
    job_stale_after_s: int = 60
    # A worker death is not evidence about the file: after this many deaths on one validation the version
    # is held (``worker_gave_up``) for staff, never refused.
    job_max_attempts: int = Field(default=3, ge=1)
    # Each re-send after a worker death waits this long, doubled per attempt already made (capped at 1 h).
    job_retry_backoff_s: int = Field(default=30, ge=0)
    # Poster and rendition attempts per valid version before the failure is recorded for staff.
    media_max_attempts: int = Field(default=3, ge=1)
    # SIGTERM lets the running job finish for this long, then kills it (and its ffmpeg) so a deploy or
    # shutdown is bounded; the killed job is sent again by rq's retry or the sweep.
    worker_shutdown_grace_s: int = Field(default=60, ge=0)
    worker_maintenance_interval_s: int = 30

    # Integrity aids (clipjury.integrity): hints for reviewers, never verdicts. Frames match within this
    # Hamming distance of their 64-bit pHashes; a pair is similar at video score >= integrity_video_score
    # (a "possible re-edit" from integrity_possible_score) or audio bit error rate <= integrity_audio_ber
    # over at least integrity_audio_min_overlap_s; works with fewer than integrity_min_seconds of
    # non-flat picture never match (too little evidence).
    integrity_max_distance: int = Field(default=10, ge=0, le=32)
    integrity_video_score: float = Field(default=0.5, gt=0, le=1)
    integrity_possible_score: float = Field(default=0.3, gt=0, le=1)
    integrity_audio_ber: float = Field(default=0.15, gt=0, lt=0.5)
    integrity_audio_min_overlap_s: float = Field(default=10.0, ge=1)
    integrity_min_seconds: int = Field(default=5, ge=1)
    # A frame matching more works than this (an opening card, a shared template) weighs less.
    integrity_common_works: int = Field(default=3, ge=1)
    # A frame whose grey levels' standard deviation is under this is flat (black, a fade) and dropped.
    integrity_flat_std: float = Field(default=4.0, ge=0)
    # The opening line counts as found at this similarity (punctuation ignored) to the campaign's line.
    integrity_opening_similarity: float = Field(default=0.8, gt=0, le=1)
    # Where the opening line is looked for (at 2 fps), and the step of the marking scan after it.
    integrity_opening_window_s: float = Field(default=10.0, gt=0)
    integrity_marking_step_s: float = Field(default=2.0, gt=0)
    # A marking-scan frame whose pHash is within this distance of the last frame read is not read again.
    integrity_unchanged_distance: int = Field(default=4, ge=0, le=32)
    # Attempts per version of each integrity job before its failure is recorded.
    integrity_max_attempts: int = Field(default=3, ge=1)
    queue_prefix: str = "clipjury"

    # HTTP server.
    host: str = "127.0.0.1"
    port: int = 8000
    # Form bodies (urlencoded or multipart) are read before the route knows who is asking, so they are
    # bounded first: form_max_bytes for every form, form_file_max_bytes for the few routes that take a
    # file (a disqualification's document, at most 20 MiB). The upload routes (tus, PUT) are not forms.
    form_max_bytes: int = Field(default=64 * 1024, ge=4 * 1024, le=16 * 1024 * 1024)
    form_file_max_bytes: int = Field(default=21 * 1024 * 1024, ge=1024 * 1024, le=1024 * 1024 * 1024)
    # Addresses (IPs or CIDR networks, comma-separated, or "*") of the reverse proxies whose
    # X-Forwarded-For / X-Forwarded-Proto the server believes. Empty: nobody's, so the client address is
    # the connection's (a client cannot choose the address the login throttle counts against).
    trusted_proxies: str = ""
    # Production refuses an S3 endpoint for browsers on loopback (they could not play anything); this
    # allows it for a production profile rehearsed on one machine whose browsers are on it too.
    allow_loopback_s3: bool = False

    # Notifications: the in-app record is always written; these channels are sent from it by a job.
    # Comma-separated names from clipjury.notifications.channels.CHANNELS, e.g. "in_app,email,sms".
    notify_channels: str = "in_app"
    # E-mail (smtplib). smtp_security: "starttls" (port 587), "ssl" (implicit TLS, port 465) or "none".
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = ""
    smtp_from_name: str = "保密微视频征集"
    smtp_timeout_s: float = Field(default=20, gt=0, le=300)
    # SMS through an HTTP relay in front of the provider: POST JSON {"phone", "text", ...} with a bearer token.
    sms_webhook_url: str = ""
    sms_webhook_token: SecretStr = SecretStr("")
    sms_timeout_s: float = Field(default=10, gt=0, le=120)
    # Placeholders {title} and {body}; most Chinese providers add the registered signature themselves.
    sms_template: str = "{title}：{body}"
    sms_max_chars: int = Field(default=300, ge=20, le=1000)

    # Phone verification (clipjury/phones). "dev" sends nothing and keeps each message in Redis for the dev
    # outbox (GET /api/v1/dev/sms-outbox); refused in production. "webhook" posts to CLIPJURY_SMS_WEBHOOK_URL
    # like the notification relay.
    sms_sender: Literal["dev", "webhook"] = "dev"
    # Keys kept outside the database: AES-GCM for stored numbers, HMAC-SHA256 for looking them up (and for
    # keying codes and limits, so no number is written to Redis in clear).
    phone_key: SecretStr = SecretStr(DEV_PHONE_KEY)
    phone_hmac_key: SecretStr = SecretStr(DEV_PHONE_HMAC_KEY)
    # One-time codes: lifetime, wrong tries that end a code, and the wait before another for the same
    # number and purpose.
    otp_ttl_s: int = Field(default=300, ge=1, le=3600)
    otp_max_attempts: int = Field(default=5, ge=1, le=20)
    otp_resend_cooldown_s: int = Field(default=60, ge=0, le=3600)
    # Code requests allowed, in the notation of the `limits` library ("N/minute;N/hour;N/day"), every window
    # checked. Per number: the same in every profile. Per client address and per network (IPv4 /24, IPv6
    # /64): empty takes the profile's default (OTP_ADDRESS_LIMITS / OTP_NETWORK_LIMITS below).
    otp_limits_per_number: str = "1/minute;5/hour;10/day"
    otp_limits_per_address: str = ""
    otp_limits_per_network: str = ""
    # The dev sender's outbox: how many messages it keeps, and for how long.
    sms_outbox_max: int = Field(default=500, ge=10, le=100_000)
    sms_outbox_ttl_s: int = Field(default=24 * 3600, ge=60)

    # Showcase voters and likes (clipjury/showcase). A voter's token lasts this long; the voter row (the
    # number's HMAC, the nickname, the consent digest) is anonymised this many days after the voter's last
    # sign-in or like, and a like's client address and network are blanked this many days after the like.
    voter_token_expire_hours: int = Field(default=240, ge=1, le=24 * 90)
    voter_retention_days: int = Field(default=180, ge=1)
    like_address_retention_days: int = Field(default=90, ge=1)
    # Likes allowed, in the notation of the `limits` library ("N/minute;N/hour;N/day"; empty: no limit), per
    # voter, per client address and per network (IPv4 /24, IPv6 /64). Generous per address and network:
    # a mobile carrier puts thousands of people behind one address, and concentration is evidence for the
    # report, not a reason to refuse.
    like_limits_per_voter: str = "60/minute;600/hour;2000/day"
    like_limits_per_address: str = "1200/minute;20000/hour;200000/day"
    like_limits_per_network: str = "3000/minute;50000/hour;500000/day"
    # The snapshot is frozen no sooner than this after the window closes, so every like whose transaction
    # passed the close check before the close has committed.
    likes_settle_s: float = Field(default=2.0, ge=0, le=60)
    # The fraud report's thresholds: likes of one work within one minute, voters seen on one network, and
    # voters created within likes_single_purpose_minutes of their only like, per work.
    likes_burst_per_minute: int = Field(default=30, ge=1)
    likes_network_voters: int = Field(default=20, ge=2)
    likes_single_purpose_voters: int = Field(default=10, ge=1)
    likes_single_purpose_minutes: int = Field(default=10, ge=1, le=24 * 60)
    # The public copies (clipjury.showcase.gallery): how long a presigned URL of a copy or its poster is
    # valid. One URL is reused for half that time (kept in Redis), so every page or answer handed out,
    # even one a cache keeps for public_cache_max_age_s, links to a URL valid for hours yet.
    showcase_url_expiry_s: int = Field(default=6 * 3600, ge=600, le=7 * 24 * 3600)
    # How long one process reuses the rendered gallery page (/public/showcase) for anonymous visitors before
    # reading the database and Redis again (0: every request renders). The like counts on it lag by as much.
    showcase_page_cache_s: float = Field(default=2.0, ge=0, le=300)

    @model_validator(mode="after")
    def _defaults_and_guards(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'clipjury.db'}"
        if self.login_max_failures_per_account < self.login_max_failures:
            # Smaller, one person's typos from their own desk would lock the account for everyone.
            raise ValueError(
                "CLIPJURY_LOGIN_MAX_FAILURES_PER_ACCOUNT must be at least CLIPJURY_LOGIN_MAX_FAILURES"
            )
        self._check_trusted_proxies()
        if self.uses_dev_secret:
            self.check_listen_address(self.host)
        if self.env == Environment.production:
            self._check_production()
        self._check_notify_channels()
        self._check_job_timeouts()
        if self.public_base_url and not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError("CLIPJURY_PUBLIC_BASE_URL must start with http:// or https://")
        return self

    def _check_job_timeouts(self) -> None:
        steps = self.longest_job_steps_s
        if self.job_timeout_s is None:
            self.job_timeout_s = steps + JOB_TIMEOUT_MARGIN_S
        elif self.job_timeout_s <= steps:
            raise ValueError(
                f"CLIPJURY_JOB_TIMEOUT_S ({self.job_timeout_s}) must exceed the steps of the longest job "
                f"({steps} s: probe {self.probe_timeout_s} + max(decode {self.decode_timeout_s}, "
                f"transcode {self.transcode_timeout_s})); leave it unset to derive it"
            )

    @property
    def longest_job_steps_s(self) -> int:
        # The validation job probes and decodes side by side; the playback job makes a poster (under the
        # probe timeout) and then a rendition: the worse of the two bounds every job's ffmpeg time.
        return self.probe_timeout_s + max(self.decode_timeout_s, self.transcode_timeout_s)

    @property
    def job_timeout(self) -> int:
        assert self.job_timeout_s is not None  # set by the validator
        return self.job_timeout_s
    @property
    def uses_dev_secret(self) -> bool:
        return self.secret_key.get_secret_value() == DEV_SECRET_KEY

    def check_listen_address(self, host: str) -> None:
        """Refuse to serve on ``host`` with the built-in secret, which anyone can read in the repository and
        use to sign a national admin's token. It is only for a development or test machine that says so
        (``CLIPJURY_ENV`` set, not defaulted: a deployment that forgot the variable must not get it) and
        that nobody else can reach. ``clipjury serve`` and ``run-local`` call this with the address they
        actually bind, which their ``--host`` may change."""
        if not self.uses_dev_secret:
            return
        if self.env == Environment.production:
            raise ValueError("CLIPJURY_SECRET_KEY must be set to a real secret in production")
        if "env" not in self.model_fields_set:
            raise ValueError(
                "CLIPJURY_SECRET_KEY is the built-in development secret, which is accepted only with "
                "CLIPJURY_ENV=development (or test) set explicitly: set CLIPJURY_SECRET_KEY to a random "
                "string of at least 32 characters, or CLIPJURY_ENV=development on a development machine"
            )
        if not is_loopback(host):
            raise ValueError(
                f"CLIPJURY_SECRET_KEY is the built-in development secret, which is accepted only when "
                f"listening on loopback, not on {host!r}: set a real CLIPJURY_SECRET_KEY, or listen on 127.0.0.1"
            )

    def _check_trusted_proxies(self) -> None:
        for entry in self.trusted_proxy_list:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"CLIPJURY_TRUSTED_PROXIES: {entry!r} is not an IP address, a CIDR network or '*'"
                ) from exc

    def _check_production(self) -> None:
        """Every development default that would be unsafe or broken on a real deployment stops start-up,
        each naming the setting to change."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if isinstance(text, str) and PLACEHOLDER in text:
                raise ValueError(
                    f"CLIPJURY_{name.upper()} still holds the placeholder {PLACEHOLDER}: put in the real value"
                )
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET_KEY:
            raise ValueError("CLIPJURY_SECRET_KEY must be set to a real secret in production")
        if len(secret) < 32:
            raise ValueError("CLIPJURY_SECRET_KEY must be at least 32 characters")
        if self.s3_secret_access_key.get_secret_value() == DEV_S3_SECRET_KEY:
            raise ValueError("CLIPJURY_S3_SECRET_ACCESS_KEY must be set in production")
        if self.s3_access_key_id == DEV_S3_ACCESS_KEY:
            raise ValueError("CLIPJURY_S3_ACCESS_KEY_ID is the development key: set the store's own in production")
        if not self.redis_url or not self.s3_endpoint_url:
            raise ValueError("production needs CLIPJURY_REDIS_URL and CLIPJURY_S3_ENDPOINT_URL")
        if not self.cookie_secure:
            raise ValueError(
                "CLIPJURY_COOKIE_SECURE must be true in production (the site is served over HTTPS, and a "
                "session cookie sent over plain HTTP can be stolen)"
            )
        # Browsers fetch videos straight from the store through presigned URLs: a loopback address there
        # works for no browser but one on the server itself.
        browser_endpoint = self.s3_public_endpoint_url or self.s3_endpoint_url
        if is_loopback(_url_host(browser_endpoint)) and not self.allow_loopback_s3:
            raise ValueError(
                f"the S3 endpoint browsers get ({browser_endpoint}) is on loopback, which no visitor can reach: "
                "set CLIPJURY_S3_PUBLIC_ENDPOINT_URL to the address browsers use (e.g. the store behind "
                "the site's nginx), or CLIPJURY_ALLOW_LOOPBACK_S3=true to rehearse on one machine"
            )

    @model_validator(mode="after")
    def _phone_guards(self) -> Settings:
        from limits import parse_many

        production = self.env == Environment.production
        if not self.otp_limits_per_address:
            self.otp_limits_per_address = OTP_ADDRESS_LIMITS[production]
        if not self.otp_limits_per_network:
            self.otp_limits_per_network = OTP_NETWORK_LIMITS[production]
        for name in ("otp_limits_per_number", "otp_limits_per_address", "otp_limits_per_network",
                     "like_limits_per_voter", "like_limits_per_address", "like_limits_per_network"):
            if name.startswith("like_") and not getattr(self, name).strip():
                continue  # no limit
            try:
                parse_many(getattr(self, name))
            except ValueError as exc:
                raise ValueError(
                    f"CLIPJURY_{name.upper()}: {getattr(self, name)!r} is not a list of limits such as "
                    "'1/minute;5/hour;10/day'"
                ) from exc
        if self.voter_retention_days * 24 <= self.voter_token_expire_hours:
            # A token that outlived its voter's row would like for someone whose data is gone.
            raise ValueError("CLIPJURY_VOTER_RETENTION_DAYS must be longer than CLIPJURY_VOTER_TOKEN_EXPIRE_HOURS")
        if self.sms_sender == "webhook":
            if not self.sms_webhook_url:
                raise ValueError("CLIPJURY_SMS_SENDER=webhook needs CLIPJURY_SMS_WEBHOOK_URL")
            if not self.sms_webhook_url.startswith(("http://", "https://")):
                raise ValueError("CLIPJURY_SMS_WEBHOOK_URL must be an http(s) URL")
        if production:
            if self.sms_sender == "dev":
                raise ValueError(
                    "CLIPJURY_SMS_SENDER=dev sends no SMS (codes stay in Redis, readable by anyone at the dev "
                    "outbox): set CLIPJURY_SMS_SENDER=webhook in production"
                )
            if len(self.sms_webhook_token.get_secret_value()) < 16:
                raise ValueError("CLIPJURY_SMS_WEBHOOK_TOKEN must be set to a real secret in production")
            if not self.sms_webhook_url.startswith("https://"):
                raise ValueError("CLIPJURY_SMS_WEBHOOK_URL must be https:// in production")
            for name, dev_value in (("phone_key", DEV_PHONE_KEY), ("phone_hmac_key", DEV_PHONE_HMAC_KEY)):
                secret = getattr(self, name).get_secret_value()
                if secret == dev_value:
                    raise ValueError(f"CLIPJURY_{name.upper()} must be set to a real secret in production")
                if len(secret) < 32:
                    raise ValueError(f"CLIPJURY_{name.upper()} must be at least 32 characters")
            if self.phone_key.get_secret_value() == self.phone_hmac_key.get_secret_value():
                # One leaked key must not give both the numbers and the means to test guesses against them.
                raise ValueError("CLIPJURY_PHONE_KEY and CLIPJURY_PHONE_HMAC_KEY must differ")
        return self

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [entry.strip() for entry in self.trusted_proxies.split(",") if entry.strip()]

    def _check_notify_channels(self) -> None:
        # A typo must stop start-up rather than surface as lost messages in a worker log.
        unknown = sorted(set(self.notify_channel_names) - set(NOTIFY_CHANNELS))
        if unknown:
            raise ValueError(
                f"CLIPJURY_NOTIFY_CHANNELS: unknown channel(s) {unknown}; known: {sorted(NOTIFY_CHANNELS)}"
            )
        names = self.notify_channel_names
        if "email" in names and (not self.smtp_host or not self.smtp_from):
            raise ValueError("the email channel needs CLIPJURY_SMTP_HOST and CLIPJURY_SMTP_FROM")
        if "sms" in names and not self.sms_webhook_url:
            raise ValueError("the sms channel needs CLIPJURY_SMS_WEBHOOK_URL")
        if self.sms_webhook_url and not self.sms_webhook_url.startswith(("http://", "https://")):
            raise ValueError("CLIPJURY_SMS_WEBHOOK_URL must be an http(s) URL")
        try:
            self.sms_template.format(title="", body="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("CLIPJURY_SMS_TEMPLATE may only use {title} and {body}") from exc
        if self.env == Environment.production:
            if "email" in names and self.smtp_username and not self.smtp_password.get_secret_value():
                raise ValueError("CLIPJURY_SMTP_PASSWORD must be set when CLIPJURY_SMTP_USERNAME is")
            if "email" in names and self.smtp_username and self.smtp_security == "none":
                raise ValueError("CLIPJURY_SMTP_SECURITY=none would send the SMTP password in clear text")
            if "sms" in names:
                if len(self.sms_webhook_token.get_secret_value()) < 16:
                    raise ValueError("CLIPJURY_SMS_WEBHOOK_TOKEN must be set to a real secret in production")
                if not self.sms_webhook_url.startswith("https://"):
                    raise ValueError("CLIPJURY_SMS_WEBHOOK_URL must be https:// in production")

    @property
    def notify_channel_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.strip() for n in self.notify_channels.split(",") if n.strip()))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
