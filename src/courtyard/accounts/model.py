"""Account records, I/O schemas and the pure rules about handles and passwords."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from courtyard.core.errors import Conflict, InvalidInput, Unauthenticated
from courtyard.core.text import MultiLineText, SingleLineText
from courtyard.governance.ladder import Bound
from courtyard.governance.model import AccountState, Standing

HANDLE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,31}$")
# A BCP 47 language tag as people use them (en, zh-CN, zh-Hant-TW, es-419); empty clears it.
LOCALE_PATTERN = re.compile(r"^([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)?$")
RESERVED_HANDLES = frozenset(
    {
        "admin", "administrator", "root", "system", "support", "help", "courtyard", "official",
        "security", "abuse", "moderator", "reviewer", "operator", "staff", "null", "undefined",
        "me", "api", "www", "mail", "notices", "settings",
    }
)  # fmt: skip


class VerificationLevel(StrEnum):
    NONE = "none"
    PHONE = "phone"
    IDENTITY = "identity"


class OperatorRole(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"


def _locale(value: str) -> str:
    value = value.strip().replace("_", "-")
    if not LOCALE_PATTERN.fullmatch(value):
        raise ValueError("Use a language tag such as en, de or zh-CN.")
    return value


LocaleTag = Annotated[str, AfterValidator(_locale)]


def normalize_handle(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


def handle_problem(handle: str) -> str | None:
    """Why a (normalised) handle cannot be registered, or None when it can."""
    if not HANDLE_PATTERN.fullmatch(handle):
        return (
            "A handle is 3 to 32 characters: lowercase letters, digits and underscores, "
            "starting with a letter."
        )
    if handle in RESERVED_HANDLES:
        return "This handle is reserved."
    return None


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    handle: str
    display_name: str
    bio: str
    avatar_key: str | None
    state: AccountState
    state_until: datetime | None
    verification_level: VerificationLevel
    two_factor_enabled: bool
    locale: str | None
    created_at: datetime
    roles: frozenset[OperatorRole]
    bounds: tuple[Bound, ...] = ()

    @property
    def standing(self) -> Standing:
        return Standing(self.id, self.state, self.state_until, self.bounds)


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated account behind a request, and the session it came through."""

    account: Account
    session_id: str
    csrf_token: str

    @property
    def id(self) -> str:
        return self.account.id

    @property
    def standing(self) -> Standing:
        return self.account.standing


# ---- I/O schemas -------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterIn(BaseModel):
    model_config = _STRICT
    handle: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=4096)
    display_name: SingleLineText | None = Field(default=None, max_length=64)
    accept_terms: bool = Field(description="Must be true: the current terms are accepted.")
    locale: LocaleTag | None = Field(default=None, max_length=16)


class LoginIn(BaseModel):
    model_config = _STRICT
    handle: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=4096)
    device_token: str | None = Field(default=None, max_length=512)


class TwoFactorLoginIn(BaseModel):
    model_config = _STRICT
    ticket: str = Field(min_length=1, max_length=1024)
    code: str = Field(min_length=1, max_length=32, description="TOTP code or a recovery code")


class ProfileIn(BaseModel):
    model_config = _STRICT
    display_name: SingleLineText | None = Field(default=None, max_length=64)
    bio: MultiLineText | None = Field(default=None, max_length=280)
    locale: LocaleTag | None = Field(default=None, max_length=16, description="e.g. en, zh-CN")


class PasswordChangeIn(BaseModel):
    model_config = _STRICT
    current_password: str = Field(min_length=1, max_length=4096)
    new_password: str = Field(min_length=1, max_length=4096)


class CodeIn(BaseModel):
    model_config = _STRICT
    code: str = Field(min_length=1, max_length=32)


class TwoFactorDisableIn(BaseModel):
    model_config = _STRICT
    password: str = Field(min_length=1, max_length=4096)
    code: str = Field(min_length=1, max_length=32)


class TermsIn(BaseModel):
    model_config = _STRICT
    version: str = Field(min_length=1, max_length=32)


class VerificationStartIn(BaseModel):
    model_config = _STRICT
    level: VerificationLevel
    claim: str = Field(min_length=1, max_length=128, description="Phone number or document id")


class AccountOut(BaseModel):
    id: str
    handle: str
    display_name: str
    bio: str
    avatar_url: str | None
    state: AccountState
    state_until: datetime | None
    verification_level: VerificationLevel
    two_factor_enabled: bool
    locale: str | None
    created_at: datetime
    roles: list[OperatorRole]

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id,
            handle=account.handle,
            display_name=account.display_name,
            bio=account.bio,
            avatar_url=avatar_url(account),
            state=account.state,
            state_until=account.state_until,
            verification_level=account.verification_level,
            two_factor_enabled=account.two_factor_enabled,
            locale=account.locale,
            created_at=account.created_at,
            roles=sorted(account.roles),
        )


class PublicProfileOut(BaseModel):
    id: str
    handle: str
    display_name: str
    bio: str
    avatar_url: str | None
    verification_level: VerificationLevel

    @classmethod
    def of(cls, account: Account) -> PublicProfileOut:
        return cls(
            id=account.id,
            handle=account.handle,
            display_name=account.display_name,
            bio=account.bio,
            avatar_url=avatar_url(account),
            verification_level=account.verification_level,
        )


def avatar_url(account: Account) -> str | None:
    if account.avatar_key is None:
        return None
    return f"/api/v1/accounts/{account.id}/avatar?v={account.avatar_key[:12]}"


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    current: bool


class NewSessionOut(BaseModel):
    id: str
    token: str = Field(description="Send as 'Authorization: Bearer <token>'. Shown once.")
    csrf_token: str
    expires_at: datetime


class LoginOut(BaseModel):
    """Either a session, or a ticket to complete with a second factor."""

    account: AccountOut | None = None
    session: NewSessionOut | None = None
    two_factor_required: bool = False
    two_factor_ticket: str | None = None
    device_token: str | None = Field(
        default=None,
        description="Keep it: presenting it at login exempts this device from "
        "throttling caused by other people's failed attempts on your account.",
    )


class TwoFactorSetupOut(BaseModel):
    secret: str
    otpauth_uri: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class TermsAcceptanceOut(BaseModel):
    version: str
    accepted_at: datetime


class VerificationChallengeOut(BaseModel):
    challenge_id: str
    level: VerificationLevel
    development_code: str | None = Field(
        default=None, description="Only with the local development verifier."
    )


# ---- domain errors -------------------------------------------------------------------------


class HandleTaken(Conflict):
    code = "handle_taken"
    default_message = "This handle is already taken."


class InvalidHandle(InvalidInput):
    code = "invalid_handle"


class WeakPassword(InvalidInput):
    code = "weak_password"
    default_message = "Choose a stronger password."


class TermsNotAccepted(InvalidInput):
    code = "terms_not_accepted"
    default_message = "You need to accept the terms of service to register."


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    default_message = "The handle or password is not correct."


class InvalidTwoFactorCode(Unauthenticated):
    code = "two_factor_invalid"
    default_message = "The two-factor code is not correct or has expired."


class AccountUnavailable(Unauthenticated):
    code = "account_unavailable"
    default_message = "This account no longer exists."
