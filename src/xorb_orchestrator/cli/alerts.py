"""`xorb alerts`: send a file of detector alerts to the API, or follow a growing log of them."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from xorb_orchestrator.cli.connection import ApiKey, ApiUrl, api_endpoint, fail, settings_or_fail
from xorb_orchestrator.infrastructure.logs import setup_logging
from xorb_orchestrator.infrastructure.redaction import settings_secrets
from xorb_orchestrator.shipper.dead_letter import NotADeadLetterFile, replay_lines
from xorb_orchestrator.shipper.file_follower import FileFollower
from xorb_orchestrator.shipper.lines import AlertLine, batches, split_alerts
from xorb_orchestrator.shipper.position import DEAD_LETTER_SUFFIX, STATE_SUFFIX, default_state_path
from xorb_orchestrator.shipper.results import ItemResult
from xorb_orchestrator.shipper.sender import AlertShipper, RetryPolicy, ShipperError
from xorb_orchestrator.sources import SOURCES

log = logging.getLogger("xorb_orchestrator.alerts")

alerts_app = typer.Typer(
    help="Send detectors' alerts to the API: a file at once (send), or a growing log as it grows (follow).",
    no_args_is_help=True,
)

# `send` is a person at a terminal: if the API stays busy this long, say so rather than wait forever.
SEND_GIVE_UP_AFTER = 60.0

Source = Annotated[
    str, typer.Option("--source", "-s", help=f"The alerts' format: {', '.join(SOURCES)}.", show_default=False)
]


def _connection(source: str, api_url: str | None, api_key: str | None) -> tuple[str, str]:
    """The API's URL and key, from the options or the settings; one line naming what is wrong."""
    if source not in SOURCES:
        raise fail(f"--source: expected one of {', '.join(SOURCES)}, got {source!r}", 2)
    settings = settings_or_fail()
    setup_logging(settings.log_level, settings.log_format, settings_secrets(settings))
    for noisy in ("httpx", "httpcore"):  # one INFO line per request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return api_endpoint(api_url, api_key, settings)


@alerts_app.command("send")
def send(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE", help="Alerts: one JSON object, a JSON array, or NDJSON (one a line); '-' reads stdin."
        ),
    ],
    source: Source,
    from_dead_letter: Annotated[
        bool,
        typer.Option(
            "--from-dead-letter",
            help=f"FILE is a dead-letter file of `follow` (e.g. eve.json{STATE_SUFFIX}{DEAD_LETTER_SUFFIX}): send "
            "the lines it kept whole again.",
        ),
    ] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Send a file of alerts once; print what was accepted, rejected (and why), ignored, and failed.

    An alert fails when the API keeps answering a server error for it alone; the others are still sent.
    Exits 1 if any alert was rejected or failed. Sending the same file again is safe: re-deliveries count once.
    """
    url, key = _connection(source, api_url, api_key)
    items = _dead_letters(file) if from_dead_letter else split_alerts(_read_input(file))
    results: list[ItemResult] = []
    policy = RetryPolicy(give_up_after=SEND_GIVE_UP_AFTER, retry_unreachable=False)
    with AlertShipper(url, key, source, retry=policy) as shipper:
        for batch in batches(items):
            try:
                answer = shipper.ship([item.data for item in batch])
            except ShipperError as exc:
                if results:
                    _print_summary(items, results)
                    unsent = len(items) - len(results)
                    raise fail(f"{exc}; {unsent} alert(s) not sent (sending the file again is safe)") from None
                raise fail(str(exc)) from None
            start = len(results)
            results.extend(_offset(item, start) for item in answer.results)
    _print_summary(items, results)
    if any(r.set_aside for r in results):
        raise typer.Exit(1)


def _dead_letters(file: str) -> list[AlertLine]:
    try:
        items, partial = replay_lines(_read_input(file))
    except NotADeadLetterFile as exc:
        raise fail(f"{file}: {exc}", 2) from None
    if partial:
        typer.echo(f"skipping {partial} dead letter(s) whose line was not kept whole (truncated)", err=True)
    return items


def _read_input(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    path = Path(file)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise fail(f"{file}: no such file", 2) from None
    except IsADirectoryError:
        raise fail(f"{file}: is a directory, not a file of alerts", 2) from None
    except OSError as exc:
        raise fail(f"{file}: cannot read it: {exc.strerror}", 2) from None


def _offset(item: ItemResult, start: int) -> ItemResult:
    return replace(item, index=start + item.index)


MAX_INCIDENTS_LISTED = 50


def _print_summary(items: list[AlertLine], results: list[ItemResult]) -> None:
    accepted = [r for r in results if r.status == "accepted"]
    duplicates = sum(1 for r in accepted if r.duplicate)
    rejected = [r for r in results if r.status == "rejected"]
    ignored = sum(1 for r in results if r.status == "ignored")
    failed = [r for r in results if r.status == "failed"]
    typer.echo(
        f"accepted {len(accepted)} ({duplicates} duplicate{'' if duplicates == 1 else 's'}), "
        f"rejected {len(rejected)}, ignored {ignored}" + (f", failed {len(failed)}" if failed else "")
    )
    # Where the alerts went: each incident once, with how many of them joined it (the first 50 incidents).
    joined = Counter(r.incident_id for r in accepted if r.incident_id)
    for incident_id, count in list(joined.items())[:MAX_INCIDENTS_LISTED]:
        typer.echo(f"  incident {incident_id}: {count} alert{'' if count == 1 else 's'}")
    if len(joined) > MAX_INCIDENTS_LISTED:
        typer.echo(f"  ... and {len(joined) - MAX_INCIDENTS_LISTED} more incidents (xorb incidents list)")
    for r in rejected:
        typer.echo(f"  rejected index {r.index}{_where(items, r)}: {r.path or '$'}: {r.error}")
    for r in failed:
        typer.echo(f"  failed index {r.index}{_where(items, r)}: the API answered {r.http_status}: {r.error}")


def _where(items: list[AlertLine], result: ItemResult) -> str:
    return f", {items[result.index].where}" if items[result.index].where else ""


@alerts_app.command("follow")
def follow(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The growing log, e.g. /var/log/suricata/eve.json.")],
    source: Source,
    state_file: Annotated[
        Path | None,
        typer.Option(
            help="Where to remember the offset the API has answered up to (default: FILE.xorb-offset next to "
            "FILE if its directory is writable, else under ~/.local/state/xorb/).",
            show_default=False,
        ),
    ] = None,
    from_end: Annotated[
        bool,
        typer.Option(
            "--from-end",
            help="On the first start (no saved offset), begin at FILE's end: only alerts written from now on are "
            "sent (default: the whole file). Later starts resume from the saved offset either way.",
        ),
    ] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Tail FILE like `tail -F` and send its lines as they are written, in batches.

    Survives log rotation (rename or copytruncate) and restarts, without skipping a line.

    The offset is saved only once the API has answered for the lines before it; a line sent twice counts once.

    A line the API rejects, or keeps failing on alone with a server error, is logged and appended to the
    dead-letter file (the state file's path plus .dead, one JSON record a line), and the lines after it go on.
    Replay it with `xorb alerts send --from-dead-letter`. Stop with Ctrl-C or SIGTERM.
    """
    url, key = _connection(source, api_url, api_key)
    if file.is_dir():
        raise fail(f"{file}: is a directory; follow a file of alerts", 2)
    if not file.parent.is_dir():
        raise fail(f"{file}: no such directory {file.parent}", 2)
    state = state_file or default_state_path(file)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        with AlertShipper(url, key, source, stop=stop) as shipper:
            shipper.check()
            FileFollower(file, state, shipper, stop=stop, from_end=from_end).run()
    except ShipperError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        name = str(exc.filename or "")
        hint = "; choose another place with --state-file" if name.startswith(str(state.absolute())) else ""
        raise fail(f"{name or file}: {exc.strerror or exc}{hint}") from None
    except KeyboardInterrupt:  # a second Ctrl-C: leave now; the saved offset is still right
        raise typer.Exit(130) from None


def _stop_on_signals(stop: threading.Event) -> None:
    """First SIGTERM/SIGINT: finish the batch in flight, commit, and stop. A second one: stop at once."""

    def handler(signum: int, _: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("%s: stopping after the batch in flight", signal.Signals(signum).name)
        # Not stop.set() here: the main thread may hold the event's lock at this very moment.
        threading.Thread(target=stop.set, daemon=True).start()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
