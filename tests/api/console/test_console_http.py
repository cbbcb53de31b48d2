"""The console over HTTP on the real service (Temporal, Redis, worker + API), with the README's demo policy and
playbook (docs/examples/console-demo): who gets in, what a form needs, and that a click decides as its person.
The same flows in a real browser: tests/browser/test_console_browser.py."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.support.paths import ROOT
from tests.support.stack import API_KEY, RedisServer, RunningService, make_settings, service
from xorb_orchestrator.devtools.webhook_sink import WebhookSink

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DEMO = ROOT / "docs" / "examples" / "console-demo"


@dataclass(frozen=True)
class People:
    alice: str  # soc-lead: may approve the demo step and resume autonomy
    mallory: str  # analyst: may look, not decide


@dataclass
class Console:
    svc: RunningService
    people: People
    sink: WebhookSink

    def browser(self) -> httpx.AsyncClient:
        """A client that keeps cookies, like a browser tab (and sends our Origin on forms, like one)."""
        return httpx.AsyncClient(base_url=self.svc.base_url, timeout=15, headers={"Origin": self.svc.base_url})

    async def sign_in(self, tab: httpx.AsyncClient, key: str, next_path: str = "/incidents") -> httpx.Response:
        form = await tab.get("/signin", params={"next": next_path})
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token, form.text
        return await tab.post("/signin", data={"token": token.group(1), "next": next_path, "key": key})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def beacon(title: str, source: str = "suricata-edge", dest: str = "203.0.113.10") -> dict[str, Any]:
    return {"title": title, "severity": "high", "source": source, "rule": "ET MALWARE beacon",
            "observables": {"src_ip": "10.0.0.5", "dest_ip": dest}, "techniques": ["T1071.001"]}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def console(
    temporal_address: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    people = People("xk-" + secrets.token_urlsafe(20), "xk-" + secrets.token_urlsafe(20))
    key_file: Path = tmp_path_factory.mktemp("console") / "api-keys"
    key_file.write_text(f"{people.alice} alice soc-lead,analyst\n{people.mallory} mallory analyst\n")
    sink = WebhookSink("127.0.0.1", 0).start()
    settings = make_settings(
        temporal_address, redis_server.url, XORB_API_KEY_FILE=str(key_file),
        XORB_POLICY_FILE=str(DEMO / "policy.yaml"), XORB_PLAYBOOKS_DIR=str(DEMO / "playbooks"),
        XORB_NOTIFY_WEBHOOK_URLS=sink.url, XORB_PUBLIC_URL="http://xorb.soc.example",
    )  # fmt: skip
    try:
        async with service(settings) as svc:
            yield Console(svc, people, sink)
    finally:
        sink.stop()


async def test_only_a_signed_in_person_gets_in(console: Console) -> None:
    async with console.browser() as tab:
        first = await tab.get("/")
        assert first.status_code == 303 and first.headers["location"] == "/signin?next=%2F"
        live = await tab.get("/incidents/live", headers={"X-Console-Live": "1"})
        assert live.status_code == 401  # the page's script reloads into the sign-in form

        wrong = await console.sign_in(tab, "not-a-key")
        assert wrong.status_code == 401 and "not a key this service accepts" in wrong.text
        service_key = await console.sign_in(tab, API_KEY)
        assert service_key.status_code == 403 and "service key" in service_key.text
        no_token = await tab.post("/signin", data={"token": "guess", "key": console.people.alice})
        assert no_token.status_code == 403 and "expired" in no_token.text
        assert "xorb_console" not in tab.cookies

        # Only our own paths after sign-in: no open redirect to another site.
        signed = await console.sign_in(tab, console.people.alice, next_path="//evil.example/x")
        assert signed.status_code == 303 and signed.headers["location"] == "/incidents"
        cookie = next(h for h in signed.headers.get_list("set-cookie") if h.startswith("xorb_console="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        for path in ("/incidents", "/approvals", "/containments", "/feeds", "/autonomy"):
            page = await tab.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert page.headers["cache-control"] == "no-store" and "alice" in page.text
            assert not re.search(r'(src|href)="(https?:)?//', page.text), path  # nothing from elsewhere (no CDN)
        assert (await tab.get("/console-static/console.js")).status_code == 200

        out = await tab.post("/signout", data={"csrf": csrf_of((await tab.get("/incidents")).text)})
        assert out.status_code == 303 and (await tab.get("/incidents")).status_code == 303


async def test_an_approval_is_decided_by_a_click_as_the_person(console: Console) -> None:
    svc = console.svc
    incident_id = await svc.send_alert(beacon("Beacon for the console"))
    waiting = await svc.wait_for_approval(incident_id, timeout=30)
    assert waiting["step_id"] == "approve-message"
    for _ in range(100):  # the notice goes out from the run's own step, a moment after the approval is listed
        notices = [b["text"] for b in console.sink.bodies() if incident_id in b.get("text", "")]
        if notices:
            break
        await asyncio.sleep(0.1)
    notice = notices[0]
    assert f"http://xorb.soc.example/incidents/{incident_id}" in notice  # the notice links to the page

    async with console.browser() as mallory, console.browser() as alice:
        await console.sign_in(mallory, console.people.mallory)
        await console.sign_in(alice, console.people.alice)
        listed = await alice.get("/incidents")
        assert incident_id in listed.text and "Beacon for the console" in listed.text
        page = (await mallory.get(f"/incidents/{incident_id}")).text
        assert "Your roles (analyst) cannot decide this one." in page and 'value="approve"' not in page

        path = f"/incidents/{incident_id}/decide"
        form = {"step": "approve-message", "decision": "approve", "comment": "known C2"}
        page = (await alice.get(f"/incidents/{incident_id}")).text
        assert 'value="approve"' in page and "Waiting for approval" in page
        no_csrf = await alice.post(path, data=form)
        assert no_csrf.status_code == 403 and "reload the page" in no_csrf.text
        cross_site = await alice.post(
            path, data={**form, "csrf": csrf_of(page)}, headers={"Origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403
        # A token is the session's own: mallory's does not carry alice's form, and hers does not count.
        stolen = await alice.post(path, data={**form, "csrf": csrf_of((await mallory.get("/incidents")).text)})
        assert stolen.status_code == 403
        refused = await mallory.post(path, data={**form, "csrf": csrf_of((await mallory.get("/incidents")).text)})
        assert refused.status_code == 303
        assert "Not counted" in (await mallory.get(refused.headers["location"])).text
        assert (await svc.wait_for_approval(incident_id))["received"] == 0

        decided = await alice.post(path, data={**form, "csrf": csrf_of(page)})
        assert decided.status_code == 303 and decided.headers["location"] == f"/incidents/{incident_id}"
        shown = (await alice.get(decided.headers["location"])).text
        assert "Approved step approve-message: approved (1 of 1 approvals)." in shown
        done = await svc.wait_for_incident(incident_id)
        [vote] = done["playbook_run"]["steps"][0]["votes"]
        assert (vote["approver"], vote["role"], vote["comment"]) == ("alice", "soc-lead", "known C2")
        assert [s["status"] for s in done["playbook_run"]["steps"]] == ["completed", "completed"]
        page = (await alice.get(f"/incidents/{incident_id}/live", headers={"X-Console-Live": "1"})).text
        assert "alice as soc-lead approved step approve-message" in page and "tell-soc" in page
    audit = await svc.http.get("/metrics")
    assert 'xorb_approval_decisions_total{decision="approve",identity="console"}' in audit.text


async def test_incidents_are_found_by_source_observable_text_and_time(console: Console) -> None:
    svc = console.svc
    tag = secrets.token_hex(3)
    edge = await svc.send_alert(beacon(f"Edge beacon {tag}", source=f"edge-{tag}", dest="198.51.100.77"))
    mail = await svc.send_alert(beacon(f"Mail beacon {tag}", source=f"mail-{tag}", dest="198.51.100.78"))
    for wanted, params in (
        ({edge}, {"source": f"EDGE-{tag}"}),
        ({mail}, {"observable": "198.51.100.78"}),
        ({edge, mail}, {"q": tag}),
        (set(), {"q": tag, "until": "2000-01-01T00:00:00"}),
        ({edge, mail}, {"q": tag, "since": "2000-01-01T00:00:00Z"}),
    ):
        answer = (await svc.http.get("/v1/incidents", params=params)).json()
        assert {item["incident_id"] for item in answer["items"]} == wanted, params
        assert answer["scanned"] >= len(wanted)
    bad = await svc.http.get("/v1/incidents", params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"})
    assert bad.status_code == 400 and "since: must be before until" in bad.json()["message"]
    async with console.browser() as tab:
        await console.sign_in(tab, console.people.mallory)
        rows = (
            await tab.get("/incidents/live", params={"source": f"mail-{tag}"}, headers={"X-Console-Live": "1"})
        ).text
        assert mail in rows and edge not in rows
        bad_time = await tab.get("/incidents", params={"since": "yesterday"})
        assert bad_time.status_code == 200 and "from: expected a date and time" in bad_time.text


async def test_the_kill_switch_from_the_console(console: Console) -> None:
    async with console.browser() as alice, console.browser() as mallory:
        await console.sign_in(alice, console.people.alice)
        await console.sign_in(mallory, console.people.mallory)
        page = (await mallory.get("/autonomy")).text
        assert "Running" in page and "Pause autonomy" in page
        paused = await mallory.post("/autonomy/pause", data={"csrf": csrf_of(page), "reason": "drill"})
        shown = (await mallory.get(paused.headers["location"])).text
        assert "Autonomy paused" in shown and "Paused</strong> by mallory" in shown
        assert "Resuming needs one of the roles soc-lead" in shown and "Resume autonomy" not in shown
        sneaky = await mallory.post("/autonomy/resume", data={"csrf": csrf_of(shown)})
        assert "Not resumed: mallory may not resume autonomy" in (await mallory.get(sneaky.headers["location"])).text
        page = (await alice.get("/autonomy")).text
        resumed = await alice.post("/autonomy/resume", data={"csrf": csrf_of(page), "reason": "drill over"})
        assert "Autonomy resumed." in (await alice.get(resumed.headers["location"])).text
    state = (await console.svc.http.get("/v1/autonomy")).json()
    assert state["autonomy"]["paused"] is False and state["autonomy"]["by"] == "alice"
