"""The feeds file: which threat-intelligence feeds to read, how often, and how to read them. Pure: text in, model out.

```yaml
lifetimes: {ipv4: 14d, domain: 60d}          # defaults per kind for every feed (intel/decay.py has the rest)
feeds:
  - name: feodo                              # [a-z0-9-]{1,64}, unique
    type: csv                                # stix-bundle | taxii | misp-feed | misp-api | csv | known-good
    url: https://feodotracker.abuse.ch/downloads/ipblocklist.csv   # or an absolute file path
    interval: 15m                            # default per type (DEFAULT_INTERVALS)
    kind: ipv4                               # one-type lists
    columns: {value: dst_ip, first_seen: first_seen_utc, last_seen: last_online, tags: malware}
    score: 90                                # where the document gives none
    confidence: 80
    tlp: clear
    lifetimes: {ipv4: 7d}
  - name: cti-taxii
    type: taxii
    url: https://taxii.example/taxii2/
    api_root: https://taxii.example/api1/
    collection: Indicators                   # id or title
    auth: {type: bearer, token: "env:TAXII_TOKEN"}   # a reference: env:NAME or file:/path, never the secret
```

Misspelt keys are errors that name them. `load_feeds` raises FeedsConfigError with one line naming the file, the
feed and the field.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xorb_orchestrator.intel.batch import DEFAULT_CONFIDENCE, DEFAULT_SCORE, FeedDefaults
from xorb_orchestrator.intel.csv_feed import CsvColumns
from xorb_orchestrator.models.verdict import IndicatorKind, Tlp
from xorb_orchestrator.playbook.durations import Duration, format_duration

MAX_FILE_CHARS = 1_000_000
MIN_INTERVAL = timedelta(minutes=1)  # feeds ask their users not to poll faster (abuse.ch: every 5 minutes at most)
_SECRET_REF = re.compile(r"^(?:env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:/\S{1,1000})$")
_FEED_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # an HTTP token


class FeedType(StrEnum):
    STIX_BUNDLE = "stix-bundle"
    TAXII = "taxii"
    MISP_FEED = "misp-feed"
    MISP_API = "misp-api"
    CSV = "csv"
    KNOWN_GOOD = "known-good"


class KnownGoodFormat(StrEnum):
    MISP_WARNINGLIST = "misp-warninglist"
    PLAIN = "plain"


class AuthType(StrEnum):
    BEARER = "bearer"
    BASIC = "basic"
    HEADER = "header"


DEFAULT_INTERVALS: dict[FeedType, timedelta] = {
    FeedType.STIX_BUNDLE: timedelta(hours=1),
    FeedType.TAXII: timedelta(minutes=15),  # added_after paging: each poll asks only for what is new
    FeedType.MISP_FEED: timedelta(hours=1),
    FeedType.MISP_API: timedelta(minutes=15),
    FeedType.CSV: timedelta(hours=1),
    FeedType.KNOWN_GOOD: timedelta(days=1),
}
HTTP_ONLY = (FeedType.TAXII, FeedType.MISP_API)


class FeedsConfigError(ValueError):
    """The feeds file is not valid; the message is one line naming the file, the feed and the field."""


def _secret_ref(value: str) -> str:
    # The message never repeats the value: it may be the very secret that must not be written down.
    if not _SECRET_REF.match(value):
        raise ValueError("must be a reference, env:NAME or file:/path, never the secret itself")
    return value


def _location(value: str) -> str:
    if value.startswith(("http://", "https://")):
        _http_url(value)
    elif not value.startswith("/"):
        raise ValueError("must be an http(s):// URL or an absolute file path")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be an http(s):// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials: put them in `auth` as a reference")
    return value


SecretRef = Annotated[str, AfterValidator(_secret_ref)]
Location = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_location)]
HttpUrl = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_http_url)]
Lifetimes = dict[IndicatorKind, Duration]
Percent = Annotated[int, Field(ge=0, le=100)]


class FeedAuth(BaseModel):
    """How to authenticate, by reference: bearer token, basic (username + token as password), or a named header."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AuthType
    token: SecretRef
    header: str | None = Field(None, description="the header's name (type: header)")
    username: str | None = Field(None, max_length=200, description="the user name (type: basic)")

    @model_validator(mode="after")
    def _fields_of_type(self) -> Self:
        if self.type is AuthType.HEADER and (self.header is None or not _HEADER_NAME.match(self.header)):
            raise ValueError("header: type header needs the header's name, e.g. X-Api-Key")
        if self.type is not AuthType.HEADER and self.header is not None:
            raise ValueError(f"header: only for type header, not {self.type}")
        if self.type is AuthType.BASIC and not self.username:
            raise ValueError("username: type basic needs a username (the token is the password)")
        if self.type is not AuthType.BASIC and self.username is not None:
            raise ValueError(f"username: only for type basic, not {self.type}")
        return self


class FeedConfig(BaseModel):
    """One feed. Which keys apply depends on `type` (checked: a key of another type is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: FeedType
    url: Location
    interval: Duration
    collection: str | None = Field(None, min_length=1, max_length=200, description="taxii: collection id or title")
    api_root: HttpUrl | None = None
    columns: CsvColumns | None = None
    kind: IndicatorKind | None = None
    format: KnownGoodFormat | None = None
    auth: FeedAuth | None = None
    lifetimes: Lifetimes = Field(default_factory=dict)
    score: Percent | None = None
    confidence: Percent | None = None
    tlp: Tlp | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_interval(cls, data: Any) -> Any:
        if isinstance(data, dict) and "interval" not in data and data.get("type") in DEFAULT_INTERVALS:
            return {**data, "interval": DEFAULT_INTERVALS[FeedType(data["type"])]}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _FEED_NAME.match(name):
            raise ValueError("must be 1 to 64 characters of a-z, 0-9 and '-'")
        return name

    @field_validator("interval")
    @classmethod
    def _not_too_often(cls, interval: timedelta) -> timedelta:
        if interval < MIN_INTERVAL:
            raise ValueError(f"must be at least {format_duration(MIN_INTERVAL)}: feeds ask not to be polled faster")
        return interval

    @model_validator(mode="after")
    def _keys_of_type(self) -> Self:
        only = {
            "collection": (FeedType.TAXII,),
            "api_root": (FeedType.TAXII,),
            "columns": (FeedType.CSV,),
            "kind": (FeedType.CSV, FeedType.KNOWN_GOOD),
            "format": (FeedType.KNOWN_GOOD,),
        }
        for key, types in only.items():
            if getattr(self, key) is not None and self.type not in types:
                raise ValueError(f"{key}: not used by a {self.type} feed (only {', '.join(types)})")
        if self.type is FeedType.TAXII and self.collection is None:
            raise ValueError("collection: a taxii feed needs the collection's id or title")
        if self.type in HTTP_ONLY and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url: a {self.type} feed is read over http(s), not from a file")
        if self.type is FeedType.KNOWN_GOOD and self.score is not None:
            raise ValueError("score: a known-good list always scores 0")
        if self.kind is not None and self.type is FeedType.KNOWN_GOOD and self.format is not KnownGoodFormat.PLAIN:
            raise ValueError("kind: only for format plain (a warninglist says what its entries are)")
        return self

    @property
    def known_good_format(self) -> KnownGoodFormat:
        """A known-good feed's format (misp-warninglist unless configured)."""
        return self.format or KnownGoodFormat.MISP_WARNINGLIST

    def defaults(self) -> FeedDefaults:
        """What the format readers use where a document is silent."""
        return FeedDefaults(
            source=self.name,
            score=DEFAULT_SCORE if self.score is None else self.score,
            confidence=DEFAULT_CONFIDENCE if self.confidence is None else self.confidence,
            tlp=self.tlp,
        )


class FeedsConfig(BaseModel):
    """The whole feeds file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lifetimes: Lifetimes = Field(default_factory=dict)
    feeds: list[FeedConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for feed in self.feeds:
            if feed.name in seen:
                raise ValueError(f"feed {feed.name!r}: name: used by more than one feed")
            seen.add(feed.name)
        return self

    def lifetimes_for(self, feed: FeedConfig) -> dict[IndicatorKind, timedelta]:
        """The lifetimes that apply to `feed`: its own over the file's (decay.py's defaults fill the rest)."""
        return {**self.lifetimes, **feed.lifetimes}

    def feed(self, name: str) -> FeedConfig | None:
        """The feed of that name, if configured."""
        return next((feed for feed in self.feeds if feed.name == name), None)


def load_feeds(text: str, origin: str) -> FeedsConfig:
    """Read a feeds file; FeedsConfigError (one line: file, feed, field, what is wrong) when it is not valid."""
    if len(text) > MAX_FILE_CHARS:
        raise FeedsConfigError(f"{origin}: longer than {MAX_FILE_CHARS} characters")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or "cannot be read"
        raise FeedsConfigError(f"{origin}: {where}not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FeedsConfigError(f"{origin}: expected a mapping with `feeds:` (and `lifetimes:`)")
    try:
        return FeedsConfig.model_validate(data)
    except ValidationError as error:
        raise FeedsConfigError(_one_line(origin, data, error)) from None


def _one_line(origin: str, data: dict[str, Any], error: ValidationError) -> str:
    """The first problem as `origin: feed 'name': field: message`, and how many more there are."""
    # A misspelt key also leaves its field missing: the unknown key is the cause, so it is told first.
    problems = sorted(
        error.errors(include_input=False, include_url=False), key=lambda p: p["type"] != "extra_forbidden"
    )
    first = problems[0]
    loc = list(first["loc"])
    parts = [origin]
    if len(loc) >= 2 and loc[0] == "feeds" and isinstance(loc[1], int):
        parts.append(_feed_label(data, loc[1]))
        loc = loc[2:]
    field = ".".join(str(step) for step in loc if step not in ("[key]",))
    message = _message(first)
    if field:
        parts.append(field)
    line = ": ".join([*parts, message])
    more = len(problems) - 1
    return f"{line} (and {more} more problem{'s' if more > 1 else ''})" if more else line


def _feed_label(data: dict[str, Any], position: int) -> str:
    feeds = data.get("feeds")
    item = feeds[position] if isinstance(feeds, list) and position < len(feeds) else None
    name = item.get("name") if isinstance(item, dict) else None
    if isinstance(name, str) and name and len(name) <= 64 and name.isprintable():
        return f"feed {name!r}"
    return f"feeds[{position}]"


def _message(problem: Any) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        return "unknown key (misspelt?)"
    if kind == "missing":
        return "is required"
    return str(problem["msg"]).removeprefix("Value error, ").replace("\n", " ")
