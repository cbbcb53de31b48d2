"""The files named in the settings: the asset inventory is re-read when it changes and a broken edit keeps the last
good one; a bad feeds or policy file is one line naming the variable, the file and what is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.stack import make_settings
from xorb_orchestrator.config import Settings, SettingsError
from xorb_orchestrator.infrastructure.intel_files import AssetsFile, read_feeds, read_policy
from xorb_orchestrator.models.observable import Observable, ObservableType

HOST = Observable(type=ObservableType.IP, value="10.1.2.3")


def settings(**values: object) -> Settings:
    return make_settings("127.0.0.1:1", "redis://127.0.0.1:1", **values)


def test_the_inventory_follows_its_file_and_a_broken_edit_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "assets.yaml"
    path.write_text("assets:\n  - {name: db-1, ips: [10.1.2.3], criticality: high}\n")
    assets = AssetsFile(settings(XORB_ASSETS_FILE=str(path)))
    assert assets.current().context(HOST).asset == "db-1"

    path.write_text("assets:\n  - {name: db-1, ips: [10.1.2.3], criticality: critical, protected: true}\n")
    os.utime(path, ns=(1, 2))  # a new modification time, whatever the clock's resolution
    assert assets.current().context(HOST).protected is True

    path.write_text("assets:\n  - {name: db-1, ips: [not-an-address]}\n")
    os.utime(path, ns=(3, 4))
    kept = assets.current()
    assert kept.context(HOST).protected is True  # still protected: a typo must not unprotect it
    assert assets.problem is not None and "XORB_ASSETS_FILE" in assets.problem and "last good" in assets.problem


def test_without_a_file_only_the_internal_networks_are_ours() -> None:
    assets = AssetsFile(settings())
    assert not assets.watched
    assert assets.current().context(HOST).scope.value == "internal"


def test_bad_feeds_and_policy_files_are_one_line(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {name: x, type: csv, url: /tmp/x.csv, intervall: 1h}\n")
    with pytest.raises(SettingsError) as bad_feeds:
        read_feeds(settings(XORB_TI_FEEDS_FILE=str(feeds)))
    assert str(bad_feeds.value) == f"XORB_TI_FEEDS_FILE: {feeds}: feed 'x': intervall: unknown key (misspelt?)"
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nname: p\nrules: [{name: r, playbook: none, autonomy: sometimes}]\n")
    with pytest.raises(SettingsError) as bad_policy:
        read_policy(settings(XORB_POLICY_FILE=str(policy)))
    assert str(bad_policy.value).startswith(f"XORB_POLICY_FILE: {policy}: rule 'r' field 'autonomy': expected")
    assert read_policy(settings()).name == "conservative-default"
