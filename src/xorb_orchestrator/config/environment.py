"""Settings that cannot be misspelt silently: every XORB_* and TEMPORAL_* variable in a service's environment must
be one something here reads. `XORB_NOTIFY_WEBHOOK_URL` (no S) once made every notification quietly skip.

Known: every setting's name (and its accepted aliases); the few variables other commands read (the actuator's keys,
the codec server's token); the Temporal CLI's own variables (an operator's shell often has them); and any variable a
configuration file names as a secret (`env:NAME` in XORB_CONNECTORS_FILE or XORB_TI_FEEDS_FILE).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from pydantic import AliasChoices

from xorb_orchestrator.config.settings import Settings

PREFIXES = ("XORB_", "TEMPORAL_")
READ_ELSEWHERE = frozenset(
    {
        "XORB_ACTUATOR_API_KEYS",  # xorb actuator slpf
        "XORB_CODEC_SERVER_TOKEN",  # xorb codec-server
        "XORB_API_BIND",  # docker-compose.yml's published address
        "XORB_CACAO_CORPUS", "XORB_CACAO_DIR", "XORB_SCHEMATHESIS_EXAMPLES",  # the test suite's knobs
        "XORB_SCREENSHOTS_DIR",  # the browser tests save each console page there
    }
)  # fmt: skip
# The `temporal` CLI's environment (its docs' "Environment variables"): set for it, not for us.
TEMPORAL_CLI = frozenset(
    {
        "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_ENV", "TEMPORAL_CONFIG_FILE",
        "TEMPORAL_PROFILE", "TEMPORAL_TLS", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA",
        "TEMPORAL_TLS_CERT_DATA", "TEMPORAL_TLS_KEY_DATA", "TEMPORAL_TLS_CA_DATA", "TEMPORAL_TLS_SERVER_NAME",
        "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "TEMPORAL_CODEC_ENDPOINT", "TEMPORAL_CODEC_AUTH",
        "TEMPORAL_GRPC_META", "TEMPORAL_CLI_AUTH", "TEMPORAL_CLI_ADDRESS", "TEMPORAL_CLI_NAMESPACE",
    }
)  # fmt: skip
_REFERENCE = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")


def setting_names() -> frozenset[str]:
    """Every environment variable Settings reads (upper case)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        names.add((field.alias or name).upper())
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in field.validation_alias.choices)
        elif isinstance(field.validation_alias, str):
            names.add(field.validation_alias.upper())
    return frozenset(names)


def referenced_names(texts: Iterable[str]) -> frozenset[str]:
    """The variables configuration files name as secrets (`env:NAME`)."""
    return frozenset(match.upper() for text in texts for match in _REFERENCE.findall(text))


def unknown_variables(environ: Mapping[str, str], referenced: frozenset[str] = frozenset()) -> list[str]:
    """One line per XORB_*/TEMPORAL_* variable nothing reads, naming the closest known one."""
    known = setting_names() | READ_ELSEWHERE | TEMPORAL_CLI | referenced
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIXES) or upper in known:
            continue
        close = difflib.get_close_matches(upper, sorted(setting_names() | READ_ELSEWHERE), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else " (README.md lists every setting)"
        lines.append(f"{name} is not a setting{hint}")
    return lines
