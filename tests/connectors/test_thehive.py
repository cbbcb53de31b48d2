"""The TheHive connector against a recording TheHive 5: the alert's exact body (source xorb, sourceRef = the
incident, observables), TheHive's own refusal of a repeat turned into the alert in place, its delete as the undo,
a case found by its step tag before another is opened (also while the search index lags a retry), and refusals
told from failures to retry, with the API key only ever in the Authorization header."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.support.vendors.thehive import ORGANISATION, TheHive
from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.thehive import (
    CREATE_ALERT,
    CREATE_CASE,
    THEHIVE,
    AlertArgs,
    CaseArgs,
    DeleteAlertArgs,
    create_alert,
    create_case,
    delete_alert,
    health,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(30)]
API_KEY = "hive-key-" + "5c1e0d"
CONTEXT = CallContext(key="playbook-incident-7-1/raise", incident_id="incident-7", attempt=1)
ALERT = {"title": "C2 beacon from ws-9", "type": "C2-Beacon", "severity": 3, "tags": ["T1071"],
         "observables": [{"data_type": "ip", "data": "198.51.100.7", "ioc": True}]}  # fmt: skip


@pytest.fixture
def hive(monkeypatch: pytest.MonkeyPatch) -> Iterator[TheHive]:
    monkeypatch.setenv("XORB_TEST_HIVE_KEY", API_KEY)
    running = TheHive(API_KEY)
    try:
        yield running
    finally:
        running.stop()


def connection(hive: TheHive, **options: object) -> Connection:
    auth = Auth(type="bearer", token="env:XORB_TEST_HIVE_KEY")
    options = {"organisation": ORGANISATION, "index_settle": 2, **options}
    return Connection(name="hive", type="thehive", url=hive.url, auth=auth, options=options)


async def test_an_alert_names_the_incident_as_its_source_ref_and_its_delete_as_the_undo(hive: TheHive) -> None:
    done = await create_alert(connection(hive), AlertArgs.model_validate(ALERT), CONTEXT)
    create, read = hive.calls
    assert (create.method, create.path, read.method) == ("POST", "/api/v1/alert", "GET")
    assert create.body == {
        "type": "c2-beacon", "source": "xorb", "sourceRef": "incident-7", "title": "C2 beacon from ws-9",
        "description": "Raised by xorb-orchestrator for incident incident-7.", "severity": 3, "tags": ["T1071"],
        "tlp": 2, "pap": 2, "observables": [{"dataType": "ip", "data": "198.51.100.7", "tags": [], "ioc": True}],
    }  # fmt: skip
    assert create.headers["Authorization"] == f"Bearer {API_KEY}" and create.headers["X-Organisation"] == "SOC"
    [alert_id] = hive.alerts
    assert read.path == f"/api/v1/alert/{alert_id}"
    receipt = done.receipt
    assert receipt is not None and receipt.handle == alert_id and not receipt.repeated
    assert receipt.verified is not None and receipt.verified.ok and "status New" in receipt.verified.detail
    assert receipt.undo is not None and receipt.undo.model_dump() == {
        "action": "thehive.delete_alert", "args": {"alert_id": alert_id, "connection": "hive"}}  # fmt: skip
    assert CREATE_ALERT.undo == "thehive.delete_alert" and not CREATE_ALERT.one_way
    assert API_KEY not in receipt.model_dump_json() + json.dumps(done.details)


async def test_a_repeat_is_refused_by_thehive_and_returns_the_alert_in_place(hive: TheHive) -> None:
    first = await create_alert(connection(hive), AlertArgs.model_validate(ALERT), CONTEXT)
    hive.calls.clear()
    again = await create_alert(connection(hive), AlertArgs.model_validate(ALERT), replace(CONTEXT, attempt=2))
    assert len(hive.alerts) == 1  # one effect for the step, however often it runs
    refused, lookup, read = hive.calls
    assert (refused.path, lookup.path, lookup.query) == ("/api/v1/alert", "/api/v1/query", {"name": ["xorb-alert"]})
    assert lookup.body == {"query": [
        {"_name": "listAlert"},
        {"_name": "filter", "_and": [{"_eq": {"_field": "type", "_value": "c2-beacon"}},
                                     {"_eq": {"_field": "source", "_value": "xorb"}},
                                     {"_eq": {"_field": "sourceRef", "_value": "incident-7"}}]},
        {"_name": "page", "from": 0, "to": 1}]}  # fmt: skip
    assert first.receipt is not None and again.receipt is not None and again.receipt.repeated
    assert again.receipt.handle == first.receipt.handle == read.path.rsplit("/", 1)[1]


async def test_a_refused_repeat_waits_for_the_lagging_index_then_gives_up_to_a_retry(hive: TheHive) -> None:
    hive.index_lag = 2  # the alert stays out of the next two queries
    await create_alert(connection(hive), AlertArgs.model_validate(ALERT), CONTEXT)
    again = await create_alert(connection(hive), AlertArgs.model_validate(ALERT), replace(CONTEXT, attempt=2))
    assert again.receipt is not None and again.receipt.repeated and len(hive.alerts) == 1
    assert sum(c.path == "/api/v1/query" for c in hive.calls) == 3
    hive.index_lag = 50
    other = AlertArgs.model_validate({**ALERT, "type": "exfil"})
    await create_alert(connection(hive), other, CONTEXT)
    with pytest.raises(ConnectorUnavailable, match="says it exists but its query does not show it yet"):
        await create_alert(connection(hive, index_settle=0.6), other, replace(CONTEXT, attempt=2))


async def test_the_undo_deletes_the_alert_and_a_second_undo_finds_it_gone(hive: TheHive) -> None:
    done = await create_alert(connection(hive), AlertArgs.model_validate(ALERT), CONTEXT)
    assert done.receipt is not None and done.receipt.undo is not None
    undo = DeleteAlertArgs.model_validate(done.receipt.undo.args)
    hive.calls.clear()
    deleted = await delete_alert(connection(hive), undo, CONTEXT)
    assert [(c.method, c.path) for c in hive.calls] == [("DELETE", f"/api/v1/alert/{undo.alert_id}"),
                                                        ("GET", f"/api/v1/alert/{undo.alert_id}")]  # fmt: skip
    assert hive.alerts == {} and deleted.details == {"alert_id": undo.alert_id, "deleted": True}
    again = await delete_alert(connection(hive), undo, CONTEXT)
    assert again.receipt is not None and again.receipt.repeated and "already gone" in again.receipt.done
    with pytest.raises(ValueError):
        DeleteAlertArgs(alert_id="../user/current")


async def test_a_case_is_found_by_its_step_tag_before_another_is_opened(hive: TheHive) -> None:
    args = CaseArgs(title="Credential dumping on ws-9", tags=["T1003"], severity=4)
    first = await create_case(connection(hive), args, CONTEXT)
    lookup, opened, _read = hive.calls
    [tag] = [t for t in opened.body["tags"] if t.startswith("xorb-step-")]
    assert lookup.body["query"][1] == {"_name": "filter", "_eq": {"_field": "tags", "_value": tag}}
    assert opened.body == {"title": "Credential dumping on ws-9", "severity": 4, "tags": ["T1003", tag], "tlp": 2,
                           "pap": 2, "description": "Raised by xorb-orchestrator for incident incident-7."}  # fmt: skip
    assert first.receipt is not None and first.receipt.handle == "#1" and first.receipt.undo is None
    assert CREATE_CASE.one_way and CREATE_CASE.undo is None
    hive.index_lag = 2
    retried = replace(CONTEXT, key="playbook-incident-7-1/case", attempt=1)
    await create_case(connection(hive), args, retried)  # opened; the index hides it from the next two queries
    again = await create_case(connection(hive), args, replace(retried, attempt=2))
    assert len(hive.cases) == 2 and again.receipt is not None and again.receipt.repeated
    assert again.receipt.handle == "#2"


async def test_refusals_and_failures_are_told_apart_and_the_key_stays_out_of_them(
    hive: TheHive, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = AlertArgs.model_validate(ALERT)
    for status, error, said in ((429, ConnectorUnavailable, "retry after 7s"), (503, ConnectorUnavailable, "503"),
                                (403, ConnectorRejected, "check the API key")):  # fmt: skip
        hive.fail_next = [status]
        with pytest.raises(error, match=said) as caught:
            await create_alert(connection(hive), args, CONTEXT)
        assert API_KEY not in str(caught.value)
    monkeypatch.setenv("XORB_TEST_HIVE_KEY", "not-the-key")
    with pytest.raises(ConnectorRejected, match=r"401 .*AuthenticationError"):
        await create_alert(connection(hive), args, CONTEXT)
    with pytest.raises(ValueError):
        AlertArgs.model_validate({**ALERT, "severity": 5})
    assert hive.alerts == {}


async def test_health_reads_the_current_user_and_the_options_are_checked(hive: TheHive) -> None:
    assert await health(connection(hive)) == "TheHive answers: signed in as xorb@soc.example (organisation SOC)"
    assert hive.calls[-1].path == "/api/v1/user/current"
    with pytest.raises(ValueError):
        THEHIVE.options.model_validate({"organisaton": "typo"})
