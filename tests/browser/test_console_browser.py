"""The console in a real browser: Debian's Chromium driven by Playwright, against `xorb dev` started as the README
says (the demo policy and playbook of docs/examples/console-demo), on free ports in a fresh data directory.

A new user's path: open the printed URL, sign in with the printed console key, watch the README's alert appear
without reloading, approve with a click, see the step complete. Then the same with the keyboard only. With
XORB_SCREENSHOTS_DIR set (`make screenshots`), each page is saved there (docs/console/ for the README)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.support.paths import ROOT
from tests.support.processes import XorbProcess, clean_env, start_xorb, wait_for_file
from xorb_orchestrator.devtools.webhook_sink import WebhookSink

playwright_api = pytest.importorskip("playwright.async_api", reason="Playwright for Python is not installed")
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)
pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.timeout(180),
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium; .ci/run does)"),
]
DEMO = ROOT / "docs" / "examples" / "console-demo"
# As the machine's probe starts it: no sandbox as root, and nothing reaching out to the closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip
README_ALERT = {
    "title": "Outbound C2 beacon",
    "severity": "high",
    "source": "suricata-edge",
    "rule": "ET MALWARE beacon",
    "observables": {"src_ip": "10.0.0.5", "dest_ip": "203.0.113.10", "domain": "c2.example"},
    "techniques": ["T1071.001"],
}


@dataclass
class Dev:
    proc: XorbProcess
    api: str
    service_key: str
    console_key: str

    async def send(self, alert: dict[str, Any]) -> str:
        async with httpx.AsyncClient(timeout=15) as http:
            answer = await http.post(f"{self.api}/v1/alerts", json=alert,
                                     headers={"Authorization": f"Bearer {self.service_key}"})  # fmt: skip
        assert answer.status_code == 202, answer.text
        return str(answer.json()["incident_id"])


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    started = WebhookSink("127.0.0.1", 0).start()
    yield started
    started.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev(tmp_path_factory: pytest.TempPathFactory, sink: WebhookSink) -> AsyncIterator[Dev]:
    work = tmp_path_factory.mktemp("dev")
    env = clean_env(XORB_POLICY_FILE=DEMO / "policy.yaml", XORB_PLAYBOOKS_DIR=DEMO / "playbooks",
                    XORB_NOTIFY_WEBHOOK_URLS=sink.url)  # fmt: skip
    args = ["dev", "--data-dir", str(work / "data"), "--api-port", "0", "--temporal-port", "0", "--ui-port", "0"]
    proc = start_xorb(args, env, work / "dev.log")
    try:
        await wait_for_file(work / "data" / "endpoints.json", proc, timeout=90)
        endpoints = json.loads((work / "data" / "endpoints.json").read_text())
        printed = proc.output()
        console_key = (work / "data" / "console_key").read_text().strip()
        assert f"Console key  {console_key}" in printed and f"Console      {endpoints['api_url']}/" in printed
        yield Dev(proc, endpoints["api_url"], (work / "data" / "api_key").read_text().strip(), console_key)
    finally:
        proc.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def page(dev: Dev) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        opened = await context.new_page()
        problems: list[str] = []
        opened.on("pageerror", lambda error: problems.append(str(error)))
        opened.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
        yield opened
        await browser.close()
        assert not problems, problems  # no script error, nothing the page asked for went missing


async def shoot(page: Any, name: str) -> None:
    directory = os.environ.get("XORB_SCREENSHOTS_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


async def test_sign_in_watch_an_incident_appear_and_approve_it(dev: Dev, page: Any) -> None:
    await page.goto(dev.api + "/")  # the printed URL
    assert page.url.endswith("/signin?next=%2F")
    await shoot(page, "signin")
    await page.fill("#key", dev.console_key)
    await page.click("form[action='/signin'] button[type=submit]")
    await page.wait_for_url("**/incidents")
    assert await page.locator("header").inner_text() != ""

    incident_id = await dev.send(README_ALERT | {"id": "evt-browser-1"})
    row = page.locator(f"a[href='/incidents/{incident_id}']")
    await row.wait_for(timeout=20_000)  # appeared live: this page was never reloaded
    await shoot(page, "incidents")
    await row.click()
    await page.wait_for_url(f"**/incidents/{incident_id}")
    approve = page.locator("button.approve")
    await approve.wait_for(timeout=30_000)  # the approval arrives on the open page by itself if it was not there
    await shoot(page, "incident-waiting")
    await page.fill("input[name=comment]", "known C2 server, tell the channel")
    await approve.click()
    await page.wait_for_selector(".flash:has-text('Approved step approve-message')")
    completed = page.locator("tr:has(code:text-is('tell-soc')) .badge-completed")
    await completed.wait_for(timeout=30_000)  # the step completing, shown by the live region
    assert await page.locator("text=approved step approve-message: “known C2 server, tell the channel”").count() == 1
    await shoot(page, "incident-done")

    for path in ("/approvals", "/containments", "/feeds", "/autonomy"):
        await page.click(f"nav a[href='{path}']")
        await page.wait_for_url(f"**{path}")
        assert await page.locator("nav a[aria-current='page']").get_attribute("href") == path
        await shoot(page, path.strip("/"))


async def _tab_to(page: Any, selector: str, most: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus, as a keyboard user would."""
    target = page.locator(selector).first
    for _ in range(most):
        await page.keyboard.press("Tab")
        if await target.evaluate("element => element === document.activeElement"):
            outline = await target.evaluate("element => getComputedStyle(element).outlineStyle")
            assert outline != "none", f"{selector} has the focus but shows no outline"
            return
    raise AssertionError(f"{most} Tab presses never reached {selector}")


async def test_the_same_with_the_keyboard_only(dev: Dev, page: Any) -> None:
    await page.goto(dev.api + "/incidents")
    await page.keyboard.type(dev.console_key)  # the key field has the focus on arrival
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/incidents")

    alert = {"id": "evt-keyboard", "title": "Beacon, keyboard pass", "rule": "keyboard-pass",
             "observables": {"dest_ip": "203.0.113.11"}}  # fmt: skip
    incident_id = await dev.send(README_ALERT | alert)
    link = f"a[href='/incidents/{incident_id}']"
    await page.locator(link).wait_for(timeout=20_000)
    await _tab_to(page, link)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/incidents/{incident_id}")
    await page.locator("button.approve").wait_for(timeout=30_000)
    await _tab_to(page, "input[name=comment]")
    await page.keyboard.type("approved from the keyboard")
    await _tab_to(page, "button.approve", most=3)
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".flash:has-text('Approved step approve-message')")
    await page.locator("tr:has(code:text-is('tell-soc')) .badge-completed").wait_for(timeout=30_000)
    # The skip link is the first stop, for people who tab past the navigation every time.
    await page.goto(dev.api + "/approvals")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"


async def test_api_docs_work_offline_and_try_it_out_with_the_key(dev: Dev, page: Any) -> None:
    """/docs from the package's own assets (the browser is offline but for loopback), "Authorize" with the key, and
    "Try it out" answers 200 with the incidents."""
    await page.goto(dev.api + "/docs")
    await page.locator("button.authorize").first.click()
    await page.locator(".auth-container input").first.fill(dev.service_key)
    await page.locator(".auth-btn-wrapper button.authorize").first.click()
    await page.locator(".auth-btn-wrapper button.btn-done").first.click()
    operation = page.locator(".opblock-get:has(.opblock-summary-path[data-path='/v1/incidents'])").first
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    await status.wait_for(timeout=45_000)  # the list reads every incident's view: seconds on a loaded machine
    assert (await status.inner_text()).strip() == "200"
    await shoot(page, "api-docs")
