"""Typed settings, read once from the environment (prefix ``CLIPJURY_``) or a ``.env`` file.

Nothing else in the code base reads the environment: everything asks ``get_settings()``.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Values that ship in the repository for local development; production must replace them.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-before-production"
DEV_S3_ACCESS_KEY = "clipjury-dev"
DEV_S3_SECRET_KEY = "clipjury-dev-secret"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


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

    # The public pages (public_ui): how long browsers and shared caches may reuse an anonymous visitor's
    # page; 0 still lets them store it but revalidate (ETag) on every view.
    public_cache_max_age_s: int = Field(default=60, ge=0)

    # Uploads (tus).
    upload_expiry_hours: int = 24
    upload_lock_ttl_s: int = 120

    # Workers.
    ffmpeg_path: str = "ffmpeg"
    ffprobe_path: str = "ffprobe"
    probe_timeout_s: int = 60
    decode_timeout_s: int = 900
    transcode_timeout_s: int = 1800
    job_timeout_s: int = 1800
    job_heartbeat_s: int = 5
    # A processing job whose heartbeat is older than this is taken as dead and run again.
    job_stale_after_s: int = 60
    job_max_attempts: int = 3
    worker_maintenance_interval_s: int = 30
    queue_prefix: str = "clipjury"

    # HTTP server.
    host: str = "127.0.0.1"
    port: int = 8000

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

    @model_validator(mode="after")
    def _defaults_and_guards(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'clipjury.db'}"
        if self.login_max_failures_per_account < self.login_max_failures:
            # Smaller, one person's typos from their own desk would lock the account for everyone.
            raise ValueError(
                "CLIPJURY_LOGIN_MAX_FAILURES_PER_ACCOUNT must be at least CLIPJURY_LOGIN_MAX_FAILURES"
            )
        if self.env == Environment.production:
            if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
                raise ValueError("CLIPJURY_SECRET_KEY must be set to a real secret in production")
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("CLIPJURY_SECRET_KEY must be at least 32 characters")
            if self.s3_secret_access_key.get_secret_value() == DEV_S3_SECRET_KEY:
                raise ValueError("CLIPJURY_S3_SECRET_ACCESS_KEY must be set in production")
            if not self.redis_url or not self.s3_endpoint_url:
                raise ValueError("production needs CLIPJURY_REDIS_URL and CLIPJURY_S3_ENDPOINT_URL")
            if not self.cookie_secure:
                raise ValueError("production needs CLIPJURY_COOKIE_SECURE=true (the session cookie only over HTTPS)")
        self._check_notify_channels()
        return self

    def _check_notify_channels(self) -> None:
        # Imported here: the registry lives with the channels, and a typo must stop start-up rather
        # than surface as lost messages in a worker log.
        from clipjury.notifications.channels import CHANNELS

        unknown = sorted(set(self.notify_channel_names) - set(CHANNELS))
        if unknown:
            raise ValueError(f"CLIPJURY_NOTIFY_CHANNELS: unknown channel(s) {unknown}; known: {sorted(CHANNELS)}")
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
