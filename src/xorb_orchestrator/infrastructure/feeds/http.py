"""Reading feed documents over HTTP(S) or from a file: credentials from references, timeouts, a size cap, and
errors that say whether trying again can help.

Messages name a URL as scheme://host/path only: a feed URL may carry its key in the query string. Header values
(credentials) are never repeated, nor is what the server wrote in its error bodies.

Redirects are followed here (at most MAX_REDIRECTS) rather than by httpx, so that credentials go only to the
origin the feed names: httpx would drop `Authorization` on a cross-origin redirect but keep a custom key header.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from xorb_orchestrator.infrastructure.feeds.base import FeedError, FeedNotFound, FeedRejected, FeedUnavailable
from xorb_orchestrator.infrastructure.feeds.secrets import resolve_secret
from xorb_orchestrator.intel.feeds_config import AuthType, FeedAuth

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
TIMEOUT = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
USER_AGENT = "xorb-orchestrator"
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Fetched:
    """A successful answer: its whole body (at most the cap) and its headers."""

    body: bytes
    headers: httpx.Headers


def shown(url: str) -> str:
    """`url` as messages may show it: scheme://host[:port]/path, without credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def status_error(what: str, status: int, retry_after: str | None = None) -> FeedError:
    """The error for an HTTP status that is not success: 408/429/5xx can pass, other statuses will not."""
    said = f"{what} answered {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
    if status in (408, 429) or status >= 500:
        seconds = retry_after_seconds(retry_after)
        return FeedUnavailable(said + (f"; the server asks to retry after {seconds} s" if seconds is not None else ""))
    if status in (401, 403):
        return FeedRejected(f"{said}: check the feed's credentials")
    if status in (404, 410):
        return FeedNotFound(said)
    return FeedRejected(said)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> int | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, round((when - (now or datetime.now(UTC))).total_seconds()))


def json_document(body: bytes, where: str) -> Any:
    """The JSON value of a document; FeedRejected when it is not JSON."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        detail = f" at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise FeedRejected(f"{where} is not JSON{detail}") from None


def text_document(body: bytes) -> str:
    """A text document as text: UTF-8 (a byte-order mark dropped); a stray byte spoils one line, not the feed."""
    return body.decode("utf-8-sig", errors="replace")


class FeedClient:
    """HTTP for one reader: an httpx client made on first use (file feeds never need one), closed by `aclose`."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def read(self, location: str, auth: FeedAuth | None, *, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
        """A feed's document: an absolute file path is read from disk, anything else fetched with GET."""
        if location.startswith("/"):
            return await read_file(location, limit=limit)
        return (await self.get(location, auth, limit=limit)).body

    async def get(
        self,
        url: str,
        auth: FeedAuth | None,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int = MAX_DOCUMENT_BYTES,
    ) -> Fetched:
        """GET `url` with the feed's credentials; FeedUnavailable or FeedRejected when it does not succeed."""
        return await self._fetch("GET", url, auth, params=params, headers=headers, body=None, limit=limit)

    async def post(
        self,
        url: str,
        auth: FeedAuth | None,
        *,
        body: object,
        headers: Mapping[str, str] | None = None,
        limit: int = MAX_DOCUMENT_BYTES,
    ) -> Fetched:
        """POST `body` as JSON to `url` with the feed's credentials (errors as `get`)."""
        return await self._fetch("POST", url, auth, params=None, headers=headers, body=body, limit=limit)

    async def _fetch(
        self,
        method: str,
        url: str,
        auth: FeedAuth | None,
        *,
        params: Mapping[str, str | int] | None,
        headers: Mapping[str, str] | None,
        body: object,
        limit: int,
    ) -> Fetched:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})
        origin = _origin(url)
        what = f"{method} {shown(url)}"
        for _ in range(MAX_REDIRECTS + 1):
            secret_headers, basic = _credentials(auth) if _origin(url) == origin else ({}, None)
            try:
                request = self._client.build_request(
                    method, url, params=params, headers={**(headers or {}), **secret_headers}, json=body
                )
                response = await self._client.send(request, auth=basic, stream=True)
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                raise _transfer_error(what, error) from None
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    url = _redirect_target(what, response)
                    params = None  # the Location is complete
                    if response.status_code in (301, 302, 303) and method != "GET":
                        method, body = "GET", None  # as browsers and curl do
                    continue
                if not response.is_success:
                    raise status_error(what, response.status_code, response.headers.get("retry-after"))
                return Fetched(await _capped_body(what, response, limit), response.headers)
            finally:
                await response.aclose()
        raise FeedRejected(f"{what}: more than {MAX_REDIRECTS} redirects")


async def read_file(path: str, *, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """A local document (a file feed's `url`), at most `limit` bytes."""
    return await asyncio.to_thread(_read_file, path, limit)


def _read_file(path: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except FileNotFoundError:
        raise FeedNotFound(f"no file at {path}") from None
    except IsADirectoryError:
        raise FeedRejected(f"{path} is a directory, not a feed document") from None
    except PermissionError:
        raise FeedRejected(f"{path} cannot be read: permission denied") from None
    except OSError as error:  # an I/O error or a stale network mount may pass
        raise FeedUnavailable(f"{path} cannot be read: {error.strerror or type(error).__name__}") from None
    if len(data) > limit:
        raise FeedRejected(f"{path} is larger than {_size(limit)}, the limit for one feed document")
    return data


def _credentials(auth: FeedAuth | None) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """The request's credential headers or basic auth, the secret resolved now (never kept)."""
    if auth is None:
        return {}, None
    token = resolve_secret(auth.token)
    if auth.type is AuthType.BEARER:
        return {"Authorization": f"Bearer {token}"}, None
    if auth.type is AuthType.BASIC:
        return {}, httpx.BasicAuth(auth.username or "", token)
    return {str(auth.header): token}, None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = httpx.URL(url)
    return parts.scheme, parts.host, parts.port


def _redirect_target(what: str, response: httpx.Response) -> str:
    try:
        target = response.url.join(response.headers["location"])
    except httpx.InvalidURL:
        raise FeedRejected(f"{what} redirected to an invalid location") from None
    if target.scheme not in ("http", "https"):
        raise FeedRejected(f"{what} redirected to a {target.scheme or 'schemeless'} location, not http(s)")
    return str(target)


async def _capped_body(what: str, response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FeedRejected(f"{what}: the document is {int(declared)} bytes, more than the {_size(limit)} limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise FeedRejected(f"{what}: the document is larger than the {_size(limit)} limit")
            chunks.append(chunk)
    except httpx.HTTPError as error:
        raise _transfer_error(what, error) from None
    return b"".join(chunks)


def _transfer_error(what: str, error: Exception) -> FeedError:
    """An httpx failure as one line: the kind of failure, never its text (which may quote the URL)."""
    kind = type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        return FeedUnavailable(f"{what}: no answer in time ({kind})")
    if isinstance(error, httpx.ConnectError):
        return FeedUnavailable(f"{what}: cannot connect ({kind})")
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return FeedUnavailable(f"{what}: the transfer broke off ({kind})")
    if isinstance(error, httpx.DecodingError):
        return FeedRejected(f"{what}: the body cannot be decoded as its Content-Encoding says ({kind})")
    if isinstance(error, httpx.InvalidURL | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return FeedRejected(f"{what}: the request cannot be made ({kind})")
    return FeedUnavailable(f"{what}: network error ({kind})")


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
