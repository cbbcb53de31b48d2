"""The benchmark's baseline: the least a FastAPI endpoint can do with an alert — parse its JSON.

Served exactly as `xorb dev` serves the API: uvicorn in one process, inside `asyncio.run`, no access
log, no log config. Binds 127.0.0.1 on a free port and prints `port <n>` on stdout once listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/v1/alerts")
@app.post("/v1/alerts/{source}")
async def post_alert(request: Request) -> JSONResponse:
    await request.json()
    return JSONResponse({}, status_code=202)


class _Server(uvicorn.Server):
    # As in xorb's service: uvicorn does not install its own signal handlers; we stop it.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def main() -> None:
    # proto must be IPPROTO_TCP, as the socket uvicorn binds itself: asyncio sets TCP_NODELAY on accepted
    # connections only then, and without it every response's body waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    print(f"port {sock.getsockname()[1]}", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
