"""`suricata`: Suricata EVE JSON (`eve.json`) alert events.

One EVE line is one event. Only `event_type: alert` becomes an alert; every other type (flow,
dns, http, tls, fileinfo, stats, anomaly ...) is ordinary telemetry and returns None, for the
caller to count as ignored rather than reject.

Severity: `alert.severity` is the rule's classification priority, where 1 is the most severe.
1 → high (4), 2 → medium (3), 3 → low (2), 4 and above → informational (1).
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
    techniques,
    text,
    texts,
    value,
)
from xorb_orchestrator.sources.errors import AlertFormatError

SOURCE = "suricata"
PRODUCT = "Suricata"
SEVERITY = {1: Severity.HIGH, 2: Severity.MEDIUM, 3: Severity.LOW}


def parse(event: dict[str, Any]) -> Alert | None:
    """One EVE event as an Alert, or None when it is not an alert event."""
    if require_text(event, "event_type", limit=100) != "alert":
        return None
    if not isinstance(event.get("alert"), dict):
        raise AlertFormatError("$.alert", "an alert event needs an `alert` object")
    title = require_text(event, "alert.signature")
    severity = _severity(find(event, "alert.severity"))
    sid = text(value(event, "alert.signature_id"), RULE_MAX)
    metadata = as_dict(value(event, "alert.metadata"))
    return Alert(
        source=SOURCE,
        product=PRODUCT,
        title=title,
        severity=severity,
        rule=sid or title[:RULE_MAX],
        rule_id=sid,
        rule_name=title,
        event_id=_event_id(event, sid),
        time=parse_time(find(event, "timestamp")),
        observables=_observables(event),
        techniques=techniques(as_list(metadata.get("mitre_technique_id"))),
        categories=texts(value(event, "alert.category")),
        raw=event,
    )


def _severity(hit: Found | None) -> Severity:
    if hit is None:
        raise AlertFormatError("$.alert.severity", "is required")
    number = as_int(hit.value)
    if number is None or number < 1:
        raise AlertFormatError(hit.path, f"expected Suricata's priority 1 (high) to 4, got {hit.value!r}")
    return SEVERITY.get(number, Severity.INFORMATIONAL)


def _event_id(event: dict[str, Any], sid: str | None) -> str | None:
    """Suricata has no event id; flow + packet time + rule identify one alert across re-sends."""
    flow_id, timestamp = text(event.get("flow_id")), text(event.get("timestamp"))
    if flow_id is None or timestamp is None or sid is None:
        return None
    gid = text(value(event, "alert.gid")) or "1"
    return f"{flow_id}:{timestamp}:{gid}:{sid}"


def _observables(event: dict[str, Any]) -> list[Observable]:
    obs = ObservableSet()
    obs.add(T.IP, event.get("src_ip"), "src")
    obs.add(T.IP, event.get("dest_ip"), "dest")
    # Only the server's port: the client's is ephemeral and would only split and bloat incidents.
    # A to_client alert (a response, a download) has the server on the source side.
    if event.get("direction") == "to_client":
        obs.add(T.PORT, event.get("src_port"), "src")
    else:
        obs.add(T.PORT, event.get("dest_port"), "dest")

    http = as_dict(event.get("http"))
    obs.add(T.DOMAIN, http.get("hostname"))
    obs.add(T.URL, _http_url(http))
    dns = as_dict(event.get("dns"))
    # EVE has written DNS three ways over the versions: flat (v1), `query` list (v2), `queries` (v3).
    obs.add(T.DOMAIN, dns.get("rrname"))
    for key in ("query", "queries"):
        for item in as_list(dns.get(key)):
            obs.add(T.DOMAIN, as_dict(item).get("rrname"))
    obs.add(T.DOMAIN, as_dict(event.get("tls")).get("sni"))
    fileinfo = as_dict(event.get("fileinfo"))
    for digest in ("sha256", "sha1", "md5"):
        obs.add(T.FILE_HASH, fileinfo.get(digest))
    return obs.to_list()


def _http_url(http: dict[str, Any]) -> str | None:
    """EVE logs the request target (`/path?q`) and the Host separately; the observable is the full URL."""
    target, host = text(http.get("url")), text(http.get("hostname"))
    if target is None:
        return None
    if "://" in target:  # a proxy request carries the absolute URL already
        return target
    if host is None or not target.startswith("/"):
        return None
    port = as_int(http.get("http_port"))
    authority = f"{host}:{port}" if port and port != 80 else host
    return f"http://{authority}{target}"
