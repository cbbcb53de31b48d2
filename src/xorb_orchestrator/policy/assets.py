"""The asset inventory: which hosts, addresses and accounts are ours, who owns them, how critical, and whether
they are protected (never a target). Pure: parsed from text; reading and reloading the file is the caller's.

YAML:  assets: [{name, hosts: [...], ips: [address or CIDR ...], users: [...], devices: [EDR device ids], owner,
        criticality, protected, tags}]
CSV:   name,kind,value,owner,criticality,protected  (kind: host, ip, user or device; rows with one name form one asset)

Hosts match case-insensitively; `*.corp.example` covers every name under corp.example; a short name matches a
full one (`web-01` and `web-01.corp.example`, either way round) unless two assets share it. The most specific
entry wins: an address over a /24 over a /16, an exact host over a short name over the longest wildcard.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator
from pydantic_core import ErrorDetails

from xorb_orchestrator.models.observable import Observable, ObservableType, normalise_value
from xorb_orchestrator.models.response_plan import AssetContext, Criticality, Scope
from xorb_orchestrator.playbook import PlaybookInvalid, load_document

AssetFormat = Literal["yaml", "csv"]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_ASSETS = 100_000
MAX_VALUES_PER_ASSET = 10_000
MAX_PROBLEMS = 10  # reported on the one line
CSV_COLUMNS = ("name", "kind", "value", "owner", "criticality", "protected")
CSV_KINDS = {"host": "hosts", "ip": "ips", "user": "users", "device": "devices"}
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # RFC 791 "this network": a source only, never a peer


class AssetsInvalid(ValueError):
    """The inventory cannot be used; the message is one line naming the file, entry or line, and field."""


class Asset(BaseModel):
    """One asset: the hosts, addresses (or networks) and accounts it is known by."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    hosts: list[str] = Field(default_factory=list, max_length=MAX_VALUES_PER_ASSET)
    ips: list[str] = Field(default_factory=list, max_length=MAX_VALUES_PER_ASSET)
    users: list[str] = Field(default_factory=list, max_length=MAX_VALUES_PER_ASSET)
    # The EDR's ids for the host (a Falcon AID, a Defender machine id): an isolation names the host by them.
    devices: list[str] = Field(default_factory=list, max_length=MAX_VALUES_PER_ASSET)
    owner: str | None = Field(None, max_length=200)
    criticality: Criticality = Criticality.MEDIUM
    protected: StrictBool = False
    tags: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(normalise_host(value) for value in values))

    @field_validator("ips")
    @classmethod
    def _ips(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(str(parse_network(value)) for value in values))

    @field_validator("users")
    @classmethod
    def _users(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(normalise_value(ObservableType.USER, value.strip()) for value in values))

    @field_validator("devices")
    @classmethod
    def _devices(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(value.strip().lower() for value in values if value.strip()))


def normalise_host(value: str) -> str:
    """Lower-case, no trailing dot; `*.` in front makes a wildcard. ValueError naming the problem."""
    text = value.strip().lower().rstrip(".")
    rest = text.removeprefix("*.")
    normalise_value(ObservableType.HOSTNAME, rest)
    return text


def parse_network(value: str) -> Network:
    """An address (its /32 or /128) or a CIDR without host bits; ValueError naming the problem."""
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError:
        try:
            guess = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network (CIDR)") from None
        raise ValueError(f"{value!r} has host bits set (did you mean {guess}?)") from None


V = TypeVar("V")


class NetworkIndex(Generic[V]):
    """Networks by IP version and prefix length: a lookup masks the address once per prefix length in use,
    longest first, so it costs at most 33 (IPv4) or 129 (IPv6) dict lookups however many entries there are."""

    def __init__(self) -> None:
        self._tables: dict[int, dict[int, dict[int, tuple[Network, V]]]] = {4: {}, 6: {}}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}

    def add(self, network: Network, value: V) -> tuple[Network, V] | None:
        """Add; return the entry already there for exactly this network (and keep it) instead."""
        table = self._tables[network.version].setdefault(network.prefixlen, {})
        key = int(network.network_address)
        if key in table:
            return table[key]
        table[key] = (network, value)
        self._lengths[network.version] = sorted(self._tables[network.version], reverse=True)
        return None

    def lookup(self, address: Address) -> tuple[Network, V] | None:
        """The most specific network holding the address, with its value."""
        bits = address.max_prefixlen
        number = int(address)
        tables = self._tables[address.version]
        for length in self._lengths[address.version]:
            key = number >> (bits - length) << (bits - length)
            found = tables[length].get(key)
            if found is not None:
                return found
        return None


class AssetInventory:
    """The assets, indexed for lookups, and the networks that are ours without being listed.

    `sha256` is the hash of the text it was parsed from, for the caller's reload check.
    """

    def __init__(
        self,
        assets: Iterable[Asset] = (),
        internal_networks: Iterable[Network] = (),
        *,
        origin: str = "",
        sha256: str = "",
    ) -> None:
        self.assets = tuple(assets)
        self.origin = origin
        self.sha256 = sha256
        self._hosts: dict[str, Asset] = {}
        self._wildcards: dict[str, Asset] = {}
        self._short: dict[str, Asset | None] = {}  # first label of listed FQDNs; None where two assets share it
        self._users: dict[str, Asset] = {}
        self._devices: dict[str, Asset] = {}
        self._networks: NetworkIndex[Asset] = NetworkIndex()
        self._internal: NetworkIndex[None] = NetworkIndex()
        for network in internal_networks:
            self._internal.add(network, None)
        problems = [problem for asset in self.assets for problem in self._index(asset)]
        if problems:
            raise AssetsInvalid(_one_line(origin, problems))

    def _index(self, asset: Asset) -> Iterator[str]:
        for host in asset.hosts:
            table, key = (self._wildcards, host[2:]) if host.startswith("*.") else (self._hosts, host)
            if table.setdefault(key, asset) is not asset:
                yield f"host {host!r} is in both asset {table[key].name!r} and asset {asset.name!r}"
            if table is self._hosts and "." in host:
                short = host.split(".", 1)[0]
                self._short[short] = asset if self._short.get(short, asset) is asset else None
        for user in asset.users:
            if self._users.setdefault(user.casefold(), asset) is not asset:
                yield f"user {user!r} is in both asset {self._users[user.casefold()].name!r} and asset {asset.name!r}"
        for device in asset.devices:
            if self._devices.setdefault(device, asset) is not asset:
                yield f"device {device!r} is in both asset {self._devices[device].name!r} and asset {asset.name!r}"
        for text in asset.ips:
            earlier = self._networks.add(ipaddress.ip_network(text), asset)
            if earlier is not None and earlier[1] is not asset:
                yield f"ip {text} is in both asset {earlier[1].name!r} and asset {asset.name!r}"

    def context(self, observable: Observable) -> AssetContext:
        """What the inventory says about an observable (see the module docstring for how hosts match)."""
        kind, value = observable.type, observable.value
        if kind is ObservableType.IP:
            return self.ip_context(ipaddress.ip_address(value))
        if kind is ObservableType.USER:
            asset = self._users.get(value.casefold())
            return _context(asset, f"user {value}") if asset else AssetContext(scope=Scope.UNKNOWN)
        if kind in (ObservableType.HOSTNAME, ObservableType.DOMAIN):
            return self.host_context(value, external=kind is ObservableType.DOMAIN)
        if kind is ObservableType.URL:
            host = urlsplit(value).hostname
            if not host:
                return AssetContext(scope=Scope.UNKNOWN)
            try:
                return self.ip_context(ipaddress.ip_address(host))
            except ValueError:
                return self.host_context(host, external=True)
        return AssetContext(scope=Scope.UNKNOWN)  # hashes, processes, ports: nobody's network

    def device_context(self, device_id: str) -> AssetContext:
        """An EDR device id: the asset listing it, else unknown."""
        asset = self._devices.get(device_id.strip().lower())
        return _context(asset, f"device {device_id}") if asset else AssetContext(scope=Scope.UNKNOWN)

    def protected_in(self, network: Network) -> list[tuple[str, str]]:
        """Protected assets with an address inside `network` (a block of a whole range would reach them):
        (asset name, its address or network)."""
        return [
            (asset.name, text)
            for asset in self.assets
            if asset.protected
            for text in asset.ips
            if (listed := ipaddress.ip_network(text)).version == network.version and listed.overlaps(network)
        ]

    def ip_context(self, address: Address) -> AssetContext:
        """An address: local, in an inventory entry (the most specific), in an internal network, or external."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.7 is 10.0.0.7
        local = _local_kind(address)
        if local:
            return AssetContext(scope=Scope.LOCAL, matched=local)
        listed = self._networks.lookup(address)
        if listed is not None:
            network, asset = listed
            return _context(asset, f"ip {network}")
        internal = self._internal.lookup(address)
        if internal is not None:
            return AssetContext(scope=Scope.INTERNAL, matched=f"internal network {internal[0]}")
        return AssetContext(scope=Scope.EXTERNAL)

    def host_context(self, name: str, *, external: bool) -> AssetContext:
        """A host or domain name: exact entry, then short name (either way round, unless two assets share it),
        then the longest wildcard. Not listed: external for a domain or URL host, unknown for a host name (a
        detector's own host may simply be unlisted)."""
        name = name.lower().rstrip(".")
        asset = self._hosts.get(name)
        if asset is not None:
            return _context(asset, f"host {name}")
        short = name.split(".", 1)[0]
        if short != name and (asset := self._hosts.get(short)) is not None:
            return _context(asset, f"host {short}")
        if short == name and (asset := self._short.get(name)) is not None:
            return _context(asset, f"host {name}.*")
        labels = name.split(".")
        for start in range(1, len(labels)):
            suffix = ".".join(labels[start:])
            if (asset := self._wildcards.get(suffix)) is not None:
                return _context(asset, f"host *.{suffix}")
        return AssetContext(scope=Scope.EXTERNAL if external else Scope.UNKNOWN)


def _context(asset: Asset, matched: str) -> AssetContext:
    return AssetContext(
        scope=Scope.INTERNAL,
        asset=asset.name,
        owner=asset.owner,
        criticality=asset.criticality,
        protected=asset.protected,
        tags=asset.tags,
        matched=matched,
    )


def _local_kind(address: Address) -> str | None:
    """Why an address never leaves its host or link (so is nobody's to block), or None."""
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified or address in _THIS_NETWORK),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
    )
    return next((name for name, hit in checks if hit), None)


def asset_format(name: str) -> AssetFormat:
    """The format a file name says: .csv or YAML (.yaml, .yml)."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    raise AssetsInvalid(f"{name}: expected a .yaml, .yml or .csv asset inventory")


def load_assets(
    text: str, origin: str, fmt: AssetFormat, *, internal_networks: Iterable[Network] = ()
) -> AssetInventory:
    """Parse an inventory; AssetsInvalid with one line naming `origin`, the entry (YAML) or line (CSV) and field.

    `internal_networks` (XORB_INTERNAL_NETWORKS) are ours without being listed.
    """
    assets = _from_csv(text, origin) if fmt == "csv" else _from_yaml(text, origin)
    if len(assets) > MAX_ASSETS:
        raise AssetsInvalid(f"{origin}: {len(assets)} assets, more than the {MAX_ASSETS} allowed")
    sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return AssetInventory(assets, internal_networks, origin=origin, sha256=sha256)


def _from_yaml(text: str, origin: str) -> list[Asset]:
    try:
        data = load_document(text, "yaml")
    except PlaybookInvalid as exc:
        raise AssetsInvalid(f"{origin}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("assets"), list):
        raise AssetsInvalid(f"{origin}: expected a mapping with an 'assets' list")
    extra = sorted(str(key) for key in data if key != "assets")
    if extra:
        raise AssetsInvalid(f"{origin}: field {extra[0]!r}: unknown field (the file has only 'assets')")
    assets: list[Asset] = []
    problems: list[str] = []
    names: dict[str, int] = {}
    for number, entry in enumerate(data["assets"], start=1):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"asset {number}" + (f" ({name!r})" if isinstance(name, str) else "")
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping with a name")
            continue
        try:
            asset = Asset.model_validate(entry)
        except ValidationError as exc:
            problems.extend(f"{where} {_problem(detail)}" for detail in exc.errors())
            continue
        if asset.name in names:
            problems.append(f"{where} field 'name': asset {names[asset.name]} has the same name")
            continue
        names[asset.name] = number
        assets.append(asset)
    if problems:
        raise AssetsInvalid(_one_line(origin, problems))
    return assets


def _from_csv(text: str, origin: str) -> list[Asset]:
    rows = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    merged: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            problems.extend(_check_header(header, line))
            if problems:
                break
            continue
        if len(row) != len(header):
            problems.append(f"line {line}: expected {len(header)} columns ({','.join(header)}), got {len(row)}")
            continue
        cells = {column: cell.strip() for column, cell in zip(header, row, strict=True)}
        problems.extend(f"line {line} {problem}" for problem in _merge_row(merged, cells, line))
    if header is None and not problems:
        problems.append(f"expected a header line: {','.join(CSV_COLUMNS)}")
    if problems:
        raise AssetsInvalid(_one_line(origin, problems))
    assets = []
    for fields in merged.values():
        try:
            assets.append(Asset.model_validate({k: v for k, v in fields.items() if not k.startswith("_")}))
        except ValidationError as exc:
            problems.extend(f"asset {fields['name']!r} {_problem(detail)}" for detail in exc.errors())
    if problems:
        raise AssetsInvalid(_one_line(origin, problems))
    return assets


def _check_header(header: list[str], line: int) -> Iterator[str]:
    for column in header:
        if column not in CSV_COLUMNS:
            close = difflib.get_close_matches(column, CSV_COLUMNS, n=1, cutoff=0.7)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            yield f"line {line} column {column!r}: unknown column{hint}; expected {','.join(CSV_COLUMNS)}"
    for column in ("name", "kind", "value"):
        if column not in header:
            yield f"line {line}: missing column {column!r}; expected {','.join(CSV_COLUMNS)}"


def _merge_row(merged: dict[str, dict[str, Any]], cells: dict[str, str], line: int) -> Iterator[str]:
    """Add one row's value to its asset; owner, criticality and protected must agree with earlier rows."""
    name, kind, value = cells.get("name", ""), cells.get("kind", "").lower(), cells.get("value", "")
    if not name:
        yield "field 'name': must not be empty"
        return
    if kind not in CSV_KINDS:
        yield f"field 'kind': expected host, ip or user, got {cells.get('kind', '')!r}"
        return
    try:
        if kind == "host":
            normalise_host(value)
        elif kind == "ip":
            parse_network(value)
        else:
            normalise_value(ObservableType.USER, value)
    except ValueError as exc:
        yield f"field 'value': {exc}"
        return
    fields = merged.setdefault(name, {"name": name, "hosts": [], "ips": [], "users": []})
    fields[CSV_KINDS[kind]].append(value)
    for column in ("owner", "criticality", "protected"):
        given = cells.get(column, "")
        if not given:
            continue
        try:
            parsed = _csv_value(column, given)
        except ValueError as exc:
            yield f"field {column!r}: {exc}"
            continue
        if column in fields and fields[column] != parsed:
            earlier = fields[f"_{column}_line"]
            yield f"field {column!r}: asset {name!r} has {column} {fields[column]!r} on line {earlier}, got {given!r}"
            continue
        fields[column], fields[f"_{column}_line"] = parsed, line


def _csv_value(column: str, given: str) -> object:
    if column == "criticality":
        try:
            return Criticality(given.lower())
        except ValueError:
            raise ValueError(f"expected low, medium, high or critical, got {given!r}") from None
    if column == "protected":
        if given.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {given!r}")
        return given.lower() == "true"
    return given


def _problem(detail: ErrorDetails) -> str:
    """One pydantic error as `field 'ips[1]': <what is wrong>`."""
    field = ""
    for part in detail["loc"]:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    kind, value = detail["type"], detail["input"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(field, list(Asset.model_fields), n=1, cutoff=0.7)
        message = "unknown field" + (f" (did you mean '{close[0]}'?)" if close else "")
    elif kind == "missing":
        message = "missing required field"
    elif kind == "enum":
        message = f"expected one of {', '.join(c.value for c in Criticality)}, got {value!r}"
    elif kind == "value_error":
        message = str((detail.get("ctx") or {}).get("error", detail["msg"]))
    else:
        shown = f", got {value!r}" if isinstance(value, str | int | float | bool) else ""
        message = detail["msg"].replace("Input should be", "expected") + shown
    return f"field {field!r}: {message}"


def _one_line(origin: str, problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_PROBLEMS])
    more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
    return f"{origin}: {shown}{more}" if origin else f"{shown}{more}"
