"""Observable values are checked against their type before any playbook sees them."""

from __future__ import annotations

import pytest

from xorb_orchestrator.models.observable import Observable, ObservableType


@pytest.mark.parametrize(
    ("kind", "value", "why"),
    [
        (ObservableType.HOSTNAME, "ws-042/../admin", "is not a host name"),
        (ObservableType.HOSTNAME, "evil.example#frag", "is not a host name"),
        (ObservableType.HOSTNAME, "two words", "is not a host name"),
        (ObservableType.USER, "alice\r\nX-Injected: 1", "contains control characters"),
        (ObservableType.USER, "bob\x00", "contains control characters"),
        (ObservableType.PROCESS, "cmd.exe\x1b[31m", "contains control characters"),
    ],
)
def test_values_that_are_not_of_their_type_are_refused(kind: ObservableType, value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Observable(type=kind, value=value)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ObservableType.HOSTNAME, "WKS-FIN-07"),
        (ObservableType.HOSTNAME, "web-01.corp.example"),
        (ObservableType.HOSTNAME, "DC01$"),
        (ObservableType.HOSTNAME, "PC-Müller"),
        (ObservableType.USER, "CORP\\alice"),
        (ObservableType.USER, "alice@corp.example"),
        (ObservableType.USER, "ceo-id/lifecycle/deactivate#"),  # odd but data: encoded where it is used
        (ObservableType.PROCESS, "C:\\Windows\\System32\\cmd.exe"),
    ],
)
def test_real_values_pass(kind: ObservableType, value: str) -> None:
    assert Observable(type=kind, value=value).value == value
