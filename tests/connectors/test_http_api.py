"""The http connector against a local API: the connection's credential attached at call time (bearer, basic, a
named header, OAuth2 client credentials fetched once, cached, and fetched again on a 401), paths that cannot leave
the base URL, and the answers as refusals or failures to retry."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.http_api import CallArgs, call

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONTEXT = CallContext(key="incident-1/ticket", incident_id="incident-1", attempt=1)
SECRET = "s3cr3t-" + "http-api"


class Api:
    """Tokens at /oauth/token (each a new one); /v2/... answers 200 for the current token, 401 once revoked."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.tokens_issued = 0
        self.valid_token: str | None = None
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                                       "body": raw.decode()})  # fmt: skip
                if self.path == "/oauth/token":
                    form = parse_qs(raw.decode())
                    assert form["client_secret"] == [SECRET] and form["grant_type"] == ["client_credentials"]
                    owner.tokens_issued += 1
                    owner.valid_token = f"tok-{owner.tokens_issued}"
                    self._send(200, {"access_token": owner.valid_token, "expires_in": 3600})
                    return
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Bearer tok-") and auth != f"Bearer {owner.valid_token}":
                    self._send(401, {"error": "expired"})
                    return
                self._send(owner.status, {"key": "SOC-42"}, {"Location": "/v2/tickets/SOC-42"})

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("XORB_TEST_API_SECRET", SECRET)
    running = Api()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def connection(api: Api, auth: Auth, name: str = "soc") -> Connection:
    return Connection(name=name, type="http", url=f"{api.url}/v2/", auth=auth)


async def test_each_kind_of_credential_is_attached_at_call_time(api: Api) -> None:
    kinds = {
        "bearer": (Auth(type="bearer", token="env:XORB_TEST_API_SECRET"), "Authorization", f"Bearer {SECRET}"),
        "basic": (Auth(type="basic", username="xorb", token="env:XORB_TEST_API_SECRET"), "Authorization",
                  "Basic " + base64.b64encode(f"xorb:{SECRET}".encode()).decode()),
        "header": (Auth(type="header", header="X-Api-Key", token="env:XORB_TEST_API_SECRET"), "X-Api-Key", SECRET),
    }  # fmt: skip
    for name, (auth, header, expected) in kinds.items():
        done = await call(connection(api, auth), CallArgs(method="POST", path="tickets", json={"t": 1}), CONTEXT)
        sent = api.requests[-1]
        assert (sent["path"], sent["headers"][header]) == ("/v2/tickets", expected), name
        assert sent["headers"]["Idempotency-Key"] == CONTEXT.key
        assert done.receipt is not None and done.receipt.handle == "/v2/tickets/SOC-42"
        assert SECRET not in json.dumps(done.details) + done.receipt.model_dump_json()


async def test_an_oauth2_token_is_fetched_once_and_again_when_refused(api: Api) -> None:
    auth = Auth(type="oauth2", token_url=f"{api.url}/oauth/token", client_id="xorb",
                client_secret="env:XORB_TEST_API_SECRET", scope="tickets")  # fmt: skip
    soc = connection(api, auth, name="soc-oauth")
    await call(soc, CallArgs(path="tickets/1"), CONTEXT)
    await call(soc, CallArgs(path="tickets/2"), CONTEXT)
    assert api.tokens_issued == 1  # cached
    api.valid_token = "revoked-by-the-idp"  # the IdP rotated its keys: our cached token is refused
    await call(soc, CallArgs(path="tickets/3"), CONTEXT)
    assert api.tokens_issued == 2 and api.requests[-1]["headers"]["Authorization"] == "Bearer tok-2"


async def test_paths_stay_under_the_base_url_and_answers_are_classified(api: Api) -> None:
    for bad in ("../admin", "//evil.example/x", "http://evil.example/", "a/./b"):
        with pytest.raises(ValueError):
            CallArgs(path=bad)
    with pytest.raises(ValueError, match="credentials come from the connection"):
        CallArgs(path="x", headers={"Authorization": "Bearer mine"})
    soc = connection(api, Auth(type="bearer", token="env:XORB_TEST_API_SECRET"))
    for status, error in ((404, ConnectorRejected), (429, ConnectorUnavailable), (503, ConnectorUnavailable)):
        api.status = status
        with pytest.raises(error, match=f"answered {status}"):
            await call(soc, CallArgs(path="tickets"), CONTEXT)
    missing = connection(api, Auth(type="bearer", token="env:XORB_TEST_NOT_SET_ANYWHERE"))
    with pytest.raises(ConnectorRejected, match="env:XORB_TEST_NOT_SET_ANYWHERE is not set"):
        await call(missing, CallArgs(path="tickets"), CONTEXT)
