"""A TAXII 2.1 collection, read one `Get Objects` response per page (or more pages, when a response holds more).

The collection is found with taxii2-client, the OASIS client (synchronous, so in a thread): under `api_root`, else
under each API root the server's discovery at `url` lists (its default first), the collection whose id or title is
`collection`. The objects are fetched with httpx, because taxii2-client's `get_objects` returns only the envelope
and paging needs the `X-TAXII-Date-Added-Last` header too.

The cursor is a small JSON object (TaxiiCursor):
- `added_after`: this sync's filter, the `resume_after` a previous finished sync stored (none: everything);
- `next`: the server's token for the next response; a server that says `more` without one is asked again with
  `added_after` = the response's X-TAXII-Date-Added-Last;
- `newest`: the newest X-TAXII-Date-Added-Last applied so far, every page's `resume_after`;
- `seq`: the number of the response in this sync. A server may give one `next` token for a whole paging session
  and advance it on its side (medallion does), so the token alone does not tell two responses apart;
- `skip`: verdicts of the current response already served. One response of MAX_PAGE objects can hold more than
  MAX_PAGE verdicts (a pattern may OR many values), so it is served in slices and kept between them (recent.py);
- `markings`: marking definitions from earlier pages (bounded), parsed again with later pages, so an indicator
  marked by a custom TLP definition that came on an earlier page keeps its TLP. The standard TLP 1.0 and 2.0
  definitions need none of this: stix.py knows their ids.

A `next` token the server has forgotten (medallion forgets them after 30 s, as when a failed page is retried later)
is refused with 400 or 404; the page is then asked for again with `added_after` = `newest`, where what was applied
ends. Where a token stands for a session that advances with each request (medallion), asking twice with one token
gets the following objects, not the same ones: a page retried in the same worker is answered from RESPONSES, so it
gets the same objects; after a worker restart it gets the following ones, and what it missed comes with the next
full sync.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Server

from xorb_orchestrator.infrastructure.feeds.base import MAX_PAGE, FeedPage, FeedRejected, FeedUnavailable
from xorb_orchestrator.infrastructure.feeds.http import (
    CONNECT_TIMEOUT,
    MAX_REDIRECTS,
    READ_TIMEOUT,
    FeedClient,
    json_document,
    shown,
    status_error,
)
from xorb_orchestrator.infrastructure.feeds.recent import Recent
from xorb_orchestrator.infrastructure.feeds.secrets import resolve_secret
from xorb_orchestrator.intel.batch import FeedFormatError, ParsedFeed
from xorb_orchestrator.intel.feeds_config import AuthType, FeedAuth, FeedConfig, FeedType
from xorb_orchestrator.intel.stix import TLP_MARKINGS, parse_stix, stix_objects
from xorb_orchestrator.intel.times import parse_time

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
# Bounds that keep a cursor well under the 4,096 characters a sync carries in its history.
MAX_TOKEN_CHARS = 1000
MAX_TIME_CHARS = 64
MAX_MARKINGS = 6
MAX_MARKING_CHARS = 300
_MARKING_KEYS = ("type", "id", "definition_type", "definition", "name", "extensions")

RESPONSES: Recent[_Response] = Recent(8)  # at most MAX_PAGE objects each
COLLECTIONS: Recent[str] = Recent(32)  # the objects URL, found once per sync


class TaxiiCursor(BaseModel):
    """Where the next page starts (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    added_after: str | None = Field(None, max_length=MAX_TIME_CHARS)
    next: str | None = Field(None, max_length=MAX_TOKEN_CHARS)
    newest: str | None = Field(None, max_length=MAX_TIME_CHARS)
    seq: int = Field(0, ge=0)
    skip: int = Field(0, ge=0)
    markings: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_MARKINGS)

    @classmethod
    def read(cls, cursor: str) -> TaxiiCursor:
        try:
            return cls.model_validate_json(cursor)
        except ValidationError:
            raise FeedRejected(f"cursor {cursor[:40]!r} is not a TAXII position this reader wrote") from None

    def text(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


@dataclass(frozen=True)
class _Response:
    """One Get Objects response, parsed."""

    parsed: ParsedFeed
    objects: int
    more: bool
    next: str | None
    last: str | None  # X-TAXII-Date-Added-Last
    markings: list[dict[str, Any]]


class TaxiiReader:
    """Pages of one TAXII 2.1 collection for one sync, from `resume_after` (None: from the start)."""

    def __init__(self, feed: FeedConfig, *, sync_id: str, resume_after: str | None = None) -> None:
        if feed.type is not FeedType.TAXII or feed.collection is None:
            raise ValueError(f"a {feed.type} feed is not a TAXII collection")
        self._feed = feed
        self._sync_id = sync_id
        self._resume_after = resume_after
        self._http = FeedClient()

    async def read_page(self, cursor: str | None) -> FeedPage:
        position = TaxiiCursor.read(cursor) if cursor else self._start()
        try:
            response = await self._response(position)
        except FeedRejected:
            if position.next is None:
                raise
            # The server forgot its token: ask again from where what was applied ends.
            position = TaxiiCursor(
                added_after=position.newest or position.added_after,
                newest=position.newest,
                seq=position.seq,
                markings=position.markings,
            )
            response = await self._response(position)
        verdicts = response.parsed.verdicts[position.skip : position.skip + MAX_PAGE]
        end = position.skip + len(verdicts)
        first = position.skip == 0
        if end < len(response.parsed.verdicts):
            following: TaxiiCursor | None = position.model_copy(update={"skip": end})
            newest = position.newest
        else:
            newest = _later(position.newest, response.last)
            following = self._after(position, response, newest)
        return FeedPage(
            verdicts=verdicts,
            next_cursor=following.text() if following is not None else None,
            skipped=response.parsed.skipped if first else 0,
            reasons=list(response.parsed.reasons) if first else [],
            resume_after=newest or self._resume_after,
        )

    async def close(self) -> None:
        await self._http.aclose()

    def _start(self) -> TaxiiCursor:
        if self._resume_after is not None and _time(self._resume_after) is None:
            raise FeedRejected(f"resume_after {self._resume_after[:40]!r} is not a time: a full sync starts afresh")
        return TaxiiCursor(added_after=self._resume_after)

    def _after(self, position: TaxiiCursor, response: _Response, newest: str | None) -> TaxiiCursor | None:
        """The request after a response served in full; None when the server has no more."""
        if not response.more:
            return None
        if response.objects == 0:  # asking again would go round in circles
            raise FeedRejected(f"{shown(self._feed.url)}: the collection says it has more, but sent nothing")
        markings = _bounded([*position.markings, *response.markings])
        seq = position.seq + 1
        if response.next is not None:
            return TaxiiCursor(
                added_after=position.added_after, next=response.next, newest=newest, seq=seq, markings=markings
            )
        if response.last is not None and _later(position.added_after, response.last) != position.added_after:
            return TaxiiCursor(added_after=response.last, newest=newest, seq=seq, markings=markings)
        raise FeedRejected(
            f"{shown(self._feed.url)}: the collection says it has more, but gives neither `next` "
            "nor a newer X-TAXII-Date-Added-Last to ask for it"
        )

    async def _response(self, position: TaxiiCursor) -> _Response:
        key = (self._feed.name, self._sync_id, position.seq, position.added_after, position.next)
        response = RESPONSES.get(key)
        if response is None:
            response = await self._fetch(position)
            RESPONSES.put(key, response)
        return response

    async def _fetch(self, position: TaxiiCursor) -> _Response:
        url = await self._objects_url()
        # The same filter on every request: a server checks that `next` comes with the filter it was made for.
        params: dict[str, str | int] = {"limit": MAX_PAGE}
        if position.added_after:
            params["added_after"] = position.added_after
        if position.next:
            params["next"] = position.next
        fetched = await self._http.get(url, self._feed.auth, params=params, headers={"Accept": TAXII_MEDIA_TYPE})
        where = shown(url)
        envelope = json_document(fetched.body, where)
        try:
            objects = stix_objects(envelope)
        except FeedFormatError as error:
            raise FeedRejected(f"{where} is not a TAXII 2.1 envelope: {error}") from None
        more, token = _paging(envelope, where)
        # Markings from earlier pages go first, as if they were in this response.
        parsed = await asyncio.to_thread(parse_stix, [*position.markings, *objects], defaults=self._feed.defaults())
        return _Response(
            parsed=parsed,
            objects=len(objects),
            more=more,
            next=token,
            last=_time(fetched.headers.get("x-taxii-date-added-last")),
            markings=_custom_markings(objects),
        )

    async def _objects_url(self) -> str:
        key = (self._feed.name, self._sync_id)
        url = COLLECTIONS.get(key)
        if url is None:
            url = await asyncio.to_thread(find_collection, self._feed)
            COLLECTIONS.put(key, url)
        return url


def find_collection(feed: FeedConfig) -> str:
    """The objects URL of the feed's collection, found with taxii2-client (blocking: run it in a thread)."""
    connection = _connection(feed.auth)
    try:
        roots = [feed.api_root] if feed.api_root else _discovered_roots(feed.url, connection)
        for root_url in roots:
            for collection in ApiRoot(root_url, conn=connection).collections:
                if feed.collection in (collection.id, collection.title):
                    if not collection.can_read:
                        raise FeedRejected(f"the TAXII collection {feed.collection!r} does not allow reading")
                    return str(collection.objects_url)
        under = shown(feed.api_root) if feed.api_root else f"the API roots {shown(feed.url)} lists"
        raise FeedRejected(f"no TAXII collection with the id or title {feed.collection!r} under {under}")
    except requests.HTTPError as error:
        response = error.response
        if response is None:
            raise FeedUnavailable(f"{shown(feed.url)}: the TAXII server's answer was lost") from None
        what = f"GET {shown(response.url)}"
        raise status_error(what, response.status_code, response.headers.get("retry-after")) from None
    except requests.RequestException as error:
        raise _request_error(feed, error) from None
    except (TAXIIServiceException, KeyError, TypeError, ValueError):
        # The library's messages quote URLs in full; the kind of failure is enough here.
        raise FeedRejected(f"{shown(feed.api_root or feed.url)} does not answer as a TAXII 2.1 server") from None
    finally:
        connection.close()


def _discovered_roots(url: str, connection: _HTTPConnection) -> list[str]:
    server = Server(url, conn=connection)
    roots = [server.default] if server.default is not None else []
    roots += [root for root in server.api_roots if root is not server.default]
    for root in server.api_roots:
        root.close()  # taxii2-client gives each its own session; only the URLs are used
    return [str(root.url) for root in roots]


class _TaxiiSession(requests.Session):
    """A requests session with the feed's timeouts and redirect bound, whose key header stays with its host."""

    def __init__(self, key_header: str | None) -> None:
        super().__init__()
        self.max_redirects = MAX_REDIRECTS
        self._key_header = key_header

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        # taxii2-client sets no timeout: without one a silent server holds the activity forever.
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (CONNECT_TIMEOUT, READ_TIMEOUT)
        return super().request(method, url, *args, **kwargs)

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        # requests drops Authorization on a redirect to another host, but not a custom key header.
        super().rebuild_auth(prepared_request, response)
        old = response.request.url if response.request is not None else None
        if self._key_header and old and self.should_strip_auth(str(old), str(prepared_request.url)):
            prepared_request.headers.pop(self._key_header, None)


def _connection(auth: FeedAuth | None) -> _HTTPConnection:
    """taxii2-client's connection on our session, the secret resolved now and gone with the session."""
    key_header = auth.header if auth is not None and auth.type is AuthType.HEADER else None
    session = _TaxiiSession(key_header)
    if auth is not None:
        token = resolve_secret(auth.token)
        if auth.type is AuthType.BEARER:
            session.headers["Authorization"] = f"Bearer {token}"
        elif auth.type is AuthType.BASIC:
            session.auth = (auth.username or "", token)
        else:
            session.headers[str(auth.header)] = token
    connection = _HTTPConnection(version="2.1")
    connection.session.close()
    connection.session = session
    return connection


def _request_error(feed: FeedConfig, error: requests.RequestException) -> FeedRejected | FeedUnavailable:
    request = error.request
    what = f"GET {shown(str(request.url) if request is not None and request.url else feed.url)}"
    kind = type(error).__name__
    if isinstance(error, requests.TooManyRedirects):
        return FeedRejected(f"{what}: more than {MAX_REDIRECTS} redirects")
    if isinstance(error, requests.Timeout):
        return FeedUnavailable(f"{what}: no answer in time ({kind})")
    if isinstance(error, requests.ConnectionError):
        return FeedUnavailable(f"{what}: cannot connect ({kind})")
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return FeedRejected(f"{what}: the request cannot be made ({kind})")
    return FeedUnavailable(f"{what}: network error ({kind})")


def _paging(envelope: object, where: str) -> tuple[bool, str | None]:
    """The envelope's `more` and `next`."""
    if not isinstance(envelope, Mapping):
        return False, None
    more, token = envelope.get("more", False), envelope.get("next")
    if not isinstance(more, bool):
        raise FeedRejected(f"{where}: `more` is not true or false")
    if token is not None and (not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS):
        raise FeedRejected(f"{where}: `next` is not a token of 1 to {MAX_TOKEN_CHARS} characters")
    return more, token


def _custom_markings(objects: list[Any]) -> list[dict[str, Any]]:
    """The marking definitions of a response that later pages may need (stix.py knows the standard TLP ones)."""
    kept = []
    for item in objects:
        if not isinstance(item, Mapping) or item.get("type") != "marking-definition":
            continue
        if not isinstance(item.get("id"), str) or item["id"] in TLP_MARKINGS:
            continue
        marking = {key: item[key] for key in _MARKING_KEYS if key in item}
        if len(json.dumps(marking)) <= MAX_MARKING_CHARS:
            kept.append(marking)
    return kept


def _bounded(markings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest MAX_MARKINGS distinct marking definitions (a later version of one replaces it)."""
    by_id = {marking["id"]: marking for marking in markings}
    return list(by_id.values())[-MAX_MARKINGS:]


def _time(value: str | None) -> str | None:
    """A date-added header as the server wrote it (it is sent back as is), if it is a time."""
    if value is None or len(value) > MAX_TIME_CHARS:
        return None
    try:
        return value if parse_time(value) is not None else None
    except ValueError:
        return None


def _later(first: str | None, second: str | None) -> str | None:
    """The later of two date-added times, as written (one that is not a time counts as none)."""
    first_moment, second_moment = _moment(first), _moment(second)
    if first_moment is None or second_moment is None:
        return first if first_moment is not None else second if second_moment is not None else None
    return second if second_moment > first_moment else first


def _moment(value: str | None) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:
        return None
