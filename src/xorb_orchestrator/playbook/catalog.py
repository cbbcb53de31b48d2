"""Playbook files: read and check them, and load a directory into a catalog (id -> playbook + content hash)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xorb_orchestrator.playbook import (
    Playbook,
    PlaybookError,
    PlaybookInvalid,
    guess_format,
    load_document,
    parse_playbook,
    validate_playbook,
)
from xorb_orchestrator.playbook.cacao import is_cacao, load_cacao

# The bundled playbooks, shipped in the package (`playbooks/` at the repository root links here): found wherever
# the service runs from, the Docker image included.
DEFAULT_PLAYBOOK_DIR = Path(__file__).resolve().parents[1] / "playbooks"
PLAYBOOK_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CatalogEntry:
    """One loaded playbook, with the hash a run pins (`Playbook.content_sha256`) and where it came from."""

    playbook: Playbook
    sha256: str
    path: Path


@dataclass
class FileReport:
    """The outcome of checking one file: its playbook (when it parsed) and every problem found."""

    path: Path
    playbook: Playbook | None = None
    errors: list[PlaybookError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.playbook is not None and not self.errors

    def messages(self) -> list[str]:
        return [f"{self.path}: {error}" for error in self.errors]


class PlaybookLoadError(Exception):
    """Some playbook files are invalid; `messages` has one line per problem (`<file>: step 'x' ...`)."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages))


class PlaybookCatalog(Mapping[str, CatalogEntry]):
    """The playbooks of a directory by id. Immutable: reload to see edited files."""

    def __init__(self, entries: Mapping[str, CatalogEntry]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, playbook_id: str) -> CatalogEntry:
        return self._entries[playbook_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def playbooks(self) -> dict[str, Playbook]:
        return {playbook_id: entry.playbook for playbook_id, entry in self._entries.items()}


def read_playbook(path: Path) -> Playbook:
    """Read and parse one file (YAML, or JSON for .json; a CACAO 2.0 file is converted); raise PlaybookInvalid.
    Does not validate the native playbook."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PlaybookInvalid([PlaybookError(f"file is larger than {MAX_FILE_BYTES // 1024} KiB")])
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PlaybookInvalid([PlaybookError("cannot read: not UTF-8 text")]) from None
    except OSError as exc:
        raise PlaybookInvalid([PlaybookError(f"cannot read: {exc.strerror or exc}")]) from None
    data = load_document(text, guess_format(path.name, text))
    if is_cacao(data):  # an OASIS CACAO 2.0 playbook: validated and converted to the native format
        return load_cacao(data)
    return parse_playbook(data)


def playbook_files(paths: Iterable[Path]) -> list[Path]:
    """The files to check: files as given, directories as their playbook files (sorted); no repeats."""
    found: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        candidates = (
            sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PLAYBOOK_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def check_files(
    paths: Iterable[Path],
    actions: Mapping[str, bool] | None = None,
    references: Mapping[str, Playbook] | None = None,
) -> list[FileReport]:
    """Parse and validate playbook files together: ids must be unique among them, and `playbook` steps are
    resolved against them and `references` (other known playbooks, e.g. the playbooks directory)."""
    reports = [_parse(path) for path in paths]
    first_path: dict[str, Path] = {}
    for report in reports:
        if report.playbook is None:
            continue
        other = first_path.setdefault(report.playbook.id, report.path)
        if other != report.path:
            report.errors.append(
                PlaybookError(f"playbook id '{report.playbook.id}' is also used by {other}", field="id")
            )
    known = dict(references or {})
    known.update({r.playbook.id: r.playbook for r in reports if r.playbook is not None and not r.errors})
    for report in reports:
        if report.playbook is not None and not report.errors:
            report.errors.extend(validate_playbook(report.playbook, actions, known))
    return reports


def read_references(directory: Path) -> dict[str, Playbook]:
    """The playbooks of a directory that parse, by id; for resolving `playbook` steps. Missing dir: {}."""
    if not directory.is_dir():
        return {}
    found: dict[str, Playbook] = {}
    for path in playbook_files([directory]):
        report = _parse(path)
        if report.playbook is not None:
            found.setdefault(report.playbook.id, report.playbook)
    return found


def load_catalog(
    directory: Path = DEFAULT_PLAYBOOK_DIR,
    actions: Mapping[str, bool] | None = None,
    missing_ok: bool = False,
) -> PlaybookCatalog:
    """Load every playbook file of `directory`; raise PlaybookLoadError listing every problem (two files with
    the same id included). A missing directory is an error unless `missing_ok`."""
    if not directory.is_dir():
        if missing_ok:
            return PlaybookCatalog({})
        raise PlaybookLoadError([f"{directory}: playbook directory not found"])
    reports = check_files(playbook_files([directory]), actions)
    messages = [message for report in reports for message in report.messages()]
    if messages:
        raise PlaybookLoadError(messages)
    return _catalog_of(reports)


def _catalog_of(reports: Iterable[FileReport]) -> PlaybookCatalog:
    """The catalog of the files that passed every check."""
    return PlaybookCatalog(
        {
            report.playbook.id: CatalogEntry(report.playbook, report.playbook.content_sha256(), report.path)
            for report in reports
            if report.ok and report.playbook is not None
        }
    )


def _parse(path: Path) -> FileReport:
    try:
        return FileReport(path, read_playbook(path))
    except PlaybookInvalid as exc:
        return FileReport(path, errors=exc.errors)


# Planning reads the directory once per incident: a storm of new incidents must not re-parse unchanged files.
_usable_cache: dict[Path, tuple[tuple[tuple[str, int, int], ...], PlaybookCatalog, list[str]]] = {}


def load_usable(directory: Path, actions: Mapping[str, bool] | None = None) -> tuple[PlaybookCatalog, list[str]]:
    """The valid playbooks of `directory` (none when it is missing) and one message per problem of the files
    left out. Re-read only when a file's name, size or modification time changed."""
    if not directory.is_dir():
        return PlaybookCatalog({}), []
    files = playbook_files([directory])
    try:
        signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    except OSError:
        signature = ()
    key = directory.resolve()
    cached = _usable_cache.get(key)
    if cached is not None and signature and cached[0] == signature:
        return cached[1], cached[2]
    reports = check_files(files, actions)
    usable = _catalog_of(reports)
    problems = [message for report in reports for message in report.messages()]
    _usable_cache[key] = (signature, usable, problems)
    return usable, problems
