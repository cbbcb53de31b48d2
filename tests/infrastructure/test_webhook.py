"""A webhook that cannot be reached is named by its host, never by its secret path."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.infrastructure.webhook import WebhookUnavailable, post_notification

SECRET = "T000/B000/canary-" + "x" * 16


async def test_a_refused_connection_names_the_host_not_the_path() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/{SECRET}"
    async with httpx.AsyncClient(timeout=2) as http:
        with pytest.raises(WebhookUnavailable) as caught:
            await post_notification(http, url, {"text": "hi"}, "incident-x/notify-1")
    assert str(caught.value) == "ConnectError: cannot connect to the webhook at 127.0.0.1"


async def test_a_hanging_webhook_says_it_did_not_answer_in_time() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    accepting = threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True)
    accepting.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/services/{SECRET}"
    try:
        async with httpx.AsyncClient(timeout=0.5) as http:
            with pytest.raises(WebhookUnavailable) as caught:
                await post_notification(http, url, {"text": "hi"}, "incident-x/notify-1")
        assert str(caught.value) == "ReadTimeout: no answer in time from the webhook at 127.0.0.1"
        assert SECRET not in str(caught.value)
    finally:
        for conn in held:
            conn.close()
        listener.close()
