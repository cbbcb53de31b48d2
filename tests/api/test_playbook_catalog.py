"""The playbook catalog a deployment serves cannot be wrong silently: the default is the bundled playbooks wherever
the service runs from; a missing directory or a playbook id a setting names that does not exist stops start-up with
one line; a broken file is said at start-up and in GET /v1/playbooks, while the rest of the catalog serves."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import ROOT
from tests.support.stack import make_settings, service
from xorb_orchestrator.config import SettingsError, load_settings

pytestmark = pytest.mark.timeout(60)  # async tests run on the session loop (pyproject)
GOOD = (ROOT / "playbooks" / "open-case.yaml").read_text()


def test_the_default_is_the_bundled_playbooks_from_any_working_directory(tmp_path: Path) -> None:
    here = os.getcwd()
    try:
        os.chdir(tmp_path)  # nothing called playbooks/ here
        settings = load_settings()
    finally:
        os.chdir(here)
    assert settings.playbooks_dir.is_dir()
    assert (settings.playbooks_dir / "contain-malicious-ip.yaml").exists()
    with pytest.raises(SettingsError, match=r"XORB_PLAYBOOKS_DIR: expected a directory that exists, got '/no/such'"):
        load_settings(XORB_PLAYBOOKS_DIR="/no/such")


async def test_a_broken_file_is_reported_while_the_rest_serves(
    temporal_address: str, redis_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "open-case.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text("id: broken\nname: Broken\nversion: '1'\nsteps: [{id: a, action: no.such}]\n")
    settings = make_settings(temporal_address, redis_server.url, XORB_PLAYBOOKS_DIR=str(tmp_path))
    with caplog.at_level(logging.WARNING):
        async with service(settings) as svc:
            listed = (await svc.http.get("/v1/playbooks")).json()
    assert [item["id"] for item in listed["items"]] == ["open-case"]
    [problem] = listed["problems"]
    assert problem.startswith(f"{tmp_path / 'broken.yaml'}: step 'a' field 'action': unknown action 'no.such'")
    assert any("playbook left out: " + problem == r.getMessage() for r in caplog.records)


async def test_a_playbook_id_no_playbook_has_stops_start_up(
    temporal_address: str, redis_server: Any, tmp_path: Path
) -> None:
    settings = make_settings(
        temporal_address, redis_server.url, XORB_AUTO_PLAYBOOKS="contain-malicious-ip, contain-malware-hst",
        XORB_PLAYBOOK_INPUTS='{"compromised-acount": {"idp": "okta"}}',
    )  # fmt: skip
    with pytest.raises(SettingsError) as stopped:
        async with service(settings):
            pass
    assert str(stopped.value) == (
        f"XORB_PLAYBOOK_INPUTS: no playbook 'compromised-acount' in {settings.playbooks_dir} "
        "(did you mean 'compromised-account'?); "
        "XORB_AUTO_PLAYBOOKS: no playbook 'contain-malware-hst' in "
        f"{settings.playbooks_dir} (did you mean 'contain-malware-host'?)"
    )
