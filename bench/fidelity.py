"""Adapter fidelity over real detector output: what each file's events become.

    .venv/bin/python bench/fidelity.py [CORPUS_DIR]      # default: ../shared/corpus beside the repository

CORPUS_DIR holds one folder per source (`suricata`, `wazuh`, `ecs`, `ocsf`; others, such as `cacao`, are
skipped). Each file is read as intake reads a request body (one JSON object, a JSON array, or NDJSON) and
every event goes through `parse_event`, the function the API calls; no server is needed. Printed per file:
events, accepted, ignored (not an alert of the format), rejected, two warnings, and the observables the
accepted alerts carry, as `type:role=count`:

  no-ip     accepted alerts without any IP observable (expected for file-integrity and host-only alerts)
  eph-port  accepted alerts whose port observable is in the ephemeral range (32768 and above): usually a
            client's port taken for the server's
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.models.observable import ObservableType
from xorb_orchestrator.sources import AlertFormatError, parse_event

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
# The detector folders and the file names each holds.
SOURCE_FILES = {
    "suricata": (".json", ".log"),
    "wazuh": (".json", ".ndjson"),
    "ecs": (".json",),
    "ocsf": (".json",),
}
EPHEMERAL_FROM = 32768
MAX_REASONS = 3  # distinct rejection reasons shown per file


@dataclass
class FileResult:
    """What one file's events became."""

    name: str
    events: int = 0
    accepted: int = 0
    ignored: int = 0
    rejected: int = 0
    no_ip: int = 0
    ephemeral_port: int = 0
    observables: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def count(self, alert: Alert) -> None:
        self.accepted += 1
        kinds = {o.type for o in alert.observables}
        self.no_ip += ObservableType.IP not in kinds
        ports = [int(o.value) for o in alert.observables if o.type is ObservableType.PORT]
        self.ephemeral_port += any(port >= EPHEMERAL_FROM for port in ports)
        self.observables.update(f"{o.type.value}:{o.role}" if o.role else o.type.value for o in alert.observables)


def read_events(path: Path) -> list[Any]:
    """A file's events as the API reads a body: one JSON value (an array is its elements), else NDJSON.
    A line that is not JSON is kept as an error message, to be counted as rejected."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        whole = json.loads(text)
    except ValueError:
        pass
    else:
        return whole if isinstance(whole, list) else [whole]
    events: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError as exc:
                events.append(NotJson(f"line {number} is not valid JSON: {exc}"))
    return events


@dataclass(frozen=True)
class NotJson:
    reason: str


def run_file(source: str, path: Path) -> FileResult:
    result = FileResult(f"{source}/{path.name}")
    for event in read_events(path):
        result.events += 1
        if isinstance(event, NotJson):
            result.rejected += 1
            result.reasons[event.reason] += 1
            continue
        try:
            alert = parse_event(source, event)
        except AlertFormatError as exc:
            result.rejected += 1
            result.reasons[str(exc)[:160]] += 1
            continue
        if alert is None:
            result.ignored += 1
        else:
            result.count(alert)
    return result


def run(corpus: Path) -> list[FileResult]:
    results = []
    for source, suffixes in SOURCE_FILES.items():
        folder = corpus / source
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix in suffixes:
                    results.append(run_file(source, path))
    return results


COLUMNS = ("file", "events", "acc", "ign", "rej", "no-ip", "eph-port", "observables (type:role=count)")


def _row(result: FileResult) -> tuple[str, ...]:
    observables = ", ".join(f"{key}={n}" for key, n in sorted(result.observables.items()))
    numbers = (result.events, result.accepted, result.ignored, result.rejected, result.no_ip, result.ephemeral_port)
    return (result.name, *(str(n) for n in numbers), observables or "-")


def _total(results: list[FileResult]) -> FileResult:
    total = FileResult("total")
    for r in results:
        total.events += r.events
        total.accepted += r.accepted
        total.ignored += r.ignored
        total.rejected += r.rejected
        total.no_ip += r.no_ip
        total.ephemeral_port += r.ephemeral_port
    return total


def render(results: list[FileResult]) -> str:
    rows = [COLUMNS, *(_row(r) for r in results), _row(_total(results))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]

    def line(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:-1], widths[1:], strict=True))]
        return "  ".join([*cells, row[-1]])

    lines = [line(rows[0]), *(line(row) for row in rows[1:-1]), line(rows[-1])]
    for r in results:
        for reason, n in r.reasons.most_common(MAX_REASONS):
            lines.append(f"rejected in {r.name} ({n}): {reason}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS, help=f"default: {DEFAULT_CORPUS}")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}: nothing to check (pass the corpus directory as the argument)")
        return 0
    results = run(args.corpus)
    if not results:
        print(f"no detector files under {args.corpus} (expected folders: {', '.join(SOURCE_FILES)})")
        return 0
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
