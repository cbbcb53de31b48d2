"""Alert and incident severity on OCSF's scale (severity_id 0-6) with its labels."""

from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    """OCSF severity_id. Higher is worse; the order decides who gets a response slot first."""

    UNKNOWN = 0
    INFORMATIONAL = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5
    FATAL = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> Severity:
        """Accept a label (`high`), an OCSF number (4 or "4"), or a Severity."""
        if isinstance(value, Severity):
            return value
        if isinstance(value, bool):
            raise ValueError("expected a severity label or OCSF number 0-6, got a boolean")
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()):
            number = int(value)
            if number in cls._value2member_map_:
                return cls(number)
            raise ValueError(f"OCSF severity must be 0-6, got {number}")
        if isinstance(value, str):
            name = _ALIASES.get(value.strip().lower(), value.strip().lower())
            for member in cls:
                if member.label == name:
                    return member
        labels = "|".join(m.label for m in cls if m is not Severity.UNKNOWN)
        raise ValueError(f"expected one of {labels} or an OCSF number 0-6, got {value!r}")


_ALIASES = {"info": "informational", "med": "medium", "crit": "critical"}
