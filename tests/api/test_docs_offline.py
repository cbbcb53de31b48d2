"""The API's docs with no network: /docs and /redoc load their scripts from the service itself (no CDN), and the
OpenAPI document declares the bearer key scheme on every /v1 operation (so "Authorize" makes "Try it out" work)
and holds no reference it cannot resolve."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.support.stack import make_settings, service

pytestmark = pytest.mark.timeout(60)


async def test_docs_load_everything_from_the_service_and_declare_the_key(
    temporal_address: str, redis_server: Any
) -> None:
    settings = make_settings(temporal_address, redis_server.url)
    async with service(settings) as svc, httpx.AsyncClient(base_url=svc.base_url, timeout=10) as anonymous:
        pages = {path: (await anonymous.get(path)).text for path in ("/docs", "/redoc")}
        assets = {}
        for html in pages.values():
            for src in re.findall(r'(?:src|href)="([^"]+)"', html):
                assert not src.startswith(("http://", "https://", "//")), f"{src}: loaded from elsewhere"
                if src.endswith((".js", ".css")):
                    assets[src] = await anonymous.get(src)
        document = (await anonymous.get("/openapi.json")).json()
    assert set(assets) >= {"/static-offline-docs/swagger-ui-bundle.js", "/static-offline-docs/swagger-ui.css",
                           "/static-offline-docs/redoc.standalone.js"}  # fmt: skip
    assert all(r.status_code == 200 and len(r.content) > 10_000 for r in assets.values())
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer",
        "description": "An API key of XORB_API_KEYS / XORB_API_KEY_FILE (`xorb dev` prints one).",
    }  # fmt: skip
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            secured = operation.get("security") == [{"apiKey": []}]
            assert secured == path.startswith("/v1/"), (method, path)
    text = json.dumps(document)
    for ref in set(re.findall(r'"\$ref": "([^"]+)"', text)):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"], f"unresolvable {ref}"
