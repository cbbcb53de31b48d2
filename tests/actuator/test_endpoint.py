"""Where the actuator may listen, and how: each careless combination of options is refused with the option named."""

from __future__ import annotations

from pathlib import Path

import pytest

from xorb_orchestrator.actuator.endpoint import Endpoint, EndpointError, endpoint, is_loopback, parse_listen

CERT, KEY, CA = Path("server.pem"), Path("server.key"), Path("ca.pem")


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8443") == ("127.0.0.1", 8443)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen("gw.example:443") == ("gw.example", 443)
    for wrong in ("8443", "127.0.0.1", ":8443", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(EndpointError, match="--listen: expected HOST:PORT"):
            parse_listen(wrong)


def test_loopback_is_127_8_and_1_only() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.9.9.9") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.0.2.1")
    assert not is_loopback("no-such-host.invalid")


def test_what_may_listen() -> None:
    assert endpoint("127.0.0.1:0", None, None, None, ["k"]) == Endpoint("127.0.0.1", 0)
    served = endpoint("0.0.0.0:8443", CERT, KEY, CA, [])  # client certificates authenticate: no key needed
    assert served.tls and served.url() == "https://0.0.0.0:8443/openc2"
    assert Endpoint("::1", 0).url(41000) == "http://[::1]:41000/openc2"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("0.0.0.0:8443", None, None, None, ["k"]), "plain HTTP only on a loopback address, not 0.0.0.0"),
        (("[::]:8443", None, None, None, ["k"]), "plain HTTP only on a loopback address, not ::"),
        (("127.0.0.1:0", None, None, None, []), "no API keys: set XORB_ACTUATOR_API_KEYS"),
        (("0.0.0.0:8443", CERT, KEY, None, []), "no API keys"),  # TLS alone authenticates nobody
        (("127.0.0.1:0", CERT, None, None, ["k"]), "--tls-cert and --tls-key go together"),
        (("127.0.0.1:0", None, KEY, None, ["k"]), "--tls-cert and --tls-key go together"),
        (("127.0.0.1:0", None, None, CA, ["k"]), "--tls-client-ca needs --tls-cert and --tls-key"),
    ],
)
def test_careless_combinations_are_refused(args: tuple[object, ...], said: str) -> None:
    with pytest.raises(EndpointError) as refused:
        endpoint(*args)  # type: ignore[arg-type]
    assert said in str(refused.value)
