"""Posting alert lines to `POST /v1/alerts/{source}` as NDJSON, without ever dropping a batch.

The API answers per line: accepted (with the incident), rejected (with the reason and JSON path),
ignored (not an alert), or unavailable (Temporal could not take it: send it again). A batch is done
when every line has one of the first three answers. Until then the shipper retries what is left —
on 503/429 after the server's `Retry-After`, on connection errors and gateway errors after a capped
exponential backoff — so a caller that commits only after `ship()` returns never loses a line.

One line must not hold up the rest forever, though: a batch the API keeps answering 500/502/504 is
halved until the line at fault stands alone, and a lone line still failing so is answered "failed"
here, once empty requests right before and after its last try show the API itself is up (else it is
an outage: keep trying). The caller sets such lines aside (the follower's dead-letter file) like the
lines the API rejected.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx

from xorb_orchestrator import __version__
from xorb_orchestrator.shipper.lines import clean_line
from xorb_orchestrator.shipper.results import BatchResult, ItemResult

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"accepted", "rejected", "ignored"})
# Answers that mean "not now": the same request may succeed later.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Server errors one bad line can cause: if they persist, split the batch to find it. Never 503/429: those
# say the service is busy or down, and the same batch waits and goes again, whole.
ISOLATE_STATUSES = frozenset({500, 502, 504})
# Answers to one body that a smaller body may not get: split the batch to find the line at fault.
SPLIT_STATUSES = frozenset({400, 413})


class ShipperError(Exception):
    """The API refused the batch for a reason retrying cannot fix; the message is one line for the user."""


class ShippingStopped(Exception):
    """A stop was requested while a batch waited for its retry; its remaining lines were not delivered."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. The defaults never give up: right for a follower, which must not drop."""

    initial: float = 0.5  # first backoff, doubled per failure
    maximum: float = 30.0  # cap on any single wait, Retry-After included
    give_up_after: float | None = None  # seconds since the batch's first attempt; None = never
    retry_unreachable: bool = True  # False: a refused connection fails at once (a wrong --api-url)
    # 500/502/504 answers to the same lines before they are split apart; a lone line gets as many, then fails.
    split_after: int = 3

    def backoff(self, failures: int) -> float:
        """Capped exponential, with jitter so that many senders do not retry in step."""
        ceiling = min(self.maximum, self.initial * 2 ** min(failures, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class AlertShipper:
    """Sends batches of lines of one source to the API; `ship()` returns once every line has its answer."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        source: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        stop: threading.Event | None = None,
        on_retry: Callable[[str, float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = f"{api_url.rstrip('/')}/v1/alerts/{source}"
        self.api_url = api_url
        self.retry = retry or RetryPolicy()
        self._stop = stop or threading.Event()
        self._on_retry = on_retry or _log_retry
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/x-ndjson",
                "User-Agent": f"xorb-alerts/{__version__}",
            },
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AlertShipper:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def check(self) -> None:
        """Fail fast on a wrong key or URL: an empty request, which the API refuses after checking the key.

        Raises ShipperError for 401/403 and 404; anything else (the API busy or not up yet) is left for
        the retries of the first real batch.
        """
        try:
            response = self._client.post(self.url, content=b"")
        except httpx.UnsupportedProtocol:
            raise ShipperError(f"--api-url: expected an http(s) URL, got {self.api_url!r}") from None
        except httpx.TransportError as exc:
            log.warning(
                "cannot reach the API at %s yet (%s); alerts wait until it answers", self.api_url, _describe(exc)
            )
            return
        if response.status_code in (401, 403):
            raise ShipperError(f"{response.status_code}: check --api-key / XORB_API_KEY")
        if response.status_code == 404:
            raise ShipperError(f"404 from {self.url}: {_message(response)}; check --api-url / XORB_API_URL")

    def ship(self, lines: Sequence[bytes]) -> BatchResult:
        """Deliver `lines` (each one non-blank alert) and return each line's answer, in order.

        Raises ShipperError when the API refuses the request in a way a retry cannot fix (a bad key,
        no such endpoint, or giving up under `give_up_after`), and ShippingStopped when the stop event
        is set while waiting to retry. In both cases the caller must treat the batch as not delivered
        (re-sending it later is harmless: the API drops re-deliveries).
        """
        cleaned = [clean_line(line) for line in lines]
        if any(not line.strip() for line in cleaned):
            raise ValueError("blank lines are not alerts; leave them out of the batch")
        results: list[ItemResult | None] = [None] * len(cleaned)
        self._deliver(cleaned, list(range(len(cleaned))), results, time.monotonic(), self.retry.split_after)
        return BatchResult([r for r in results if r is not None])

    def _deliver(
        self,
        lines: list[bytes],
        indexes: list[int],
        results: list[ItemResult | None],
        started: float,
        split_after: int,
    ) -> None:
        """Send the lines of `indexes` until each has a final answer in `results`."""
        pending = indexes
        tally = _Tally(split_after)
        while pending:
            tally.up_before, tally.api_up = tally.api_up, False  # only the check right before this attempt counts
            body = b"".join(lines[i] + b"\n" for i in pending)
            retry_after: float | None = None
            try:
                response = self._client.post(self.url, content=body)
            except httpx.TransportError as exc:
                problem = self._unreachable(exc)
            else:
                status = response.status_code
                answered = _results(response, len(pending))
                if answered is not None:
                    left = _take_final(answered, pending, results)
                    if len(left) < len(pending):
                        tally = _Tally(split_after)  # progress: the next wait starts short again
                    pending = left
                    if not pending:
                        return
                elif status in (401, 403):
                    raise ShipperError(f"{status}: check --api-key / XORB_API_KEY")
                elif status in SPLIT_STATUSES:
                    self._refused(lines, pending, results, started, status, _message(response))
                    return
                elif status not in RETRY_STATUSES:
                    raise ShipperError(f"{status} from {self.url}: {_message(response)}")
                elif status in ISOLATE_STATUSES:
                    tally.server_errors += 1
                    if self._isolate(lines, pending, results, started, response, tally):
                        return
                problem = f"the API answered {status} ({_message(response)}); {len(pending)} alert(s) to send again"
                retry_after = _retry_after(response)
            self._wait(problem, retry_after, tally.failures, started, len(pending))
            tally.failures += 1

    def _unreachable(self, exc: httpx.TransportError) -> str:
        """What went wrong, to retry; raises ShipperError when retrying cannot help."""
        if isinstance(exc, httpx.UnsupportedProtocol):
            raise ShipperError(f"--api-url: expected an http(s) URL, got {self.api_url!r}") from None
        problem = f"cannot reach the API at {self.api_url} ({_describe(exc)})"
        if not self.retry.retry_unreachable and isinstance(exc, httpx.ConnectError):
            raise ShipperError(f"{problem}; check --api-url / XORB_API_URL") from None
        return problem

    def _wait(self, problem: str, retry_after: float | None, failures: int, started: float, pending: int) -> None:
        """Back off before the next attempt, unless it is time to give up or to stop."""
        delay = min(self.retry.maximum, max(retry_after or 0.0, self.retry.backoff(failures)))
        limit = self.retry.give_up_after
        if limit is not None and time.monotonic() + delay - started > limit:
            raise ShipperError(f"{problem}; gave up after {limit:.0f}s")
        self._on_retry(problem, delay)
        if self._stop.wait(delay):
            raise ShippingStopped(f"stopped with {pending} alert(s) not delivered")

    def _refused(
        self,
        lines: list[bytes],
        pending: list[int],
        results: list[ItemResult | None],
        started: float,
        status: int,
        message: str,
    ) -> None:
        """A body too large (413) or unreadable (400): halve it until the line at fault stands alone."""
        if len(pending) == 1:
            # One line the API will never take as it is: answer it here, or it would block the file forever.
            error = f"the API refused this line ({status}): {message}"
            results[pending[0]] = ItemResult(pending[0], "rejected", error=error, path="$", http_status=status)
            return
        self._split(lines, pending, results, started)

    def _isolate(
        self,
        lines: list[bytes],
        pending: list[int],
        results: list[ItemResult | None],
        started: float,
        response: httpx.Response,
        tally: _Tally,
    ) -> bool:
        """The API keeps failing on these lines: split them apart, or answer a lone one "failed". False: try again.

        A lone line fails only when the API answered an empty request both right before and right after its
        last try: the API is up, and fails on this line. When it fails on everything (down behind a gateway
        that answers 502/504), or an outage begins or ends meanwhile, the line is retried like any batch in
        an outage, and never set aside.
        """
        if len(pending) > 1:
            if tally.server_errors < tally.split_after:
                return False
            log.info(
                "the API keeps answering %d to %d alerts; sending them in halves to find the one at fault",
                response.status_code, len(pending),
            )  # fmt: skip
            self._split(lines, pending, results, started)
            return True
        tally.api_up = self._api_answers()
        if tally.server_errors < tally.split_after or not (tally.up_before and tally.api_up):
            return False
        index = pending[0]
        results[index] = ItemResult(index, "failed", error=_message(response), http_status=response.status_code)
        return True

    def _split(self, lines: list[bytes], pending: list[int], results: list[ItemResult | None], started: float) -> None:
        """Send each half on its own. A half gets one try before it is split again (this is a search);
        a lone line gets the policy's full `split_after` tries."""
        half = len(pending) // 2
        for part in (pending[:half], pending[half:]):
            self._deliver(lines, part, results, started, 1 if len(part) > 1 else self.retry.split_after)

    def _api_answers(self) -> bool:
        """Whether the API reads requests: an empty one comes back refused (4xx), not failed (5xx)."""
        try:
            response = self._client.post(self.url, content=b"")
        except httpx.TransportError:
            return False
        return 400 <= response.status_code < 500 and response.status_code != 429


@dataclass
class _Tally:
    """The failed attempts at the same lines since they last made progress."""

    split_after: int  # server errors before the lines are split apart, or a lone line may fail
    failures: int = 0  # every failed attempt: the backoff grows with them
    server_errors: int = 0  # the answers in ISOLATE_STATUSES
    # A lone line: whether the API answered the empty request sent right after its last attempt (api_up), and
    # right before this one (up_before).
    api_up: bool = False
    up_before: bool = False


def _take_final(answered: list[ItemResult], pending: list[int], results: list[ItemResult | None]) -> list[int]:
    """Keep the final answers (at the lines' places in the whole batch); return the lines still to send."""
    left = []
    for item in answered:
        original = pending[item.index]
        if item.status in FINAL_STATUSES:
            results[original] = replace(item, index=original)
        else:
            left.append(original)
    return left


def _results(response: httpx.Response, expected: int) -> list[ItemResult] | None:
    """The per-line answers of a 202/422/503/429 body, or None when the body has none."""
    if response.status_code not in (202, 422, 429, 503):
        return None
    try:
        body: Any = response.json()
    except ValueError:
        return None
    raw = body.get("results") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        return None
    items: dict[int, ItemResult] = {}
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("index"), int):
            return None
        index = entry["index"]
        if not 0 <= index < expected:
            return None
        items[index] = ItemResult(
            index=index,
            status=str(entry.get("status")),
            incident_id=_text(entry.get("incident_id")),
            duplicate=bool(entry.get("duplicate", False)),
            error=_text(entry.get("error")),
            path=_text(entry.get("path")),
            reason=_text(entry.get("reason")),
        )
    if len(items) != expected:
        # The API counted other lines than we sent: we cannot tell which answer is whose.
        raise ShipperError(f"the API answered for {len(items)} lines of {expected} sent; is it the same version?")
    # A line without a final answer ("unavailable", or a status this client does not know) is sent again.
    return [items[i] for i in range(expected)]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = response.text.strip().splitlines()
    return text[0][:200] if text else response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc).strip()
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return text.splitlines()[0] if text else type(exc).__name__


def _log_retry(problem: str, delay: float) -> None:
    log.warning("%s; retrying in %.1fs", problem, delay)


__all__ = ["AlertShipper", "RetryPolicy", "ShipperError", "ShippingStopped"]
