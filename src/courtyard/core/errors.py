"""One error hierarchy with stable machine-readable codes.

Services raise these; the HTTP layer, the web pages and the CLI map them to JSON, HTML or
terminal output. Services never import HTTP types, so ``http_status`` is only a hint carried
by the error class.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CourtyardError(Exception):
    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        if code is not None:
            self.code = code  # type: ignore[misc]  # a subclass may refine the code per instance
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(CourtyardError):
    code = "invalid_input"
    http_status = 422
    default_message = "Some of the input is not valid."


class NotFound(CourtyardError):
    """Also raised when the actor may not see the object, so that existence never leaks."""

    code = "not_found"
    http_status = 404
    default_message = "Not found."


class Conflict(CourtyardError):
    code = "conflict"
    http_status = 409
    default_message = "The request conflicts with the current state."


class Unauthenticated(CourtyardError):
    code = "unauthenticated"
    http_status = 401
    default_message = "You need to log in."


class Forbidden(CourtyardError):
    code = "forbidden"
    http_status = 403
    default_message = "You are not allowed to do this."


class RateLimited(CourtyardError):
    code = "rate_limited"
    http_status = 429
    default_message = "Too many attempts. Try again later."

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        self.retry_after_seconds = max(1, int(retry_after_seconds))
        super().__init__(message, details={"retry_after_seconds": self.retry_after_seconds})


class PayloadTooLarge(CourtyardError):
    code = "payload_too_large"
    http_status = 413
    default_message = "The request body is too large."


class UnsupportedMedia(CourtyardError):
    code = "unsupported_media"
    http_status = 415
    default_message = "This kind of file is not supported."


class CapabilityDenied(CourtyardError):
    """The account's current capabilities do not include the one this action needs."""

    code = "capability_denied"
    http_status = 403
    default_message = "Your account cannot do this right now."


class PolicyBlocked(CourtyardError):
    """Governance decided to block this write; details carry the statement for the author."""

    code = "policy_blocked"
    http_status = 422
    default_message = "This was not published because it breaks a rule."


class PolicyHeld(PolicyBlocked):
    """Governance holds this write for review; the author is told, nobody else sees it.

    A held chat message is kept for its author (``details.withheld_id``) with a notice
    (``details.statement_id``) until a reviewer delivers or rejects it.
    """

    code = "policy_held"
    default_message = "This was held for review because it may break a rule."


class SchemaTooNew(CourtyardError):
    code = "schema_too_new"
    http_status = 500
    default_message = "The database was created by a newer Courtyard; upgrade this binary."
