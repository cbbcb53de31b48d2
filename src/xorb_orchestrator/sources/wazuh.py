"""`wazuh`: Wazuh manager alerts, one line of `/var/ossec/logs/alerts/alerts.json` per event.

Severity: Wazuh rule levels run 0-15. The mapping follows Wazuh's own grouping of levels
(its dashboards call 0-6 low, 7-11 medium, 12-14 high, 15 critical) and keeps the bottom of the
scale, which Wazuh documents as "no action" / "successful or authorized events", informational:

    level  0-3  → informational (1)    level 7-11  → medium (3)      level 15 → critical (5)
    level  4-6  → low (2)              level 12-14 → high (4)

Network fields come in two spellings: Wazuh's decoders write `data.srcip` / `data.dstip` (sometimes
as `ip:port`), while its Suricata integration (the JSON decoder on `eve.json`) keeps EVE's own names
under `data` (`data.src_ip`, `data.dest_port`, `data.http.hostname`, `data.alert.signature_id` ...).
Both are read; the EVE part the same way the `suricata` adapter reads it.
"""

from __future__ import annotations

from typing import Any

from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.observable import ObservableType as T
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.sources.common import (
    RULE_MAX,
    Found,
    ObservableSet,
    as_dict,
    as_int,
    as_list,
    find,
    parse_time,
    require_text,
    split_address,
    techniques,
    text,
    texts,
    value,
)
from xorb_orchestrator.sources.errors import AlertFormatError
from xorb_orchestrator.sources.suricata import add_app_layer, add_endpoints, rule_techniques

SOURCE = "wazuh"
PRODUCT = "Wazuh"
MAX_LEVEL = 15


def level_to_severity(level: int) -> Severity:
    """A Wazuh rule level (0-15) on OCSF's scale; see the module docstring for why."""
    if level <= 3:
        return Severity.INFORMATIONAL
    if level <= 6:
        return Severity.LOW
    if level <= 11:
        return Severity.MEDIUM
    if level <= 14:
        return Severity.HIGH
    return Severity.CRITICAL


def parse(event: dict[str, Any]) -> Alert:
    """One alerts.json event as an Alert."""
    title = require_text(event, "rule.description")
    severity = _severity(find(event, "rule.level"))
    rule_id = text(value(event, "rule.id"), RULE_MAX)
    return Alert(
        source=SOURCE,
        product=PRODUCT,
        title=title,
        severity=severity,
        rule=rule_id or title[:RULE_MAX],
        rule_id=rule_id,
        rule_name=title,
        event_id=text(event.get("id"), RULE_MAX),
        time=parse_time(find(event, "timestamp")),
        observables=_observables(event),
        techniques=_techniques(event),
        categories=texts(as_list(value(event, "rule.groups")) + as_list(value(event, "data.alert.category"))),
        raw=event,
    )


def _severity(hit: Found | None) -> Severity:
    if hit is None:
        raise AlertFormatError("$.rule.level", "is required")
    level = as_int(hit.value)
    if level is None or not 0 <= level <= MAX_LEVEL:
        raise AlertFormatError(hit.path, f"expected a Wazuh rule level 0-15, got {hit.value!r}")
    return level_to_severity(level)


def _techniques(event: dict[str, Any]) -> list[str]:
    # A Suricata alert's rule may tag ATT&CK ids that Wazuh's pass-through rule (86601) does not.
    ids = as_list(value(event, "rule.mitre.id")) + rule_techniques(value(event, "data.alert.metadata"))
    return techniques(ids)


# Decoded fields under `data` (the names Wazuh's decoders use), and what each is. The addresses
# (`srcip`, `dstip`, their ports) are read apart: see _add_decoded_endpoints.
_DATA_FIELDS: list[tuple[str, T, str | None]] = [
    ("srcuser", T.USER, "src"),
    ("dstuser", T.USER, "dest"),
    ("url", T.URL, None),  # only when absolute; web access logs decode just the path
    ("hostname", T.HOSTNAME, None),
    # Windows event channel alerts
    ("win.eventdata.ipAddress", T.IP, "src"),
    ("win.eventdata.targetUserName", T.USER, None),
    ("win.eventdata.image", T.PROCESS, None),
]


def _observables(event: dict[str, Any]) -> list[Observable]:
    obs = ObservableSet()
    data = as_dict(event.get("data"))
    _add_decoded_endpoints(obs, data)
    # Wazuh's Suricata integration: the EVE alert as decoded JSON.
    add_endpoints(obs, data)
    add_app_layer(obs, data)
    for name, kind, role in _DATA_FIELDS:
        obs.add_field(data, name, kind, role)
    # The agent is the host the alert is about (or the manager itself, agent 000).
    obs.add_field(event, "agent.name", T.HOSTNAME)
    obs.add_field(event, "agent.ip", T.IP)
    for digest in ("sha256", "sha1", "md5"):
        obs.add_field(event, f"syscheck.{digest}_after", T.FILE_HASH)
    return obs.to_list()


def _add_decoded_endpoints(obs: ObservableSet, data: dict[str, Any]) -> None:
    """`srcip` / `dstip` (whole, or `ip:port` as the snort and some firewall decoders write them) and
    `srcport` / `dstport`, in EVE's shape so that the server's port is chosen the same way."""
    src_ip, src_port = split_address(value(data, "srcip"))
    dest_ip, dest_port = split_address(value(data, "dstip"))
    endpoints = {
        "src_ip": src_ip,
        "src_port": value(data, "srcport") or src_port,
        "dest_ip": dest_ip,
        "dest_port": value(data, "dstport") or dest_port,
    }
    add_endpoints(obs, endpoints)
