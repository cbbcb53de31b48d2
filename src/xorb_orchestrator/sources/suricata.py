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
from xorb_orchestrator.sources.server_side import server_side

SOURCE = "suricata"
PRODUCT = "Suricata"
SEVERITY = {1: Severity.HIGH, 2: Severity.MEDIUM, 3: Severity.LOW}
# Rule-metadata keys that carry ATT&CK ids: ET Open writes `mitre_technique_id` (and sub-techniques
# there or in `mitre_subtechnique_id`); other rule sets `mitre_attack` or `mitre_technique`.
ATTACK_METADATA_KEYS = frozenset({"mitre_technique_id", "mitre_subtechnique_id", "mitre_technique", "mitre_attack"})


def parse(event: dict[str, Any]) -> Alert | None:
    """One EVE event as an Alert, or None when it is not an alert event."""
    if require_text(event, "event_type", limit=100) != "alert":
        return None
    if not isinstance(event.get("alert"), dict):
        raise AlertFormatError("$.alert", "an alert event needs an `alert` object")
    title = require_text(event, "alert.signature")
    severity = _severity(find(event, "alert.severity"))
    sid = text(value(event, "alert.signature_id"), RULE_MAX)
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
        techniques=rule_techniques(value(event, "alert.metadata")),
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


def rule_techniques(metadata: Any) -> list[str]:
    """ATT&CK technique ids from a rule's `metadata`, under any of the keys rule sets use."""
    ids = [
        item
        for key, items in as_dict(metadata).items()
        if str(key).lower() in ATTACK_METADATA_KEYS
        for item in as_list(items)
    ]
    return techniques(ids)


def _observables(event: dict[str, Any]) -> list[Observable]:
    obs = ObservableSet()
    add_endpoints(obs, event)
    add_app_layer(obs, event)
    return obs.to_list()


def add_endpoints(obs: ObservableSet, eve: dict[str, Any]) -> None:
    """The packet's IPs with their side, and the server's port (on whichever side the server is).

    Only the server's port: the client's is ephemeral and would only split and bloat incidents.
    """
    obs.add(T.IP, eve.get("src_ip"), "src")
    obs.add(T.IP, eve.get("dest_ip"), "dest")
    side = server_side(eve)
    obs.add(T.PORT, eve.get(f"{side}_port"), side)


def add_app_layer(obs: ObservableSet, eve: dict[str, Any]) -> None:
    """Domains, URLs and file hashes from the app-layer records an alert carries (http, dns, tls, fileinfo)."""
    http = as_dict(eve.get("http"))
    obs.add(T.DOMAIN, http.get("hostname"))
    obs.add(T.URL, _http_url(http))
    dns = as_dict(eve.get("dns"))
    # EVE has written DNS three ways over the versions: flat (v1), `query` list (v2), `queries` (v3).
    obs.add(T.DOMAIN, dns.get("rrname"))
    for key in ("query", "queries"):
        for item in as_list(dns.get(key)):
            obs.add(T.DOMAIN, as_dict(item).get("rrname"))
    obs.add(T.DOMAIN, as_dict(eve.get("tls")).get("sni"))
    fileinfo = as_dict(eve.get("fileinfo"))
    for digest in ("sha256", "sha1", "md5"):
        obs.add(T.FILE_HASH, fileinfo.get(digest))


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
