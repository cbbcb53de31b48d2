"""Local enrichment: facts about observables that need no outside service."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from xorb_orchestrator.models.enrichment import Enrichment, ObservableFacts
from xorb_orchestrator.models.observable import Observable, ObservableType


def ip_facts(value: str) -> dict[str, str | bool | int]:
    ip = ipaddress.ip_address(value)
    if ip.is_loopback:
        scope = "loopback"
    elif ip.is_link_local:
        scope = "link-local"
    elif ip.is_private:
        scope = "private"
    elif ip.is_multicast:
        scope = "multicast"
    elif ip.is_reserved or ip.is_unspecified:
        scope = "reserved"
    else:
        scope = "global"
    return {"version": ip.version, "scope": scope, "external": scope == "global"}


def enrich(observables: list[Observable]) -> Enrichment:
    """Classify each observable; list which point outside the organisation (candidates for blocking)."""
    result = Enrichment()
    for obs in observables:
        facts: dict[str, str | bool | int] = {}
        if obs.type is ObservableType.IP:
            facts = ip_facts(obs.value)
        elif obs.type is ObservableType.URL:
            parts = urlsplit(obs.value)
            facts = {"scheme": parts.scheme, "host": parts.hostname or "", "external": True}
        elif obs.type is ObservableType.DOMAIN:
            facts = {"tld": obs.value.rsplit(".", 1)[-1], "external": True}
        if obs.role:
            facts["role"] = obs.role
        result.observables.append(ObservableFacts(type=obs.type, value=obs.value, facts=facts))
        if facts.get("external") is True:
            result.external.append(f"{obs.type}:{obs.value}")
        elif obs.type is ObservableType.IP:
            result.internal.append(f"{obs.type}:{obs.value}")
    return result
