"""Account use cases: register, log in, sessions, two-factor, profile, terms, verification.

Each ``do_*`` path runs in one transaction and writes its audit row; every write asks
governance first (capabilities + decision).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from courtyard.accounts import store
from courtyard.accounts.model import (
    HANDLE_PATTERN,
    Account,
    AccountOut,
    AccountUnavailable,
    Actor,
    HandleTaken,
    InvalidCredentials,
    InvalidHandle,
    InvalidTwoFactorCode,
    LoginOut,
    NewSessionOut,
    OperatorRole,
    ProfileIn,
    RegisterIn,
    SessionOut,
    TermsAcceptanceOut,
    TermsNotAccepted,
    TwoFactorSetupOut,
    VerificationChallengeOut,
    VerificationLevel,
    WeakPassword,
    handle_problem,
    normalize_handle,
)
from courtyard.core.clock import Clock
from courtyard.core.config import Settings
from courtyard.core.db import Database, is_unique_violation
from courtyard.core.errors import Conflict, InvalidInput, NotFound, RateLimited
from courtyard.core.ids import new_id
from courtyard.core.media import MediaStore, sanitize_square_image
from courtyard.core.signing import BadSignature, Signer, token_hash
from courtyard.governance.model import (
    AccountState,
    Capability,
    EventKind,
    PolicyEvent,
    effective_state,
)
from courtyard.governance.service import GovernanceService

TWO_FACTOR_TICKET_SECONDS = 300
RECOVERY_CODE_COUNT = 10
SESSION_TOUCH_INTERVAL = timedelta(minutes=5)
CHALLENGE_TTL = timedelta(minutes=15)
CHALLENGE_MAX_ATTEMPTS = 5
ZXCVBN_MAX_LENGTH = 72


# ---- passwords -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common leaked passwords that zxcvbn ships (no download at run time)."""
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(
    password: str, *, min_length: int, max_length: int, user_inputs: list[str]
) -> str | None:
    """Why a password is refused, or None. Length and breach lists, not composition rules."""
    if len(password) < min_length:
        return f"Use at least {min_length} characters."
    if len(password) > max_length:
        return f"Use at most {max_length} characters."
    if password.lower() in _common_passwords():
        return "This password is in lists of commonly used and leaked passwords."
    lowered = password.lower()
    for item in user_inputs:
        if item and len(item) >= 3 and len(lowered.replace(item.lower(), "")) < 6:
            return "Do not build your password from your handle or name."
    # zxcvbn refuses (ValueError) anything over 72 characters; the start of a long passphrase
    # is what an attacker's guessing would have to get right first anyway.
    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=[u for u in user_inputs if u])
    if result["score"] < 2:
        warning = result["feedback"].get("warning") or ""
        hint = " ".join(result["feedback"].get("suggestions") or [])
        return (warning + " " + hint).strip() or "This password is too easy to guess."
    return None


class Passwords:
    """argon2id, run off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Always spends one verification, so unknown handles take as long as known ones."""
        target = password_hash or self._dummy_hash
        try:
            ok = await asyncio.to_thread(self._hasher.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok) and password_hash is not None


# ---- identity verification -----------------------------------------------------------------


class IdentityVerifier(Protocol):
    """Sends a challenge for a claim (phone number, document) and checks the response."""

    name: str

    async def start(self, level: VerificationLevel, claim: str) -> tuple[str, str | None]:
        """Return (secret to store, code to show in development or None)."""
        ...

    async def check(self, secret: str, response: str) -> bool: ...


class LocalDevelopmentVerifier:
    """Issues a 6-digit code and hands it back to the caller; no third party involved."""

    name = "local"

    async def start(self, level: VerificationLevel, claim: str) -> tuple[str, str | None]:
        code = f"{secrets.randbelow(1_000_000):06d}"
        return hashlib.sha256(code.encode()).hexdigest(), code

    async def check(self, secret: str, response: str) -> bool:
        return hmac.compare_digest(secret, hashlib.sha256(response.strip().encode()).hexdigest())


# ---- the service ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip_address: str | None
    user_agent: str | None


class AccountsService:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        governance: GovernanceService,
        media: MediaStore,
        verifier: IdentityVerifier,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._governance = governance
        self._media = media
        self._verifier = verifier
        self._passwords = Passwords(settings)
        self._ticket_signer = Signer(settings.secret_key, "two-factor-ticket")
        self._device_signer = Signer(settings.secret_key, "device")

    # -- registration ------------------------------------------------------------------------

    async def check_register(
        self, data: RegisterIn, client: ClientInfo
    ) -> tuple[Account, NewSessionOut]:
        handle = normalize_handle(data.handle)
        problem = handle_problem(handle)
        if problem:
            raise InvalidHandle(problem, details={"field": "handle"})
        if not data.accept_terms:
            raise TermsNotAccepted(details={"terms_version": self._settings.current_terms_version})
        display_name = (data.display_name or "").strip() or handle
        weak = password_problem(
            data.password,
            min_length=self._settings.password_min_length,
            max_length=self._settings.password_max_length,
            user_inputs=[handle, display_name],
        )
        if weak:
            raise WeakPassword(weak, details={"field": "password", "reason": weak})
        async with self._db.read() as conn:
            if await store.get_account_by_handle(conn, handle) is not None:
                raise HandleTaken(details={"field": "handle"})
        await self._governance.authorize(
            None,
            None,
            PolicyEvent(
                EventKind.ACCOUNT_REGISTER,
                actor_id=None,
                subject_type="account",
                text={"handle": handle, "display_name": display_name},
                context={"ip_address": client.ip_address},
            ),
        )
        password_hash = await self._passwords.hash(data.password)
        return await self.do_register(handle, display_name, password_hash, data.locale, client)

    async def do_register(
        self,
        handle: str,
        display_name: str,
        password_hash: str,
        locale: str | None,
        client: ClientInfo,
        role: OperatorRole | None = None,
    ) -> tuple[Account, NewSessionOut]:
        now = self._clock.now()
        account_id = new_id()
        try:
            async with self._db.write() as tx:
                await store.insert_account(
                    tx.conn,
                    account_id=account_id,
                    handle=handle,
                    display_name=display_name,
                    password_hash=password_hash,
                    locale=locale,
                    now=now,
                )
                await store.record_terms(
                    tx.conn, account_id, self._settings.current_terms_version, now
                )
                if role is not None:
                    await store.grant_role(tx.conn, account_id, role, now)
                session = await self._create_session(tx.conn, account_id, client, now)
                await self._governance.audit(
                    tx,
                    actor_id=account_id,
                    tag="accounts:account:register",
                    target_type="account",
                    target_id=account_id,
                    after={"handle": handle, "role": role.value if role else None},
                )
                account = await store.get_account(tx.conn, account_id)
        except Exception as exc:
            if is_unique_violation(exc):
                raise HandleTaken(details={"field": "handle"}) from exc
            raise
        assert account is not None
        return account, session

    async def create_operator(self, handle: str, password: str, role: OperatorRole) -> Account:
        """CLI path: create an operator account, or grant the role to an existing one."""
        handle = normalize_handle(handle)
        async with self._db.read() as conn:
            existing = await store.get_account_by_handle(conn, handle)
        if existing is not None:
            async with self._db.write() as tx:
                await store.grant_role(tx.conn, existing.id, role, self._clock.now())
                await self._governance.audit(
                    tx,
                    actor_id=None,
                    tag="accounts:role:grant",
                    target_type="account",
                    target_id=existing.id,
                    after={"role": role.value},
                    note="granted from the command line",
                )
                account = await store.get_account(tx.conn, existing.id)
            assert account is not None
            return account
        problem = handle_problem(handle)
        if problem and not (handle in {"admin", "reviewer"} and role):
            raise InvalidHandle(problem, details={"field": "handle"})
        weak = password_problem(
            password,
            min_length=self._settings.password_min_length,
            max_length=self._settings.password_max_length,
            user_inputs=[handle],
        )
        if weak:
            raise WeakPassword(weak, details={"field": "password", "reason": weak})
        password_hash = await self._passwords.hash(password)
        account, _session = await self.do_register(
            handle, handle, password_hash, None, ClientInfo(None, "cli"), role=role
        )
        return account

    # -- sessions ----------------------------------------------------------------------------

    async def _create_session(
        self, conn: Any, account_id: str, client: ClientInfo, now: datetime
    ) -> NewSessionOut:
        token = secrets.token_urlsafe(32)
        session_id = new_id()
        csrf = secrets.token_urlsafe(24)
        expires = now + timedelta(days=self._settings.session_ttl_days)
        await store.insert_session(
            conn,
            session_id=session_id,
            token_hash=token_hash(token),
            account_id=account_id,
            csrf_token=csrf,
            now=now,
            expires_at=expires,
            user_agent=(client.user_agent or "")[:256] or None,
            ip_address=client.ip_address,
        )
        return NewSessionOut(id=session_id, token=token, csrf_token=csrf, expires_at=expires)

    async def check_login(
        self, handle: str, password: str, device_token: str | None, client: ClientInfo
    ) -> LoginOut:
        handle = normalize_handle(handle)
        now = self._clock.now()
        account, password_hash = None, None
        if HANDLE_PATTERN.fullmatch(handle):  # anything else cannot be anyone's handle
            async with self._db.read() as conn:
                account = await store.get_account_by_handle(conn, handle)
                if account is not None:
                    password_hash = await store.get_password_hash(conn, account.id)
        keys = self._throttle_keys(account, device_token, client)
        await self._check_throttle(keys, now)
        ok = await self._passwords.verify(password_hash, password)
        if not ok or account is None:
            await self._record_failure(keys, now)
            raise InvalidCredentials
        if account.state is AccountState.DELETED:
            raise AccountUnavailable
        self._governance.capabilities(account.standing).require(Capability.LOGIN)
        await self._clear_success(account.id, client)
        if account.two_factor_enabled:
            ticket = self._ticket_signer.sign(
                {"a": account.id, "exp": int(now.timestamp()) + TWO_FACTOR_TICKET_SECONDS}
            )
            return LoginOut(two_factor_required=True, two_factor_ticket=ticket)
        return await self.do_login(account, client)

    async def do_login(self, account: Account, client: ClientInfo) -> LoginOut:
        now = self._clock.now()
        async with self._db.write() as tx:
            session = await self._create_session(tx.conn, account.id, client, now)
            await self._governance.audit(
                tx,
                actor_id=account.id,
                tag="accounts:session:create",
                target_type="session",
                target_id=session.id,
                after={"ip_address": client.ip_address, "user_agent": client.user_agent},
            )
        return LoginOut(
            account=AccountOut.of(self.present(account)),
            session=session,
            device_token=self.device_token(account),
        )

    def device_token(self, account: Account) -> str:
        """A token that marks this device as one the account has logged in from (see throttling)."""
        return self._device_signer.sign({"a": account.id, "n": secrets.token_hex(4)})

    async def check_two_factor_login(self, ticket: str, code: str, client: ClientInfo) -> LoginOut:
        now = self._clock.now()
        try:
            payload = self._ticket_signer.unsign(ticket)
        except BadSignature as exc:
            raise InvalidTwoFactorCode("The sign-in step expired; log in again.") from exc
        if int(payload.get("exp", 0)) < now.timestamp():
            raise InvalidTwoFactorCode("The sign-in step expired; log in again.")
        account_id = str(payload.get("a"))
        keys = [f"2fa:{account_id}"]
        await self._check_throttle(keys, now)
        async with self._db.read() as conn:
            account = await store.get_account(conn, account_id)
        if account is None or not account.two_factor_enabled:
            raise InvalidTwoFactorCode
        # The account may have been deleted or restricted since the password step.
        if account.state is AccountState.DELETED:
            raise AccountUnavailable
        self._governance.capabilities(account.standing).require(Capability.LOGIN)
        if not await self._verify_second_factor(account_id, code, allow_recovery=True):
            await self._record_failure(keys, now)
            raise InvalidTwoFactorCode
        async with self._db.write() as tx:
            await store.clear_throttle(tx.conn, keys[0])
        return await self.do_login(account, client)

    async def authenticate(self, token: str) -> Actor | None:
        """The actor behind a session token, or None if it is unknown, expired or revoked."""
        now = self._clock.now()
        async with self._db.read() as conn:
            session = await store.find_session_account(conn, token_hash(token), now)
        if session is None or session.account.state is AccountState.DELETED:
            return None
        account = self.present(session.account)
        if now - session.last_seen_at > SESSION_TOUCH_INTERVAL:
            async with self._db.write() as tx:
                await store.touch_session(tx.conn, session.id, now)
        return Actor(account=account, session_id=session.id, csrf_token=session.csrf_token)

    def present(self, account: Account) -> Account:
        """The account as it applies now: a timed restriction that has ended shows as lifted."""
        state = effective_state(account.standing, self._clock.now())
        if state is account.state:
            return account
        return dataclasses.replace(account, state=state, state_until=None)

    async def logout(self, actor: Actor) -> None:
        await self.revoke_session(actor, actor.session_id)

    async def list_sessions(self, actor: Actor) -> list[SessionOut]:
        async with self._db.read() as conn:
            rows = await store.list_sessions(conn, actor.id, self._clock.now())
        return [
            SessionOut(
                id=row.id,
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                expires_at=row.expires_at,
                user_agent=row.user_agent,
                ip_address=row.ip_address,
                current=row.id == actor.session_id,
            )
            for row in rows
        ]

    async def revoke_session(self, actor: Actor, session_id: str) -> None:
        await self._authorize_security(actor, "session_revoke", Capability.LOGIN)
        async with self._db.write() as tx:
            revoked = await store.revoke_session(tx.conn, actor.id, session_id, self._clock.now())
            if not revoked:
                raise NotFound("No such session.")
            self._governance.access_changed(tx, actor.id)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="accounts:session:revoke",
                target_type="session",
                target_id=session_id,
            )

    # -- throttling --------------------------------------------------------------------------

    def _device_is_known(self, account_id: str, device_token: str | None) -> bool:
        if not device_token:
            return False
        try:
            return self._device_signer.unsign(device_token).get("a") == account_id
        except BadSignature:
            return False

    def _throttle_keys(
        self, account: Account | None, device_token: str | None, client: ClientInfo
    ) -> list[str]:
        address = client.ip_address or "unknown"
        keys = [f"ip:{address}"]
        if account is not None:
            keys.append(f"aa:{account.id}:{address}")
            # A device that has logged in before is not held back by strangers' failures
            # against the account, so nobody can lock a person out of their own phone.
            if device_token and self._device_is_known(account.id, device_token):
                device = hashlib.sha256(device_token.encode()).hexdigest()[:16]
                keys.append(f"ad:{account.id}:{device}")
            else:
                keys.append(f"acct:{account.id}")
        return keys

    def _threshold(self, key: str) -> int:
        kind = key.split(":", 1)[0]
        return {
            "ip": self._settings.login_failures_per_address,
            "acct": self._settings.login_failures_per_account,
        }.get(kind, self._settings.login_failures_per_account_address)

    async def _check_throttle(self, keys: list[str], now: datetime) -> None:
        async with self._db.read() as conn:
            rows = await store.get_throttles(conn, keys)
        wait = 0.0
        for row in rows.values():
            if row.blocked_until is not None and row.blocked_until > now:
                wait = max(wait, (row.blocked_until - now).total_seconds())
        if wait > 0:
            raise RateLimited(math.ceil(wait))

    async def _record_failure(self, keys: list[str], now: datetime) -> None:
        window = timedelta(seconds=self._settings.login_window_seconds)
        async with self._db.write() as tx:
            rows = await store.lock_throttles(tx.conn, keys, now)
            for key in keys:
                row = rows[key]
                if row.failures == 0 or now - row.window_start > window:
                    failures, start = 1, now
                else:
                    failures, start = row.failures + 1, row.window_start
                over = failures - self._threshold(key)
                blocked_until = None
                if over >= 0:
                    backoff = min(2 ** min(over, 30), self._settings.login_max_backoff_seconds)
                    blocked_until = now + timedelta(seconds=backoff)
                await store.put_throttle(
                    tx.conn,
                    key,
                    failures=failures,
                    window_start=start,
                    blocked_until=blocked_until,
                )

    async def _clear_success(self, account_id: str, client: ClientInfo) -> None:
        async with self._db.write() as tx:
            await store.clear_throttle(tx.conn, f"aa:{account_id}:{client.ip_address or 'unknown'}")

    # -- profile -----------------------------------------------------------------------------

    async def get_account(self, account_id: str) -> Account | None:
        async with self._db.read() as conn:
            return await store.get_account(conn, account_id)

    async def author_facts(self, account_id: str) -> dict[str, Any]:
        """What governance rules may read about an author (``author.*`` in a condition)."""
        account = await self.get_account(account_id)
        return {} if account is None else self._facts(account)

    async def author_facts_many(self, account_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``author_facts`` for many authors in two queries (a batch of sends)."""
        accounts = await self.get_accounts(account_ids)
        return {account_id: self._facts(account) for account_id, account in accounts.items()}

    def _facts(self, account: Account) -> dict[str, Any]:
        return {
            "account_age_days": max(0, (self._clock.now() - account.created_at).days),
            "state": account.state.value,
        }

    async def get_accounts(self, account_ids: list[str]) -> dict[str, Account]:
        async with self._db.read() as conn:
            return await store.get_accounts(conn, account_ids)

    async def find_by_handle(self, handle: str) -> Account | None:
        handle = normalize_handle(handle)
        if not HANDLE_PATTERN.fullmatch(handle):
            return None  # not a handle at all (and never sent to the database as one)
        async with self._db.read() as conn:
            return await store.get_account_by_handle(conn, handle)

    async def check_update_profile(self, actor: Actor, data: ProfileIn) -> Account:
        changes: dict[str, Any] = {}
        if data.display_name is not None:
            name = data.display_name.strip()
            if not name:
                raise InvalidInput(
                    "A display name cannot be empty.", details={"field": "display_name"}
                )
            changes["display_name"] = name
        if data.bio is not None:
            changes["bio"] = data.bio.strip()
        if data.locale is not None:
            changes["locale"] = data.locale or None
        if not changes:
            return actor.account
        await self._governance.authorize(
            actor.standing,
            Capability.EDIT_PROFILE,
            PolicyEvent(
                EventKind.ACCOUNT_PROFILE,
                actor_id=actor.id,
                subject_type="account",
                subject_id=actor.id,
                text={k: v for k, v in changes.items() if k in {"display_name", "bio"} and v},
            ),
        )
        return await self.do_update_profile(actor, changes)

    async def do_update_profile(self, actor: Actor, changes: dict[str, Any]) -> Account:
        before = {k: getattr(actor.account, k) for k in changes}
        async with self._db.write() as tx:
            await store.update_account(tx.conn, actor.id, self._clock.now(), **changes)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="accounts:profile:update",
                target_type="account",
                target_id=actor.id,
                before=before,
                after=changes,
            )
            account = await store.get_account(tx.conn, actor.id)
        assert account is not None
        return self.present(account)

    async def check_set_avatar(self, actor: Actor, data: bytes) -> Account:
        image = await asyncio.to_thread(
            sanitize_square_image,
            data,
            size=self._settings.avatar_size_px,
            max_bytes=self._settings.avatar_max_bytes,
        )
        await self._governance.authorize(
            actor.standing,
            Capability.EDIT_PROFILE,
            PolicyEvent(
                EventKind.ACCOUNT_PROFILE,
                actor_id=actor.id,
                subject_type="account",
                subject_id=actor.id,
                context={"image_sha256": image.key},
            ),
        )
        await self._media.put(image.key, image.data)
        return await self.do_update_profile(actor, {"avatar_key": image.key})

    async def avatar_bytes(self, account: Account) -> bytes | None:
        if account.avatar_key is None:
            return None
        return await self._media.get(account.avatar_key)

    async def check_change_password(self, actor: Actor, current: str, new: str) -> None:
        async with self._db.read() as conn:
            password_hash = await store.get_password_hash(conn, actor.id)
        if not await self._passwords.verify(password_hash, current):
            raise InvalidCredentials("The current password is not correct.")
        weak = password_problem(
            new,
            min_length=self._settings.password_min_length,
            max_length=self._settings.password_max_length,
            user_inputs=[actor.account.handle, actor.account.display_name],
        )
        if weak:
            raise WeakPassword(weak, details={"field": "new_password", "reason": weak})
        await self._authorize_security(actor, "password_change", Capability.MANAGE_SECURITY)
        new_hash = await self._passwords.hash(new)
        now = self._clock.now()
        async with self._db.write() as tx:
            await store.update_account(tx.conn, actor.id, now, password_hash=new_hash)
            # Other sessions may belong to whoever learned the old password.
            await store.revoke_other_sessions(tx.conn, actor.id, actor.session_id, now)
            self._governance.access_changed(tx, actor.id)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="accounts:password:change",
                target_type="account",
                target_id=actor.id,
            )

    async def _authorize_security(self, actor: Actor, action: str, needs: Capability) -> None:
        """Security settings carry no content, but they are writes: they pass governance too,
        so a rule (or an enforcement step) can see and explain them like any other."""
        await self._governance.authorize(
            actor.standing,
            needs,
            PolicyEvent(
                EventKind.ACCOUNT_SECURITY,
                actor_id=actor.id,
                subject_type="account",
                subject_id=actor.id,
                context={"action": action},
            ),
        )

    # -- two-factor --------------------------------------------------------------------------

    async def begin_two_factor(self, actor: Actor) -> TwoFactorSetupOut:
        await self._authorize_security(actor, "two_factor_setup", Capability.MANAGE_SECURITY)
        if actor.account.two_factor_enabled:
            raise Conflict("Two-factor authentication is already on.", code="two_factor_enabled")
        secret = pyotp.random_base32()
        async with self._db.write() as tx:
            await store.update_account(
                tx.conn, actor.id, self._clock.now(), totp_pending_secret=secret
            )
        uri = pyotp.TOTP(secret).provisioning_uri(
            name=actor.account.handle, issuer_name=self._settings.totp_issuer
        )
        return TwoFactorSetupOut(secret=secret, otpauth_uri=uri)

    async def enable_two_factor(self, actor: Actor, code: str) -> list[str]:
        await self._authorize_security(actor, "two_factor_enable", Capability.MANAGE_SECURITY)
        async with self._db.read() as conn:
            state = await store.get_totp_state(conn, actor.id)
        if state is None or state.totp_pending_secret is None:
            raise Conflict("Start two-factor setup first.", code="two_factor_not_started")
        step = self._matching_step(state.totp_pending_secret, code, last_step=None)
        if step is None:
            raise InvalidTwoFactorCode
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        async with self._db.write() as tx:
            # Only the request that turns this pending secret on wins; a second one (a double
            # click) would otherwise hand out a second set of recovery codes.
            if not await store.activate_totp(
                tx.conn, actor.id, state.totp_pending_secret, step, self._clock.now()
            ):
                raise Conflict("Start two-factor setup first.", code="two_factor_not_started")
            await store.replace_recovery_codes(tx.conn, actor.id, [_code_hash(c) for c in codes])
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="accounts:two_factor:enable",
                target_type="account",
                target_id=actor.id,
            )
        return codes

    async def disable_two_factor(self, actor: Actor, password: str, code: str) -> None:
        await self._authorize_security(actor, "two_factor_disable", Capability.MANAGE_SECURITY)
        async with self._db.read() as conn:
            password_hash = await store.get_password_hash(conn, actor.id)
        if not await self._passwords.verify(password_hash, password):
            raise InvalidCredentials("The password is not correct.")
        if not await self._verify_second_factor(actor.id, code, allow_recovery=True):
            raise InvalidTwoFactorCode
        async with self._db.write() as tx:
            await store.update_account(
                tx.conn, actor.id, self._clock.now(), totp_secret=None, totp_last_step=None
            )
            await store.replace_recovery_codes(tx.conn, actor.id, [])
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="accounts:two_factor:disable",
                target_type="account",
                target_id=actor.id,
            )

    async def regenerate_recovery_codes(self, actor: Actor, code: str) -> list[str]:
        await self._authorize_security(actor, "recovery_codes", Capability.MANAGE_SECURITY)
        if not actor.account.two_factor_enabled:
            raise Conflict("Two-factor authentication is off.", code="two_factor_disabled")
        if not await self._verify_second_factor(actor.id, code, allow_recovery=False):
            raise InvalidTwoFactorCode
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        async with self._db.write() as tx:
            await store.replace_recovery_codes(tx.conn, actor.id, [_code_hash(c) for c in codes])
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="accounts:two_factor:recovery_codes",
                target_type="account",
                target_id=actor.id,
            )
        return codes

    def _matching_step(self, secret: str, code: str, last_step: int | None) -> int | None:
        """The time step a TOTP code belongs to (±1 step of drift), refusing replays."""
        code = code.strip().replace(" ", "")
        if not (code.isdigit() and len(code) == 6):
            return None
        totp = pyotp.TOTP(secret)
        current = int(self._clock.now().timestamp()) // totp.interval
        for step in (current - 1, current, current + 1):
            if last_step is not None and step <= last_step:
                continue
            if hmac.compare_digest(totp.at(step * totp.interval), code):
                return step
        return None

    async def _verify_second_factor(
        self, account_id: str, code: str, *, allow_recovery: bool
    ) -> bool:
        async with self._db.read() as conn:
            state = await store.get_totp_state(conn, account_id)
        if state is None or state.totp_secret is None:
            return False
        step = self._matching_step(state.totp_secret, code, state.totp_last_step)
        now = self._clock.now()
        if step is not None:
            # Claimed atomically: of two requests racing with one code, only one gets it.
            async with self._db.write() as tx:
                return await store.claim_totp_step(tx.conn, account_id, step, now)
        if allow_recovery:
            async with self._db.write() as tx:
                used = await store.use_recovery_code(
                    tx.conn, account_id, _code_hash(_normalize_recovery(code)), now
                )
                if used:
                    await self._governance.audit(
                        tx,
                        actor_id=account_id,
                        tag="accounts:two_factor:recovery_code_used",
                        target_type="account",
                        target_id=account_id,
                    )
            return used
        return False

    # -- terms -------------------------------------------------------------------------------

    async def accept_terms(self, actor: Actor, version: str) -> list[TermsAcceptanceOut]:
        if version != self._settings.current_terms_version:
            raise InvalidInput(
                "Only the current terms can be accepted.",
                details={"current_version": self._settings.current_terms_version},
                code="terms_version_unknown",
            )
        await self._authorize_security(actor, "terms_accept", Capability.LOGIN)
        async with self._db.write() as tx:
            await store.record_terms(tx.conn, actor.id, version, self._clock.now())
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="accounts:terms:accept",
                target_type="account",
                target_id=actor.id,
                after={"version": version},
            )
        return await self.list_terms(actor)

    async def list_terms(self, actor: Actor) -> list[TermsAcceptanceOut]:
        async with self._db.read() as conn:
            rows = await store.list_terms(conn, actor.id)
        return [TermsAcceptanceOut(version=r.version, accepted_at=r.accepted_at) for r in rows]

    # -- verification ------------------------------------------------------------------------

    async def start_verification(
        self, actor: Actor, level: VerificationLevel, claim: str
    ) -> VerificationChallengeOut:
        if level is VerificationLevel.NONE:
            raise InvalidInput("Choose phone or identity.", details={"field": "level"})
        await self._authorize_security(actor, "verification_start", Capability.MANAGE_SECURITY)
        secret, dev_code = await self._verifier.start(level, claim)
        now = self._clock.now()
        challenge_id = new_id()
        async with self._db.write() as tx:
            await store.insert_challenge(
                tx.conn,
                id=challenge_id,
                account_id=actor.id,
                level=level.value,
                claim_hash=hashlib.sha256(claim.strip().encode()).hexdigest(),
                created_at=now,
                expires_at=now + CHALLENGE_TTL,
                attempts=0,
                completed=False,
                secret=secret,
            )
        return VerificationChallengeOut(
            challenge_id=challenge_id, level=level, development_code=dev_code
        )

    async def complete_verification(self, actor: Actor, challenge_id: str, code: str) -> Account:
        now = self._clock.now()
        async with self._db.read() as conn:
            challenge = await store.get_challenge(conn, challenge_id, actor.id)
        if challenge is None or challenge.completed or challenge.expires_at <= now:
            raise NotFound("No open verification with this id.")
        retry_after = int((challenge.expires_at - now).total_seconds())
        if challenge.attempts >= CHALLENGE_MAX_ATTEMPTS:
            raise RateLimited(retry_after)
        # Take one attempt atomically before checking, so parallel guesses cannot exceed the limit.
        async with self._db.write() as tx:
            counted = await store.count_challenge_attempt(
                tx.conn, challenge_id, actor.id, now, CHALLENGE_MAX_ATTEMPTS
            )
        if not counted:
            raise RateLimited(retry_after)
        if not await self._verifier.check(challenge.secret, code):
            raise InvalidInput("The code is not correct.", code="verification_failed")
        level = VerificationLevel(challenge.level)
        async with self._db.write() as tx:
            account = await store.get_account(tx.conn, actor.id)
            if account is None or not await store.complete_challenge(tx.conn, challenge_id):
                raise NotFound("No open verification with this id.")
            current = account.verification_level
            order = list(VerificationLevel)
            new_level = level if order.index(level) > order.index(current) else current
            await store.update_account(tx.conn, actor.id, now, verification_level=new_level.value)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="accounts:verification:complete",
                target_type="account",
                target_id=actor.id,
                before={"verification_level": current.value},
                after={"verification_level": new_level.value},
            )
            updated = await store.get_account(tx.conn, actor.id)
        assert updated is not None
        return updated


def _new_recovery_code() -> str:
    raw = secrets.token_hex(5)
    return f"{raw[:5]}-{raw[5:]}"


def _normalize_recovery(code: str) -> str:
    cleaned = code.strip().lower().replace(" ", "").replace("-", "")
    return f"{cleaned[:5]}-{cleaned[5:]}"


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
