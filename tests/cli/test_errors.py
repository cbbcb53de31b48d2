"""Start-up failures an operator will meet: a non-zero exit and exactly one line on stderr naming
the variable to fix, never a traceback. Run as real subprocesses of `xorb serve` and `python main.py`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from xorb_orchestrator.infrastructure.ports import free_port

XORB = Path(sys.executable).with_name("xorb")
TIMEOUT = 30

ENTRY_POINTS = {
    "xorb serve": [str(XORB), "serve"],
    "python main.py": [sys.executable, str(ROOT / "main.py")],
}


def base_env() -> dict[str, str]:
    """The caller's environment, made safe: a key is configured, and Temporal is an address where
    nothing listens (so a bad value that slipped through fails fast, on the wrong variable)."""
    env = dict(os.environ)
    for name in list(env):
        if name.upper().startswith(("TEMPORAL_", "XORB_")) or name.upper() in (
            "LOG_LEVEL",
            "MAX_PARALLEL_WORKFLOWS",
            "REDIS_URL",
        ):
            del env[name]
    env.update(
        {
            "XORB_API_KEYS": "cli-test-key",
            "TEMPORAL_HOST": f"127.0.0.1:{free_port()}",
            "TEMPORAL_CONNECT_TIMEOUT": "3",
            "XORB_API_PORT": str(free_port()),
        }
    )
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)


def assert_one_line_naming(result: subprocess.CompletedProcess[str], variable: str) -> str:
    assert result.returncode != 0, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    line = lines[0]
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert line.startswith("xorb: error: ")
    assert variable in line, line
    return line


def _tls_env(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "client.key"
    key.write_text("unused", encoding="utf-8")
    return {"TEMPORAL_TLS_CERT": str(tmp_path / "missing-client.pem"), "TEMPORAL_TLS_KEY": str(key)}


CASES: dict[str, tuple[str, object]] = {
    "parallel-not-a-number": ("MAX_PARALLEL_WORKFLOWS", {"MAX_PARALLEL_WORKFLOWS": "abc"}),
    "unknown-log-level": ("LOG_LEVEL", {"LOG_LEVEL": "LOUD"}),
    "temporal-not-listening": ("TEMPORAL_HOST", {}),  # base_env already points at a closed port
    "no-api-key": ("XORB_API_KEYS", {"XORB_API_KEYS": ""}),
    "tls-cert-missing": ("TEMPORAL_TLS_CERT", _tls_env),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", list(CASES))
def test_bad_start_up_is_one_line_naming_the_variable(entry: str, case: str, tmp_path: Path) -> None:
    variable, extra = CASES[case]
    env = base_env()
    env.update(extra(tmp_path) if callable(extra) else extra)  # type: ignore[arg-type]
    line = assert_one_line_naming(run(ENTRY_POINTS[entry], env), variable)
    if case == "temporal-not-listening":
        assert env["TEMPORAL_HOST"] in line
    if case == "tls-cert-missing":
        assert "missing-client.pem" in line


def test_a_misspelt_setting_stops_start_up_naming_the_right_one(tmp_path: Path) -> None:
    # XORB_NOTIFY_WEBHOOK_URL (no S) once made every notification quietly skip.
    env = base_env() | {"XORB_NOTIFY_WEBHOOK_URL": "https://hooks.example/T/x", "TEMPORAL_ADDRESS": "for-the-cli:7233"}
    for entry in ENTRY_POINTS:
        line = assert_one_line_naming(run(ENTRY_POINTS[entry], env), "XORB_NOTIFY_WEBHOOK_URL")
        assert line == (
            "xorb: error: XORB_NOTIFY_WEBHOOK_URL is not a setting (did you mean XORB_NOTIFY_WEBHOOK_URLS?)"
        ), entry  # the Temporal CLI's own TEMPORAL_ADDRESS is not ours, and not an error
    # A variable a connections file names as a secret is known; an unknown one far from any name says where to look.
    (tmp_path / "connections.yaml").write_text(
        'connections:\n  - {name: soc, type: http, url: "https://soc.example/", '
        'auth: {type: bearer, token: "env:XORB_SOC_TOKEN"}}\n'
    )
    env = base_env() | {"XORB_CONNECTORS_FILE": str(tmp_path / "connections.yaml"), "XORB_SOC_TOKEN": "t",
                        "XORB_WHATEVER_THIS_IS": "1"}  # fmt: skip
    line = assert_one_line_naming(run(ENTRY_POINTS["xorb serve"], env), "XORB_WHATEVER_THIS_IS")
    assert "XORB_SOC_TOKEN" not in line and "README.md lists every setting" in line


def test_two_bad_settings_still_one_line() -> None:
    env = base_env() | {"MAX_PARALLEL_WORKFLOWS": "abc", "LOG_LEVEL": "LOUD"}
    line = assert_one_line_naming(run(ENTRY_POINTS["xorb serve"], env), "MAX_PARALLEL_WORKFLOWS")
    assert "LOG_LEVEL" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--help"], "serve"),
        (["dev", "--help"], "--temporal-port"),
        (["serve", "--help"], "API and the worker"),
    ],
)
def test_help_exits_zero(args: list[str], says: str) -> None:
    result = run([str(XORB), *args], base_env())
    assert result.returncode == 0, result.stderr
    assert "Usage: xorb" in result.stdout
    assert says in result.stdout
    assert result.stderr == ""
