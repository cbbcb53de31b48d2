"""The API's answers to a batch of alert lines, one per line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemResult:
    """The API's answer for one line of a batch; `index` is the line's position in the batch."""

    index: int
    status: str  # accepted | rejected | ignored, or failed: the API kept failing on this line alone (5xx)
    incident_id: str | None = None
    duplicate: bool = False
    error: str | None = None  # rejected, failed: why (the API's message)
    path: str | None = None  # rejected: the JSON path of the bad field
    reason: str | None = None  # ignored: why
    http_status: int | None = None  # rejected or failed by the answer to the whole request, not per item

    @property
    def set_aside(self) -> bool:
        """Neither delivered nor ignored: the line needs a person (fix it, send it again)."""
        return self.status in ("rejected", "failed")


@dataclass
class BatchResult:
    """Every line's final answer, in batch order."""

    results: list[ItemResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def accepted(self) -> int:
        return self.count("accepted")

    @property
    def rejected(self) -> int:
        return self.count("rejected")

    @property
    def ignored(self) -> int:
        return self.count("ignored")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def duplicates(self) -> int:
        return sum(1 for r in self.results if r.status == "accepted" and r.duplicate)

    @property
    def rejections(self) -> list[ItemResult]:
        return [r for r in self.results if r.status == "rejected"]

    @property
    def set_aside(self) -> list[ItemResult]:
        """The lines rejected or failed, in batch order."""
        return [r for r in self.results if r.set_aside]
