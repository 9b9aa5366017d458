"""Fuzz every operation in the OpenAPI spec against the in-process app (SQLite).

Schemathesis generates valid and invalid requests for each operation, sent with a registered
user's bearer token. Whatever it sends, the server answers without a 5xx, and every error
answer has the one error shape: {"error": {"code", "message", "details"}}.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from courtyard.app import create_app
from tests.conftest import PASSWORD, base_settings

_ROOT = Path(tempfile.mkdtemp(prefix="courtyard-fuzz-"))
app = create_app(base_settings(f"sqlite:///{_ROOT}/fuzz.db", _ROOT / "data"))
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    # Bounded so the suite stays quick; raise it for a deeper run (COURTYARD_FUZZ_EXAMPLES=500).
    max_examples=int(os.environ.get("COURTYARD_FUZZ_EXAMPLES", "25")),
)

_session: dict[str, str] = {}


def bearer() -> dict[str, str]:
    """A logged-in user's token; a fresh user after the fuzzer logs the previous one out."""
    if "token" not in _session:
        _session["n"] = str(int(_session.get("n", "0")) + 1)
        body = {"handle": f"fuzzer{_session['n']}", "password": PASSWORD, "accept_terms": True}
        response = schema["/api/v1/accounts"]["POST"].Case(body=body).call()
        assert response.status_code == 201, response.text
        _session["token"] = response.json()["session"]["token"]
    return {"Authorization": f"Bearer {_session['token']}"}


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_one_error_shape(case: Any) -> None:
    response = case.call(headers=bearer())
    if case.path == "/api/v1/sessions/current" and response.status_code == 204:
        del _session["token"]  # the fuzzer logged out; the next case registers a new user
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}\n"
        f"{case.as_curl_command()}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"code", "message", "details"}, body
        assert isinstance(error["code"], str)
        assert error["code"]
        assert isinstance(error["message"], str)
        assert isinstance(error["details"], dict)
