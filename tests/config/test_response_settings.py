"""The settings the response policy needs: internal networks, the asset inventory, the policy and the TI feeds
file. Defaults, parsing, and one operator-facing line naming the variable (and the path) for every bad value."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from xorb_orchestrator.config import Settings, SettingsError, load_settings
from xorb_orchestrator.policy.response_policy import DEFAULT_POLICY_FILE

_VARIABLES = [
    name
    for field in Settings.model_fields.values()
    for name in ([field.alias] if field.alias else []) + list(getattr(field.validation_alias, "choices", []) or [])
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(str(name), raising=False)


def error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and message.startswith("invalid configuration: ")
    return message


def test_defaults_are_rfc1918_and_unique_local_and_the_bundled_policy() -> None:
    settings = load_settings()
    assert [str(n) for n in settings.internal_cidrs] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
    assert (settings.assets_file, settings.policy_file, settings.ti_feeds_file) == (None, None, None)
    assert DEFAULT_POLICY_FILE.is_file()  # what no XORB_POLICY_FILE means


@pytest.mark.parametrize(
    "address", ["192.0.2.1", "198.51.100.1", "203.0.113.10", "127.0.0.1", "169.254.0.1", "fe80::1"]
)
def test_documentation_loopback_and_link_local_are_not_internal_by_default(address: str) -> None:
    # Python's is_private says True for the documentation ranges: the default does not follow it.
    assert not any(ipaddress.ip_address(address) in network for network in load_settings().internal_cidrs)


def test_internal_networks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_INTERNAL_NETWORKS", " 10.0.0.0/8, 2001:db8:abcd::/48 ,100.64.0.0/10, 198.51.100.7")
    assert [str(n) for n in load_settings().internal_cidrs] == [
        "10.0.0.0/8",
        "2001:db8:abcd::/48",
        "100.64.0.0/10",
        "198.51.100.7/32",
    ]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (
            "10.0.0.0/8,intranet",
            "XORB_INTERNAL_NETWORKS: expected comma-separated networks (CIDR) such as 10.0.0.0/8, got 'intranet'",
        ),
        (
            "10.0.0.1/8",
            "XORB_INTERNAL_NETWORKS: expected networks without host bits, got '10.0.0.1/8' (did you mean 10.0.0.0/8?)",
        ),
        (" , ", "XORB_INTERNAL_NETWORKS: expected at least one network (CIDR), e.g. the default 10.0.0.0/8,"),
    ],
)
def test_bad_internal_networks_are_one_line(monkeypatch: pytest.MonkeyPatch, value: str, says: str) -> None:
    message = error(monkeypatch, "XORB_INTERNAL_NETWORKS", value)
    assert says in message
    assert message.count("got ") <= 1


@pytest.mark.parametrize(
    ("name", "file"),
    [("XORB_ASSETS_FILE", "assets.yaml"), ("XORB_POLICY_FILE", "policy.yaml"), ("XORB_TI_FEEDS_FILE", "feeds.yaml")],
)
def test_a_missing_file_names_the_setting_and_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, file: str
) -> None:
    missing = tmp_path / file
    assert error(monkeypatch, name, str(missing)) == f"invalid configuration: {name}: no readable file at {missing}"
    missing.write_text("# present now\n", encoding="utf-8")
    load_settings()


def test_files_are_taken_as_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, file in (
        ("XORB_ASSETS_FILE", "assets.csv"),
        ("XORB_POLICY_FILE", "p.yaml"),
        ("XORB_TI_FEEDS_FILE", "f.yml"),
    ):
        (tmp_path / file).write_text("", encoding="utf-8")
        monkeypatch.setenv(name, str(tmp_path / file))
    settings = load_settings()
    assert (settings.assets_file, settings.policy_file, settings.ti_feeds_file) == (
        tmp_path / "assets.csv",
        tmp_path / "p.yaml",
        tmp_path / "f.yml",
    )


def test_the_asset_inventory_must_be_yaml_or_csv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    inventory = tmp_path / "assets.xlsx"
    inventory.write_bytes(b"PK")
    message = error(monkeypatch, "XORB_ASSETS_FILE", str(inventory))
    assert message == f"invalid configuration: XORB_ASSETS_FILE: expected a .yaml, .yml or .csv file, got '{inventory}'"
