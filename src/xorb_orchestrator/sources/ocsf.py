"""`ocsf`: OCSF Detection Finding (class_uid 2004) and Security Finding (2001) events.

Only those two classes are alerts: an attack or threat detected. Any other class is ignored (None, counted
by the caller, as Suricata's flow events are): the other findings describe a state rather than an attack
(2002 Vulnerability, 2003 Compliance, 2007 Application Security Posture), an incident another system already
opened (2005 Incident), or mix detections with classification results (2006 Data Security); the other
categories are activity (authentication, network, process ...), not findings.

Rule: OCSF has no one field for it, and products fill different ones. In order: the analytic's uid,
`metadata.event_code` (Prowler's check id), the analytic's name, `finding_info.types[]` (GuardDuty's finding
type), `metadata.product.feature.name`. Without any, correlation falls back to the title, which for some
products embeds the resource (an ARN, an address) and so keys one incident per resource.

Event id: `metadata.uid` names the event. Without it, the finding's uid names the finding, which stays the same
through its Create, Update and Close events: alone it would make a finding's update (GuardDuty raising Low to High)
a re-delivery of its creation. So the id is the finding's uid with what changes between its events:
`<finding uid>:<activity_id>:<time, epoch ms>:<severity_id>`. A re-delivery of one event keeps all four.

Severity: OCSF's `severity_id` is this project's scale, taken as is (0-6). `99` (Other) means the
sender's own label is in `severity`: it is used when it names an OCSF level, else unknown (0).

Observables come from the event's `observables[]` (by `type_id`, with the role read from `name`:
`src_endpoint.ip` is the source side) and from the objects a finding carries: `src_endpoint`,
`dst_endpoint`, `device`, and each of `evidences[]` (endpoints, actor user and process, process,
file hashes, DNS query, URL). Whether a hostname is ours or a domain: see ocsf_hosts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.observable import ObservableType as T
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.sources.common import (
    RULE_MAX,
    ObservableSet,
    as_dict,
    as_int,
    as_list,
    find,
    first,
    parse_time,
    require_text,
    techniques,
    text,
    texts,
    value,
)
from xorb_orchestrator.sources.errors import AlertFormatError
from xorb_orchestrator.sources.ocsf_hosts import MAX_EVIDENCES, HostContext, host_context, host_kind

SOURCE = "ocsf"
CLASSES = {2004: "Detection Finding", 2001: "Security Finding"}  # the classes that are alerts
OTHER = 99
FINDING_UID_MAX = 400  # leaves room in the event id (RULE_MAX) for what changes between a finding's events

# observable.type_id (OCSF 1.x dictionary types) → our type. 5 (email address) counts as a user
# only when it names a user's address; 7 (file name), 3 (MAC) and the object types without a
# scalar value (20 endpoint, 24 file, 25 process ...) have no observable of ours.
OBSERVABLE_TYPES: dict[int, T] = {
    1: T.HOSTNAME,
    2: T.IP,
    4: T.USER,
    6: T.URL,
    8: T.FILE_HASH,
    9: T.PROCESS,
    11: T.PORT,
    21: T.USER,
    23: T.URL,
}
EMAIL = 5


def parse(event: dict[str, Any]) -> Alert | None:
    """One OCSF finding as an Alert; None for an event of a class that is not an alert (see above)."""
    if _class(event) not in CLASSES:
        return None
    title = require_text(event, "finding_info.title", "finding.title", "message")
    analytic = as_dict(value(event, "finding_info.analytic", "analytic"))
    rule_id = text(analytic.get("uid"), RULE_MAX) or text(value(event, "metadata.event_code"), RULE_MAX)
    rule_name = text(analytic.get("name"), 1000)
    severity = _severity(event)
    time = parse_time(first(event, "time", "time_dt"))
    return Alert(
        source=SOURCE,
        product=text(value(event, "metadata.product.name"), 200),
        title=title,
        severity=severity,
        rule=rule_id or (rule_name[:RULE_MAX] if rule_name else None) or _rule_fallback(event),
        rule_id=rule_id,
        rule_name=rule_name,
        event_id=text(value(event, "metadata.uid"), RULE_MAX) or _finding_event_id(event, severity, time),
        time=time,
        observables=_observables(event),
        techniques=_techniques(event),
        categories=_finding_types(event),
        raw=event,
    )


def _class(event: dict[str, Any]) -> int:
    hit = find(event, "class_uid")
    if hit is None:
        raise AlertFormatError("$.class_uid", "is required (2004 Detection Finding or 2001 Security Finding)")
    number = as_int(hit.value)
    if number is None:
        raise AlertFormatError(hit.path, f"expected an OCSF class_uid (a number such as 2004), got {hit.value!r}")
    return number


def _finding_event_id(event: dict[str, Any], severity: Severity, time: datetime | None) -> str | None:
    """Without `metadata.uid`: one event of the finding (see above), or None without a finding uid."""
    finding = text(value(event, "finding_info.uid", "finding.uid"), FINDING_UID_MAX)
    if finding is None:
        return None
    activity = text(event.get("activity_id")) or text(event.get("activity_name"), 40) or ""
    millis = str(round(time.timestamp() * 1000)) if time else ""
    return f"{finding}:{activity}:{millis}:{int(severity)}"[:RULE_MAX]


def _finding_types(event: dict[str, Any]) -> list[str]:
    return texts(value(event, "finding_info.types", "finding.types"))


def _rule_fallback(event: dict[str, Any]) -> str | None:
    """Without an analytic or event code: the finding's types, else the product feature that found it."""
    types = _finding_types(event)
    if types:
        return "; ".join(types)[:RULE_MAX]
    return text(value(event, "metadata.product.feature.name"), RULE_MAX)


def _severity(event: dict[str, Any]) -> Severity:
    hit = find(event, "severity_id")
    if hit is None:
        raise AlertFormatError("$.severity_id", "is required")
    number = as_int(hit.value)
    if number == OTHER:
        try:
            return Severity.parse(text(event.get("severity")) or "")
        except ValueError:
            return Severity.UNKNOWN
    if number is None or number not in Severity._value2member_map_:
        raise AlertFormatError(hit.path, f"expected an OCSF severity_id 0-6 or 99, got {hit.value!r}")
    return Severity(number)


def _techniques(event: dict[str, Any]) -> list[str]:
    # OCSF 1.1+ puts attacks in finding_info; 1.0 and Security Finding have them at the top.
    attacks = as_list(value(event, "finding_info.attacks")) + as_list(event.get("attacks"))
    ids: list[Any] = []
    for attack in attacks:
        attack = as_dict(attack)
        ids.append(value(attack, "technique.uid"))
        ids.append(value(attack, "sub_technique.uid"))
    return techniques(ids)


def _observables(event: dict[str, Any]) -> list[Observable]:
    obs = ObservableSet()
    hosts = host_context(event)
    for item in as_list(event.get("observables")):
        _add_declared(obs, as_dict(item), hosts)
    obs.add(T.HOSTNAME, value(event, "device.hostname"))
    obs.add(T.IP, value(event, "device.ip"))
    _add_evidence(obs, event, "", hosts)
    for evidence in as_list(event.get("evidences"))[:MAX_EVIDENCES]:
        _add_evidence(obs, as_dict(evidence), "evidences", hosts)
    return obs.to_list()


def _add_declared(obs: ObservableSet, item: dict[str, Any], hosts: HostContext) -> None:
    name = str(item.get("name") or "")
    role = "src" if "src_endpoint" in name else "dest" if "dst_endpoint" in name else None
    type_id = as_int(item.get("type_id"))
    kind = OBSERVABLE_TYPES.get(type_id) if type_id is not None else None
    if type_id == EMAIL and "user" in name:
        kind = T.USER
    if kind is T.HOSTNAME:
        kind = host_kind(name, item.get("value"), hosts)
    if kind is None or (kind is T.PORT and role == "src"):
        return
    obs.add(kind, item.get("value"), role)


def _add_evidence(obs: ObservableSet, part: dict[str, Any], base: str, hosts: HostContext) -> None:
    for endpoint, role in (("src_endpoint", "src"), ("dst_endpoint", "dest")):
        obs.add(T.IP, value(part, f"{endpoint}.ip"), role)
        path = f"{base}.{endpoint}.hostname" if base else f"{endpoint}.hostname"
        hostname = value(part, f"{endpoint}.hostname")
        obs.add(host_kind(path, hostname, hosts), hostname, role)
    obs.add(T.PORT, value(part, "dst_endpoint.port"), "dest")
    obs.add(T.USER, value(part, "actor.user.name"))
    obs.add(T.PROCESS, value(part, "actor.process.name"))
    obs.add(T.PROCESS, value(part, "process.name"))
    obs.add(T.DOMAIN, value(part, "query.hostname"))
    obs.add(T.URL, value(part, "url.url_string"))
    for holder in ("file", "process.file", "actor.process.file"):
        for digest in as_list(value(part, f"{holder}.hashes")):
            obs.add(T.FILE_HASH, as_dict(digest).get("value"))
