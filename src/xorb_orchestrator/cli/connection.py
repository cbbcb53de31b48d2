"""What every command shares: how an error is printed, and the connection to the API (URL, key, one call)."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import httpx
import typer

from xorb_orchestrator.config import Settings, SettingsError, load_settings

ApiUrl = Annotated[
    str | None,
    typer.Option(help="The API's base URL (default: XORB_API_URL, else http://127.0.0.1:8000).", show_default=False),
]
ApiKey = Annotated[str | None, typer.Option(help="API key (default: XORB_API_KEY).", show_default=False)]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `xorb: error: <message>` on stderr; raise what this returns. Code 2: bad usage, 1: it did not work."""
    typer.echo(f"xorb: error: {message}", err=True)
    return typer.Exit(code)


def settings_or_fail() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


def api_endpoint(api_url: str | None, api_key: str | None, settings: Settings | None = None) -> tuple[str, str]:
    """The API's base URL and key, from the options or XORB_API_URL / XORB_API_KEY; one line naming what is wrong."""
    settings = settings or settings_or_fail()
    url = (api_url or settings.client_api_url).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise fail(f"--api-url: expected an http(s) URL, got {url!r}", 2)
    key = api_key or settings.client_api_key
    if not key:
        raise fail("no API key: pass --api-key or set XORB_API_KEY (`xorb dev` keeps its key in .xorb-dev/api_key)", 2)
    return url, key


def call_api(
    method: str,
    path: str,
    *,
    api_url: str | None,
    api_key: str | None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """One request to the API: (status, JSON). Unreachable, timed out or refused key: fail with one line."""
    url, key = api_endpoint(api_url, api_key)
    sent = {"Authorization": f"Bearer {key}", **(headers or {})}
    try:
        response = httpx.request(method, url + path, json=body, headers=sent, timeout=timeout)
    except httpx.TimeoutException:
        raise fail(f"the API at {url} did not answer within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the API at {url} ({exc}); is it running? (`xorb dev`, or set XORB_API_URL)") from None
    try:
        data = response.json()
    except ValueError:
        data = {"message": response.text[:300]}
    if response.status_code == 401:
        raise fail("the API refused the key: check --api-key / XORB_API_KEY")
    return response.status_code, data


def error_text(data: Any) -> str:
    """The API's error answer as the lines to print: its message, then any further errors it lists."""
    if isinstance(data, dict):
        message = str(data.get("message") or data.get("error") or data)
        extra = [str(e) for e in data.get("errors", [])[1:]] if isinstance(data.get("errors"), list) else []
        # An invalid request names each bad field: say what is wrong with it, not only which.
        fields = data.get("fields")
        for item in fields if isinstance(fields, list) else []:
            if isinstance(item, dict) and item.get("message"):
                extra.append(f"{item.get('field')}: {item.get('message')}")
        return "\n".join([message, *extra])
    return str(data)


def post_as_person(
    path: str, body: Any, name: str | None, roles: list[str] | None, api_url: str | None, api_key: str | None
) -> Any:
    """POST a person's decision (an approval, the kill switch, a release): as `name`/`roles` when given, else as the
    key's person. A service key must say who (the API answers 422 missing_approver, having recorded nothing): the
    login name is sent then. The answer's JSON; fail with the API's error otherwise."""
    headers = {"X-Xorb-Roles": ",".join(roles)} if roles else {}
    if name:
        headers["X-Xorb-Approver"] = name
    status, data = call_api("POST", path, api_url=api_url, api_key=api_key, body=body, headers=headers)
    if status == 422 and not name and isinstance(data, dict) and data.get("error") == "missing_approver":
        headers["X-Xorb-Approver"] = getpass.getuser()
        status, data = call_api("POST", path, api_url=api_url, api_key=api_key, body=body, headers=headers)
    if status != 200:
        raise fail(error_text(data))
    return data
