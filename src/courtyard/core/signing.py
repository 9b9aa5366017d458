"""Short-lived signed tokens (HMAC-SHA256) for stateless tickets: 2FA steps, device cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from courtyard.core import json


class BadSignature(ValueError):
    pass


class Signer:
    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hashlib.sha256(f"{purpose}\x00{secret}".encode()).digest()

    def sign(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload)).rstrip(b"=")
        mac = base64.urlsafe_b64encode(hmac.digest(self._key, body, "sha256")).rstrip(b"=")
        return (body + b"." + mac).decode()

    def unsign(self, token: str) -> dict[str, Any]:
        try:
            body, mac = token.encode().split(b".", 1)
        except ValueError as exc:
            raise BadSignature("malformed token") from exc
        expected = base64.urlsafe_b64encode(hmac.digest(self._key, body, "sha256")).rstrip(b"=")
        if not hmac.compare_digest(mac, expected):
            raise BadSignature("bad signature")
        padded = body + b"=" * (-len(body) % 4)
        try:
            value = json.loads(base64.urlsafe_b64decode(padded))
        except ValueError as exc:
            raise BadSignature("malformed payload") from exc
        if not isinstance(value, dict):
            raise BadSignature("malformed payload")
        return value


def token_hash(token: str) -> str:
    """Opaque tokens are stored only as hashes, so a database leak yields no live session."""
    return hashlib.sha256(token.encode()).hexdigest()
