"""`xorb actuator slpf` as an operator runs it: careless set-ups are refused with one line (plain HTTP off
loopback, no way to authenticate), and over HTTPS with required client certificates it serves only clients that
have one, needing no API key; SIGTERM stops it cleanly."""

from __future__ import annotations

import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.actuator.actuators import namespace
from tests.support.processes import clean_env

pytestmark = pytest.mark.timeout(60)

XORB = [sys.executable, "-c", "from xorb_orchestrator.cli.main import main; main()"]


def refused(args: list[str], **env: str) -> str:
    """Run a start-up that must fail: exit 2 and exactly one line on stderr, which is returned."""
    done = subprocess.run(
        [*XORB, "actuator", "slpf", *args], env=clean_env(**env), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xorb: error: "), done.stderr
    return lines[0]


def test_careless_set_ups_are_refused_with_one_line(tmp_path: Path) -> None:
    keys = {"XORB_ACTUATOR_API_KEYS": "k1,k2"}
    said = refused(["--listen", "0.0.0.0:8443"], **keys)
    assert "plain HTTP only on a loopback address, not 0.0.0.0" in said
    assert "no API keys: set XORB_ACTUATOR_API_KEYS" in refused(["--listen", "127.0.0.1:0"])
    missing = str(tmp_path / "missing.pem")
    said = refused(["--listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing], **keys)
    assert "--tls-cert/--tls-key: cannot use" in said


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (it makes the test certificates)")
    where = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-days", "1", "-subj", "/CN=xorb test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=where
    )
    (where / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=soar.example")):
        _openssl("req", *ec, "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=where)
        extra = ["-extfile", "server.ext"] if name == "server" else []
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            f"{name}.pem",
            *extra,
            cwd=where,
        )
    return where


@pytest.fixture
def netns() -> Iterator[str]:
    with namespace() as name:
        yield name


def test_https_with_client_certificates_and_no_api_key(pki: Path, netns: str, tmp_path: Path) -> None:
    log = tmp_path / "actuator.log"
    args = [
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        str(pki / "server.pem"),
        "--tls-key",
        str(pki / "server.key"),
        "--tls-client-ca",
        str(pki / "ca.pem"),
        "--netns",
        netns,
        "--state-dir",
        str(tmp_path / "state"),
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen([*XORB, "actuator", "slpf", *args], env=clean_env(), stdout=out, stderr=out)
    try:
        url = _listening_url(log, proc)
        assert url.startswith("https://127.0.0.1:")
        query = {"action": "query", "target": {"features": ["versions"]}}
        headers = {"Content-Type": "application/openc2-cmd+json;version=1.0"}
        with_certificate = ssl.create_default_context(cafile=pki / "ca.pem")
        with_certificate.load_cert_chain(pki / "client.pem", pki / "client.key")
        with httpx.Client(verify=with_certificate, timeout=10) as client:
            answer = client.post(url, json=query, headers=headers)
        assert (answer.status_code, answer.json()) == (200, {"status": 200, "results": {"versions": ["1.0"]}})
        without = ssl.create_default_context(cafile=pki / "ca.pem")
        with httpx.Client(verify=without, timeout=10) as anonymous, pytest.raises(httpx.HTTPError):
            anonymous.post(url, json=query, headers=headers)  # no client certificate: the server hangs up
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def _listening_url(log: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"listening on (\S+),", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError("the actuator did not say where it listens:\n" + log.read_text())
