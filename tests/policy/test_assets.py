"""The asset inventory: parsing YAML and CSV with one-line errors, and what it says about an observable (ours or
not, which asset, owner, criticality, protected), the most specific entry winning. Pure: no files but fixtures."""

from __future__ import annotations

import hashlib
import ipaddress
import time

import pytest

from tests.support.paths import DATA
from xorb_orchestrator.config.settings import DEFAULT_INTERNAL_NETWORKS, parse_networks
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.response_plan import AssetContext, Criticality, Scope
from xorb_orchestrator.policy.assets import AssetInventory, AssetsInvalid, asset_format, load_assets

FIXTURES = DATA / "policy"
DEFAULT_NETWORKS = parse_networks(DEFAULT_INTERNAL_NETWORKS)


def inventory(name: str = "assets.yaml") -> AssetInventory:
    path = FIXTURES / name
    return load_assets(
        path.read_text(encoding="utf-8"), path.name, asset_format(path.name), internal_networks=DEFAULT_NETWORKS
    )


def context(inv: AssetInventory, kind: str, value: str) -> AssetContext:
    return inv.context(Observable(type=ObservableType(kind), value=value))


def test_the_most_specific_address_entry_wins() -> None:
    inv = inventory()
    assert context(inv, "ip", "10.20.9.9").asset == "office-lan"  # only the /16
    assert context(inv, "ip", "10.20.5.9").asset == "finance-vlan"  # the /24 over the /16
    exact = context(inv, "ip", "10.20.5.17")  # the address over the /24
    assert (exact.asset, exact.criticality, exact.protected, exact.matched) == (
        "payroll-db",
        Criticality.CRITICAL,
        True,
        "ip 10.20.5.17/32",
    )
    assert exact.ours and exact.owner == "finance-it"
    assert context(inv, "ip", "2001:db8:5::17").asset == "payroll-db"


def test_ours_by_internal_network_without_an_asset() -> None:
    found = context(inventory(), "ip", "10.0.0.7")
    assert found.ours and found.scope is Scope.INTERNAL
    assert found.asset is None and found.matched == "internal network 10.0.0.0/8"
    assert context(inventory(), "ip", "fd12:3456::1").ours  # IPv6 unique local (RFC 4193)
    # The mapped form of an internal address is the same address.
    assert context(inventory(), "ip", "::ffff:10.20.5.17").asset == "payroll-db"


@pytest.mark.parametrize("address", ["192.0.2.10", "198.51.100.77", "203.0.113.10", "8.8.8.8", "2001:db8::1"])
def test_documentation_and_public_ranges_are_not_ours_by_default(address: str) -> None:
    found = context(inventory(), "ip", address)
    assert not found.ours and found.scope is Scope.EXTERNAL


def test_a_listed_public_network_is_ours() -> None:
    found = context(inventory(), "ip", "198.51.100.5")  # public-web lists 198.51.100.0/28
    assert found.ours and found.asset == "public-web"
    assert not context(inventory(), "ip", "198.51.100.16").ours  # just outside it


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "reserved"),
    ],
)
def test_local_addresses_are_neither_ours_nor_external(address: str, kind: str) -> None:
    found = context(inventory(), "ip", address)
    assert found.scope is Scope.LOCAL and not found.ours and found.matched == kind


def test_hosts_match_exactly_by_short_name_and_by_wildcard() -> None:
    inv = inventory()
    assert context(inv, "hostname", "PAYROLL-DB.corp.example.").asset == "payroll-db"
    assert context(inv, "hostname", "payroll-db").asset == "payroll-db"  # short name of a listed FQDN
    assert context(inv, "hostname", "dc01.corp.example").asset == "domain-controllers"  # listed short name
    assert context(inv, "hostname", "dc01").protected
    assert context(inv, "domain", "cdn.shop.example").matched == "host *.shop.example"
    assert context(inv, "domain", "shop.example").matched == "host shop.example"
    assert context(inv, "url", "https://pay.shop.example/checkout").asset == "public-web"
    assert context(inv, "url", "http://10.20.5.17:8080/").asset == "payroll-db"
    # Not listed: a domain is external, a host name unknown (a detector's own host may simply be unlisted).
    assert context(inv, "domain", "c2.example").scope is Scope.EXTERNAL
    assert context(inv, "hostname", "laptop-042").scope is Scope.UNKNOWN
    assert context(inv, "file_hash", "d41d8cd98f00b204e9800998ecf8427e").scope is Scope.UNKNOWN


def test_a_short_name_two_assets_share_matches_neither() -> None:
    text = "assets:\n  - {name: a, hosts: [web.one.example]}\n  - {name: b, hosts: [web.two.example]}\n"
    inv = load_assets(text, "dup.yaml", "yaml")
    assert context(inv, "hostname", "web").asset is None
    assert context(inv, "hostname", "web.two.example").asset == "b"


def test_users_match_case_insensitively() -> None:
    found = context(inventory(), "user", "corp\\SVC-BACKUP")
    assert found.asset == "domain-controllers" and found.protected
    assert context(inventory(), "user", "jdoe").scope is Scope.UNKNOWN


def test_csv_rows_with_one_name_form_one_asset() -> None:
    inv = inventory("assets.csv")
    payroll = context(inv, "ip", "10.20.5.17")
    assert (payroll.asset, payroll.criticality, payroll.protected) == ("payroll-db", Criticality.CRITICAL, True)
    assert context(inv, "hostname", "payroll-db.corp.example").asset == "payroll-db"
    build = context(inv, "user", "jenkins")
    assert (build.asset, build.owner, build.criticality, build.protected) == (
        "build-server",
        "dev-ops",
        Criticality.MEDIUM,  # not given: medium
        False,
    )
    assert [a.name for a in inv.assets] == ["finance-vlan", "payroll-db", "build-server"]


def test_the_fingerprint_is_the_texts_hash() -> None:
    text = (FIXTURES / "assets.yaml").read_text(encoding="utf-8")
    assert inventory().sha256 == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "assets:\n  - name: web\n    criticallity: high\n",
            "inv.yaml: asset 1 ('web') field 'criticallity': unknown field (did you mean 'criticality'?)",
        ),
        (
            "assets:\n  - {name: web, criticality: hgih}\n",
            "inv.yaml: asset 1 ('web') field 'criticality': expected one of low, medium, high, critical, got 'hgih'",
        ),
        (
            "assets:\n  - {name: a}\n  - {name: net, ips: [10.0.0.0/8, 10.1.2.3/16]}\n",
            "inv.yaml: asset 2 ('net') field 'ips': '10.1.2.3/16' has host bits set (did you mean 10.1.0.0/16?)",
        ),
        (
            "assets:\n  - {name: a, protected: yes}\n",
            "inv.yaml: asset 1 ('a') field 'protected': expected a valid boolean",
        ),
        ("assets:\n  - {name: a}\n  - {name: a}\n", "inv.yaml: asset 2 ('a') field 'name': asset 1 has the same name"),
        ("assets: []\nnetworks: []\n", "inv.yaml: field 'networks': unknown field"),
        (
            "assets:\n  - {name: a, ips: [10.0.0.5]}\n  - {name: b, ips: [10.0.0.5/32]}\n",
            "inv.yaml: ip 10.0.0.5/32 is in both asset 'a' and asset 'b'",
        ),
        ("assets:\n  - name: a\n  hosts: [x]\n", "inv.yaml: invalid YAML at line 3"),
    ],
)
def test_yaml_errors_are_one_line_naming_file_entry_and_field(text: str, says: str) -> None:
    with pytest.raises(AssetsInvalid) as caught:
        load_assets(text, "inv.yaml", "yaml")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(says)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name,kind,value,ownr\n", "inv.csv: line 1 column 'ownr': unknown column (did you mean 'owner'?)"),
        ("name,kind,value\na,mac,00:11\n", "inv.csv: line 2 field 'kind': expected host, ip or user, got 'mac'"),
        ("name,kind,value\n\na,ip,10.0.0.300\n", "inv.csv: line 3 field 'value': '10.0.0.300' is not an IP address"),
        (
            "name,kind,value,owner\na,ip,10.0.0.1,alice\na,ip,10.0.0.2,bob\n",
            "inv.csv: line 3 field 'owner': asset 'a' has owner 'alice' on line 2, got 'bob'",
        ),
        (
            "name,kind,value,protected\na,ip,10.0.0.1,maybe\n",
            "inv.csv: line 2 field 'protected': expected true or false",
        ),
        ("name,kind,value\na,ip\n", "inv.csv: line 2: expected 3 columns (name,kind,value), got 2"),
        ("# nothing\n", "inv.csv: expected a header line"),
    ],
)
def test_csv_errors_are_one_line_naming_file_line_and_field(text: str, says: str) -> None:
    with pytest.raises(AssetsInvalid) as caught:
        load_assets(text, "inv.csv", "csv")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(says)


def test_thousands_of_entries_match_without_a_scan() -> None:
    # 5,000 single addresses over 500 /24s inside one /13: every lookup still finds the most specific entry.
    base = int(ipaddress.ip_address("10.0.0.0"))
    lines = ["assets:", "  - {name: all-tens, ips: [10.0.0.0/13], criticality: high}"]
    lines += [f"  - {{name: net-{n}, ips: [10.{n // 256}.{n % 256}.0/24]}}" for n in range(500)]
    lines += [f"  - {{name: host-{n}, ips: [{ipaddress.ip_address(base + 3 * n + 1)}]}}" for n in range(5000)]
    inv = load_assets("\n".join(lines) + "\n", "big.yaml", "yaml")
    started = time.perf_counter()
    for n in range(5000):
        assert inv.ip_context(ipaddress.ip_address(base + 3 * n + 1)).asset == f"host-{n}"
        assert inv.ip_context(ipaddress.ip_address(base + 3 * n + 2)).asset == f"net-{(3 * n + 2) // 256}"
    assert inv.ip_context(ipaddress.ip_address("10.7.255.1")).asset == "all-tens"  # no /24 there
    assert inv.ip_context(ipaddress.ip_address("10.9.0.1")).scope is Scope.EXTERNAL  # no internal networks given
    assert time.perf_counter() - started < 5.0  # 10,000 lookups scanning 5,501 entries would not
