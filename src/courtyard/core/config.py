"""Typed settings read from ``COURTYARD_*`` environment variables.

Every value has a safe default for a single-machine development server; production mode
refuses to start with a placeholder secret so an operator cannot ship the default by accident.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me-courtyard-development-secret"  # noqa: S105 - a known placeholder


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class InsecureConfiguration(RuntimeError):
    """Raised at start-up when production settings are unsafe."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COURTYARD_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    secret_key: str = PLACEHOLDER_SECRET
    database_url: str = "sqlite:///./var/courtyard.db"
    redis_url: str | None = None
    # FULL: acknowledged writes survive a power cut. NORMAL trades that for speed (WAL keeps
    # the database consistent either way; only the last commits can be lost on power loss).
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    data_dir: Path = Path("./var")
    migrate_on_start: bool = True

    # Accounts
    password_min_length: int = Field(default=10, ge=8)
    password_max_length: int = Field(default=1024, ge=64)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=2, ge=1)
    session_ttl_days: int = Field(default=30, ge=1)
    current_terms_version: str = "2026-11"
    totp_issuer: str = "Courtyard"
    avatar_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    avatar_size_px: int = Field(default=256, ge=32)

    # Login throttling: failures per key within the window before back-off starts.
    login_failures_per_account_address: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=30, ge=1)
    login_failures_per_account: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    login_max_backoff_seconds: int = Field(default=900, ge=1)

    # Contacts
    friend_cap: int = Field(default=10_000, ge=1)
    friend_request_message_max: int = 200
    labels_per_account_max: int = 200

    # Chats
    group_member_cap: int = Field(default=500, ge=2)
    group_admin_cap: int = Field(default=3, ge=0)
    # Above this many members an invitee must accept an invitation card.
    group_invite_accept_threshold: int = Field(default=40, ge=1)
    # Invite links (QR codes) stop admitting at this many members.
    group_invite_link_max_members: int = Field(default=200, ge=1)
    group_invite_link_days: int = Field(default=7, ge=1)
    message_recall_seconds: int = Field(default=120, ge=0)
    message_max_chars: int = Field(default=5000, ge=1)
    # Attachments: images are re-encoded (metadata stripped) and shrunk to this side.
    # Below max_body_bytes (a multipart upload carries some overhead).
    attachment_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    attachment_image_max_side: int = Field(default=2560, ge=64)
    # Files other than images: allowed extensions (lower case, comma-separated).
    attachment_extensions: str = (
        "pdf,txt,md,csv,zip,7z,docx,xlsx,pptx,odt,ods,odp,mp3,m4a,ogg,mp4,webm,mov"
    )
    # Most sends written in one transaction (group commit).
    chat_batch_max: int = Field(default=512, ge=1)
    # Under load, how long a batch may wait for more sends after its oldest send arrived
    # (chats/writer.py): longer means larger batches and less CPU per message, and adds to
    # the ack latency at most this much.
    chat_batch_linger_ms: float = Field(default=10.0, ge=0, le=100)

    # Realtime stream (docs/events.md)
    ws_heartbeat_seconds: float = Field(default=25.0, gt=0)
    ws_idle_timeout_seconds: float = Field(default=75.0, gt=0)
    ws_auth_timeout_seconds: float = Field(default=10.0, gt=0)
    # How often a connection's session and capabilities are checked again.
    ws_reauth_seconds: float = Field(default=60.0, gt=0)
    ws_send_queue_max: int = Field(default=1000, ge=1)
    # The tailer's safety-net poll, in case a wake-up is lost.
    stream_poll_seconds: float = Field(default=1.0, gt=0)
    # Events older than this are deleted (0: kept forever); a client whose cursor is older is
    # told to fetch its state again (docs/events.md, "Retention"). Checked every
    # events_prune_seconds on each node.
    events_retention_days: float = Field(default=30.0, ge=0)
    events_prune_seconds: float = Field(default=600.0, gt=0)

    # Governance (docs/policies.md). The operator's rule packs (*.toml); the built-in default
    # packs load too unless policy_builtin_packs is off.
    policy_dir: Path | None = None
    policy_builtin_packs: bool = True
    # Labelled content escalated for review and given forwarding friction past these.
    virality_views: int = Field(default=5000, ge=1)
    virality_shares: int = Field(default=500, ge=1)

    # Due process (docs/policies.md, Due process). The ladder: STRIKES:MEASURE[:DURATION].
    enforcement_ladder: str = (
        "1:warning, 2:feature_limit:1d, 3:feature_limit:7d, 4:limited:7d, 5:suspended:30d"
    )
    strike_ttl_days: int = Field(default=90, ge=1)
    # DSA Art. 20: complaints are open for at least six months after the notice.
    appeal_window_days: int = Field(default=183, ge=183)
    # A terminated account keeps its data export for this long.
    export_window_days: int = Field(default=30, ge=1)
    review_sla_hours: int = Field(default=24, ge=1)
    appeal_sla_hours: int = Field(default=72, ge=1)
    # A rule is flagged to admins when this share of decided appeals against it is reversed.
    overturn_flag_rate: float = Field(default=0.3, gt=0, le=1)
    overturn_flag_min_appeals: int = Field(default=5, ge=1)
    # Manifestly unfounded reports within 30 days before a reporter's reports are limited.
    unfounded_reports_limit: int = Field(default=3, ge=1)
    report_limit_days: int = Field(default=7, ge=1)

    # HTTP
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Unset: secure cookies in production, plain cookies elsewhere (http://localhost works).
    secure_cookies_setting: bool | None = Field(default=None, alias="COURTYARD_SECURE_COOKIES")

    @model_validator(mode="after")
    def _production_must_be_safe(self) -> Settings:
        if self.env is Environment.PRODUCTION and (
            self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32
        ):
            raise InsecureConfiguration(
                "COURTYARD_SECRET_KEY must be set to a random value of at least 32 "
                "characters in production (for example: python -c "
                "'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @property
    def secure_cookies(self) -> bool:
        if self.secure_cookies_setting is not None:
            return self.secure_cookies_setting
        return self.env is Environment.PRODUCTION

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
