"""`ecs`: Elastic Security detection alerts (the documents of `.alerts-security.alerts-*`).

Elastic writes the `kibana.alert.*` fields as flat dotted keys and the ECS fields of the source
event as nested objects; both forms (and any mix) are read. A search hit (`{"_id", "_source"}`)
is unwrapped, and paths in errors then start at `$._source`. Elastic 7.x `signal.*` alerts are
read as a fallback.

Severity: `kibana.alert.severity` (low, medium, high, critical) maps to the OCSF label of the same
name. Without it, `kibana.alert.risk_score` (0-100) is banded as Elastic bands it:
0-21 low (2), 22-47 medium (3), 48-73 high (4), 74-100 critical (5).

Time: `kibana.alert.original_time` (`signal.original_time` in 7.x), when the matched event happened;
`@timestamp` is when the rule ran, minutes to hours later for a rule with a look-back, and is used only
without it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.observable import ObservableType as T
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.sources.common import (
    RULE_MAX,
    ObservableSet,
    as_dict,
    as_list,
    first,
    missing_path,
    parse_time,
    require_text,
    techniques,
    text,
    texts,
    value,
)
from xorb_orchestrator.sources.errors import AlertFormatError

SOURCE = "ecs"
PRODUCT = "Elastic Security"
ELASTIC_SEVERITIES = ("low", "medium", "high", "critical")
RISK_BANDS = ((21, Severity.LOW), (47, Severity.MEDIUM), (73, Severity.HIGH), (100, Severity.CRITICAL))


def parse(event: dict[str, Any]) -> Alert:
    """One Elastic Security alert document (or search hit) as an Alert."""
    doc, base = event, "$"
    if isinstance(event.get("_source"), dict):
        doc, base = event["_source"], "$._source"
    title = require_text(doc, "kibana.alert.rule.name", "signal.rule.name", base=base)
    # rule_id is the rule's stable id (the same in every space and after export/import);
    # the uuid is the id of one installed copy. Correlation wants the stable one.
    rule_id = text(
        value(doc, "kibana.alert.rule.rule_id", "kibana.alert.rule.uuid", "signal.rule.rule_id", base=base),
        RULE_MAX,
    )
    event_id = text(value(doc, "kibana.alert.uuid", "event.id", base=base), RULE_MAX)
    return Alert(
        source=SOURCE,
        product=PRODUCT,
        title=title,
        severity=_severity(doc, base),
        rule=rule_id or title[:RULE_MAX],
        rule_id=rule_id,
        rule_name=title,
        event_id=event_id or text(event.get("_id"), RULE_MAX),
        time=parse_time(first(doc, "kibana.alert.original_time", "signal.original_time", "@timestamp", base=base)),
        observables=_observables(doc),
        techniques=_techniques(value(doc, "kibana.alert.rule.threat", "signal.rule.threat", base=base)),
        categories=texts(value(doc, "kibana.alert.rule.tags", "signal.rule.tags", base=base)),
        raw=event,
    )


def _severity(doc: dict[str, Any], base: str) -> Severity:
    label = first(doc, "kibana.alert.severity", "signal.rule.severity", base=base)
    if label is not None:
        name = text(label.value)
        if name is None or name.lower() not in ELASTIC_SEVERITIES:
            expected = ", ".join(ELASTIC_SEVERITIES)
            raise AlertFormatError(label.path, f"expected one of {expected}, got {label.value!r}")
        return Severity.parse(name)
    score = first(doc, "kibana.alert.risk_score", "signal.rule.risk_score", base=base)
    if score is None:
        raise AlertFormatError(missing_path(base, "kibana.alert.severity"), "is required (or kibana.alert.risk_score)")
    number = score.value
    if isinstance(number, bool) or not isinstance(number, int | float) or not 0 <= number <= 100:
        raise AlertFormatError(score.path, f"expected a risk score 0-100, got {number!r}")
    return next(severity for top, severity in RISK_BANDS if number <= top)


def _techniques(threats: Any) -> list[str]:
    ids: list[Any] = []
    for threat in as_list(threats):
        threat = as_dict(threat)
        if str(threat.get("framework") or "MITRE ATT&CK").upper() != "MITRE ATT&CK":
            continue
        for technique in as_list(threat.get("technique")):
            technique = as_dict(technique)
            ids.append(technique.get("id"))
            ids.extend(as_dict(sub).get("id") for sub in as_list(technique.get("subtechnique")))
    return techniques(ids)


# ECS fields and what each is. Only the destination port: source ports are ephemeral.
_FIELDS: list[tuple[str, T, str | None]] = [
    ("source.ip", T.IP, "src"),
    ("destination.ip", T.IP, "dest"),
    ("destination.port", T.PORT, "dest"),
    ("destination.domain", T.DOMAIN, "dest"),
    ("host.name", T.HOSTNAME, None),
    ("user.name", T.USER, None),
    ("url.full", T.URL, None),
    ("dns.question.name", T.DOMAIN, None),
    ("file.hash.sha256", T.FILE_HASH, None),
    ("file.hash.sha1", T.FILE_HASH, None),
    ("file.hash.md5", T.FILE_HASH, None),
    ("process.hash.sha256", T.FILE_HASH, None),
    ("process.hash.sha1", T.FILE_HASH, None),
    ("process.hash.md5", T.FILE_HASH, None),
]


def _observables(doc: dict[str, Any]) -> list[Observable]:
    obs = ObservableSet()
    for name, kind, role in _FIELDS:
        obs.add_field(doc, name, kind, role)
    obs.add(T.IP, _host_ips(value(doc, "host.ip")))
    # One process observable: its name, which is what EDR actions and analysts pivot on.
    obs.add(T.PROCESS, value(doc, "process.name", "process.executable"))
    return obs.to_list()


def _host_ips(items: Any) -> list[Any]:
    """The host's addresses, without link-local and loopback ones: every host has those, so they name
    none (Beats list each interface's fe80:: address)."""
    out: list[Any] = []
    for item in as_list(items):
        try:
            address = ipaddress.ip_address(str(item).strip())
        except ValueError:
            continue
        if not (address.is_link_local or address.is_loopback):
            out.append(item)
    return out
