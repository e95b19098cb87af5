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

    # Web sessions and API tokens.
    access_token_expire_minutes: int = 12 * 60
    session_max_age_s: int = 12 * 3600
    cookie_secure: bool = False

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

    @model_validator(mode="after")
    def _defaults_and_guards(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'clipjury.db'}"
        if self.env == Environment.production:
            if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
                raise ValueError("CLIPJURY_SECRET_KEY must be set to a real secret in production")
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("CLIPJURY_SECRET_KEY must be at least 32 characters")
            if self.s3_secret_access_key.get_secret_value() == DEV_S3_SECRET_KEY:
                raise ValueError("CLIPJURY_S3_SECRET_ACCESS_KEY must be set in production")
            if not self.redis_url or not self.s3_endpoint_url:
                raise ValueError("production needs CLIPJURY_REDIS_URL and CLIPJURY_S3_ENDPOINT_URL")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
