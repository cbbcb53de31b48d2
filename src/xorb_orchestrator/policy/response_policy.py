"""The response policy: which incidents get which response, on what, and how much on our own.

Rules are tried in order; the first whose conditions all hold decides. A rule's `when` is about the incident
(severity, techniques, the candidate playbooks' tags, a live TI hit anywhere); its `targets` select the
observables the response acts on (role, type, ours, TI hit, score, confidence, freshness, asset criticality), and
a rule with targets applies only when at least one observable qualifies. It names the playbook (an id;
`candidate`: the first technique-matched candidate carrying one of `when.playbook_tags`; `none`), the autonomy
(observe, recommend, approve, auto) and, for a containment, its duration.

Invariants, whatever the policy says (enforced in `decide`): a protected asset, a known-good value and a local
address (loopback, link-local ...) are never targets; `auto` needs a live TI hit on every target (otherwise the
rule asks for approval, denied on timeout); a duration never outlives a target's verdict. Pure: the caller reads
the file, checks playbook ids against the catalog (`check_playbooks`) and passes `now`.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from xorb_orchestrator.models.observable import ObservableType
from xorb_orchestrator.models.response_plan import (
    MAX_EVIDENCE,
    MAX_OBSERVABLES_PASSED_OVER,
    MAX_TARGETS,
    Autonomy,
    Criticality,
    Exclusion,
    OnTimeout,
    PassedOverObservable,
    PassedOverRule,
    PolicyDecision,
    PolicyFacts,
    PolicyObservable,
    Scope,
    SourceEvidence,
    TargetChoice,
)
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.models.verdict import Verdict
from xorb_orchestrator.playbook import Duration, PlaybookInvalid, format_duration, load_document
from xorb_orchestrator.playbook.metadata import PLAYBOOK_ID_PATTERN, TECHNIQUE_PATTERN

DEFAULT_POLICY_FILE = Path(__file__).with_name("default_policy.yaml")  # package data; XORB_POLICY_FILE replaces it
NO_PLAYBOOK = "none"
CANDIDATE = "candidate"
DEFAULT_DEADLINE = timedelta(hours=1)
MAX_DURATION = timedelta(days=30)
MAX_RULES = 200
MAX_PROBLEMS = 10
SUMMARY_CHARS = 4000


class ResponsePolicyInvalid(ValueError):
    """The policy cannot be used; the message is one line naming the file, the rule and the field."""


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str | dict) else value  # `role: src`, `targets: {ours: true}`


def _severity(value: object) -> object:
    return None if value is None else Severity.parse(value)


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Technique = Annotated[str, BeforeValidator(_upper), Field(pattern=TECHNIQUE_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IncidentConditions(_Strict):
    """`when`: about the incident as a whole. Every condition given must hold."""

    severity_at_least: Annotated[Severity | None, BeforeValidator(_severity)] = None
    techniques: Annotated[list[Technique], BeforeValidator(_as_list)] = Field(default_factory=list, max_length=100)
    playbook_tags: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list, max_length=50)
    any_hit: StrictBool | None = Field(None, description="some observable has a live TI hit (or, false, none has)")


class TargetSelector(_Strict):
    """One entry of `targets`: the observables it selects. Every condition given must hold."""

    role: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list, max_length=20)
    type: Annotated[list[ObservableType], BeforeValidator(_as_list)] = Field(default_factory=list, max_length=10)
    ours: StrictBool | None = None
    hit: StrictBool | None = None
    known_good: StrictBool | None = None
    protected: StrictBool | None = None
    score_at_least: StrictInt | None = Field(None, ge=0, le=100)
    confidence_at_least: StrictInt | None = Field(None, ge=0, le=100)
    seen_within: Duration | None = None
    criticality_at_least: Criticality | None = None
    criticality_at_most: Criticality | None = None

    @field_validator("known_good", "protected")
    @classmethod
    def _never(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("is never a target, whatever the policy says: say false or leave it out")
        return value


class Rule(_Strict):
    """One rule: conditions, then what to do."""

    name: str = Field(pattern=PLAYBOOK_ID_PATTERN)
    description: str | None = Field(None, max_length=1000)
    when: IncidentConditions = Field(default_factory=IncidentConditions)
    targets: Annotated[list[TargetSelector], BeforeValidator(_as_list)] = Field(default_factory=list, max_length=10)
    playbook: str = Field(pattern=PLAYBOOK_ID_PATTERN, description="a playbook id, candidate, or none")
    autonomy: Autonomy
    deadline: Duration | None = None
    on_timeout: OnTimeout | None = None
    duration: Duration | None = None
    max_targets: StrictInt = Field(10, ge=1, le=MAX_TARGETS)


class PolicyFile(_Strict):
    """The file's shape."""

    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    rules: list[Rule] = Field(min_length=1, max_length=MAX_RULES)


class ResponsePolicy(BaseModel):
    """A loaded policy: its rules, where it came from and the hash of its text (recorded in every decision)."""

    model_config = ConfigDict(frozen=True)

    name: str
    origin: str
    sha256: str
    rules: list[Rule]


def load_policy(text: str, origin: str) -> ResponsePolicy:
    """Parse and check a policy (YAML or JSON); ResponsePolicyInvalid: one line naming `origin`, rule and field."""
    try:
        data = load_document(text, "yaml")
    except PlaybookInvalid as exc:
        raise ResponsePolicyInvalid(f"{origin}: {exc}") from None
    if not isinstance(data, dict):
        raise ResponsePolicyInvalid(f"{origin}: expected a mapping with name and rules")
    try:
        parsed = PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise ResponsePolicyInvalid(_one_line(origin, [_problem(d, data) for d in exc.errors()])) from None
    problems = list(_meaning_problems(parsed))
    if problems:
        raise ResponsePolicyInvalid(_one_line(origin, problems))
    sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return ResponsePolicy(name=parsed.name, origin=origin, sha256=sha256, rules=parsed.rules)


def check_playbooks(policy: ResponsePolicy, known: Collection[str]) -> None:
    """Every playbook id the rules name is in the catalog (`known`); else ResponsePolicyInvalid, one line."""
    problems = []
    for rule in policy.rules:
        if rule.playbook not in (NO_PLAYBOOK, CANDIDATE) and rule.playbook not in known:
            close = difflib.get_close_matches(rule.playbook, sorted(known), n=1, cutoff=0.7)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"rule '{rule.name}' field 'playbook': unknown playbook '{rule.playbook}'{hint}")
    if problems:
        raise ResponsePolicyInvalid(_one_line(policy.origin, problems))


def _meaning_problems(parsed: PolicyFile) -> Iterator[str]:
    seen: set[str] = set()
    for rule in parsed.rules:
        where = f"rule '{rule.name}'"
        if rule.name in seen:
            yield f"{where} field 'name': an earlier rule has the same name"
        seen.add(rule.name)
        runs = rule.playbook != NO_PLAYBOOK
        if rule.autonomy is Autonomy.OBSERVE and runs:
            yield f"{where} field 'playbook': autonomy observe runs nothing: say playbook: none, or recommend it"
        if rule.autonomy is not Autonomy.OBSERVE and not runs:
            yield f"{where} field 'playbook': autonomy {rule.autonomy.value} needs a playbook (an id or candidate)"
        for field in ("deadline", "on_timeout"):
            if getattr(rule, field) is not None and rule.autonomy is not Autonomy.APPROVE:
                yield f"{where} field '{field}': only for autonomy approve (it is {rule.autonomy.value})"
        if rule.duration is not None and not runs:
            yield f"{where} field 'duration': there is no playbook to contain anything"
        if rule.duration is not None and rule.duration > MAX_DURATION:
            yield f"{where} field 'duration': at most {format_duration(MAX_DURATION)}"
        for index, selector in enumerate(rule.targets):
            low, high = selector.criticality_at_least, selector.criticality_at_most
            if low is not None and high is not None and low.rank > high.rank:
                yield f"{where} field 'targets[{index}]': criticality_at_least is above criticality_at_most"


# --- the decision -------------------------------------------------------------------------------------------


@dataclass
class _Match:
    playbook: str | None
    targets: list[PolicyObservable]
    passed: dict[int, PassedOverObservable]


def decide(policy: ResponsePolicy, facts: PolicyFacts, now: datetime) -> PolicyDecision:
    """The first rule whose conditions hold decides (no rule: observe), within the invariants (module docstring).

    The decision says why: the rule, each target with its evidence, the rules passed over (first failed
    condition) and the observables passed over (invariant or condition). `now` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    never = {i: found for i, obs in enumerate(facts.observables) if (found := _never_a_target(obs))}
    rules_passed: list[PassedOverRule] = []
    for rule in policy.rules:
        outcome = _try(rule, facts, never, now)
        if isinstance(outcome, str):
            rules_passed.append(PassedOverRule(rule=rule.name, reason=outcome[:1000]))
            continue
        return _decision(policy, rule, outcome, never, rules_passed, now)
    passed = dict(sorted(never.items()))
    decision = PolicyDecision(policy=policy.name, policy_sha256=policy.sha256, rules_passed_over=rules_passed)
    _record_passed(decision, passed)
    decision.summary = _clip(f"observe: no rule matched, nothing is done.{_passed_text(decision)}")
    return decision


def _try(rule: Rule, facts: PolicyFacts, never: dict[int, PassedOverObservable], now: datetime) -> _Match | str:
    """The rule's match, or the first condition that failed."""
    failed = _incident_failure(rule.when, facts, now)
    if failed:
        return failed
    playbook: str | None = rule.playbook
    if rule.playbook == NO_PLAYBOOK:
        playbook = None
    elif rule.playbook == CANDIDATE:
        playbook = _candidate(rule, facts)
        if playbook is None:
            tagged = f" tagged {', '.join(rule.when.playbook_tags)}" if rule.when.playbook_tags else ""
            return f"no candidate playbook{tagged}"
    targets: list[tuple[int, PolicyObservable]] = []
    passed: dict[int, PassedOverObservable] = {}
    if rule.targets:
        for index, obs in enumerate(facts.observables):
            if index in never:
                continue
            failures = [_target_failure(selector, obs, now) for selector in rule.targets]
            if any(failure is None for failure in failures):
                targets.append((index, obs))
            elif (first := failures[0]) is not None and first[0] is not None:
                passed[index] = _passed(obs, first[0], first[1])
        if not targets:
            reasons = [*never.values(), *passed.values()]
            detail = "; ".join(f"{p.type.value} {p.value}: {p.reason}" for p in reasons[:3])
            more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
            return f"no observable qualifies as a target{': ' + detail if detail else ''}{more}"
    # Over the limit, the strongest evidence is kept (stable: observable order among equals).
    targets.sort(key=lambda pair: -(pair[1].verdict.score if pair[1].verdict else -1))
    for index, obs in targets[rule.max_targets :]:
        passed[index] = _passed(obs, Exclusion.LIMIT, f"over the rule's max_targets ({rule.max_targets})")
    return _Match(playbook, [obs for _, obs in targets[: rule.max_targets]], passed)


def _decision(
    policy: ResponsePolicy,
    rule: Rule,
    match: _Match,
    never: dict[int, PassedOverObservable],
    rules_passed: list[PassedOverRule],
    now: datetime,
) -> PolicyDecision:
    targets = [_choice(obs, now) for obs in match.targets]
    notes: list[str] = []
    all_live = bool(targets) and all(target.live_hit for target in targets)
    autonomy = rule.autonomy
    if autonomy is Autonomy.AUTO and not all_live:
        lacking = ", ".join(t.value for t in targets if not t.live_hit) or "no target at all"
        notes.append(f"auto needs a live TI hit on every target ({lacking} has none): asking for approval instead")
        autonomy = Autonomy.APPROVE
    deadline: timedelta | None = None
    on_timeout: OnTimeout | None = None
    if autonomy is Autonomy.APPROVE:
        deadline, on_timeout = rule.deadline or DEFAULT_DEADLINE, rule.on_timeout or "deny"
        if on_timeout == "approve" and not all_live:
            notes.append("on_timeout approve needs a live TI hit on every target: no answer means deny")
            on_timeout = "deny"
    duration, capped_by = _duration(rule.duration, targets, now)
    decision = PolicyDecision(
        policy=policy.name,
        policy_sha256=policy.sha256,
        rule=rule.name,
        autonomy=autonomy,
        playbook=match.playbook,
        targets=targets,
        deadline=deadline,
        on_timeout=on_timeout,
        duration=duration,
        duration_capped_by=capped_by,
        rules_passed_over=rules_passed,
        notes=notes,
    )
    _record_passed(decision, dict(sorted({**never, **match.passed}.items())))
    decision.summary = _summary(decision, rule)
    return decision


def _incident_failure(when: IncidentConditions, facts: PolicyFacts, now: datetime) -> str | None:
    if when.severity_at_least is not None and facts.severity < when.severity_at_least:
        return f"severity {facts.severity.label} is below {when.severity_at_least.label}"
    if when.any_hit is not None:
        hit = any(_live_hit(obs.verdict, now) for obs in facts.observables)
        if when.any_hit and not hit:
            return "no observable has a live TI hit"
        if not when.any_hit and hit:
            return "an observable has a live TI hit (the rule is for incidents without one)"
    if when.techniques and not _covers(when.techniques, facts.techniques):
        have = ", ".join(facts.techniques) or "none"
        return f"techniques ({have}) include none of {', '.join(when.techniques)}"
    if when.playbook_tags and _candidate_with(when.playbook_tags, facts) is None:
        have = ", ".join(c.id for c in facts.candidates) or "none"
        return f"no candidate playbook tagged {', '.join(when.playbook_tags)} (candidates: {have})"
    return None


def _covers(wanted: list[str], techniques: list[str]) -> bool:
    """A rule's technique covers itself and its sub-techniques (T1071 covers T1071.001)."""
    have = {t.upper() for t in techniques} | {t.upper().split(".")[0] for t in techniques}
    return any(t in have for t in wanted)


def _candidate(rule: Rule, facts: PolicyFacts) -> str | None:
    if rule.when.playbook_tags:
        return _candidate_with(rule.when.playbook_tags, facts)
    return facts.candidates[0].id if facts.candidates else None


def _candidate_with(tags: list[str], facts: PolicyFacts) -> str | None:
    wanted = {tag.lower() for tag in tags}
    return next((c.id for c in facts.candidates if wanted & {tag.lower() for tag in c.tags}), None)


def _never_a_target(obs: PolicyObservable) -> PassedOverObservable | None:
    """The invariants: local addresses, protected assets and known-good values are never acted on."""
    if obs.asset.scope is Scope.LOCAL:
        return _passed(obs, Exclusion.LOCAL, f"{obs.asset.matched or 'local'} address: it never leaves its host")
    if obs.asset.protected:
        return _passed(obs, Exclusion.PROTECTED, f"protected asset {obs.asset.asset} ({obs.asset.matched})")
    if obs.verdict is not None and obs.verdict.known_good:
        lists = sorted({f.verdict.source for f in obs.verdict.sources if f.verdict.known_good}) or ["a known-good list"]
        return _passed(obs, Exclusion.KNOWN_GOOD, f"known good: on {', '.join(lists)}")
    return None


def _target_failure(sel: TargetSelector, obs: PolicyObservable, now: datetime) -> tuple[Exclusion | None, str] | None:
    """The first of the selector's conditions the observable fails, or None when it qualifies. A type mismatch
    comes with no Exclusion: not worth listing (the ports and hashes of a rule for addresses)."""
    verdict, asset = obs.verdict, obs.asset
    if sel.type and obs.type not in sel.type:
        return None, f"type {obs.type.value} is not one of {', '.join(t.value for t in sel.type)}"
    if sel.role and obs.role not in sel.role:
        return Exclusion.CONDITION, f"role {obs.role or 'unknown'} is not one of {', '.join(sel.role)}"
    if sel.ours is False and asset.scope is not Scope.EXTERNAL:
        if asset.ours:
            return Exclusion.OURS, f"ours ({asset.matched}): the rule acts on external observables only"
        return Exclusion.CONDITION, "not known to be external: the rule acts on external observables only"
    if sel.ours is True and not asset.ours:
        return Exclusion.NOT_OURS, f"not ours ({asset.scope.value}): the rule acts on our own hosts only"
    if sel.hit is not None and _live_hit(verdict, now) != sel.hit:
        if sel.hit:
            return Exclusion.NO_LIVE_VERDICT, _why_no_hit(verdict)
        return Exclusion.CONDITION, "has a live TI hit: the rule is for observables without one"
    for field, wanted in (("score", sel.score_at_least), ("confidence", sel.confidence_at_least)):
        if wanted is None:
            continue
        if verdict is None:
            return Exclusion.NO_LIVE_VERDICT, "no TI verdict"
        if getattr(verdict, field) < wanted:
            return Exclusion.CONDITION, f"TI {field} {getattr(verdict, field)} is below {wanted}"
    if sel.seen_within is not None:
        age = _freshest_age(verdict)
        if age is None:
            return Exclusion.NO_LIVE_VERDICT, "no live TI finding with a known age"
        if timedelta(days=age) > sel.seen_within:
            return Exclusion.CONDITION, f"last seen {age:.1f} days ago, not within {format_duration(sel.seen_within)}"
    low, high, criticality = sel.criticality_at_least, sel.criticality_at_most, asset.criticality
    if (low or high) and criticality is None:
        return Exclusion.CONDITION, "no asset criticality known"
    if low and criticality and criticality.rank < low.rank:
        return Exclusion.CONDITION, f"asset criticality {criticality.value} is below {low.value}"
    if high and criticality and criticality.rank > high.rank:
        return Exclusion.CONDITION, f"asset criticality {criticality.value} is above {high.value}"
    return None


def _live_hit(verdict: Verdict | None, now: datetime) -> bool:
    """A hit still valid a second from now (a shorter one could not contain anything)."""
    if verdict is None or not verdict.hit or verdict.known_good:
        return False
    return verdict.expires_at is None or verdict.expires_at - now >= timedelta(seconds=1)


def _why_no_hit(verdict: Verdict | None) -> str:
    if verdict is None:
        return "no TI verdict"
    if verdict.hit and verdict.expires_at is not None:
        return f"the TI hit expired at {verdict.expires_at.isoformat()}"
    return f"no live TI hit (score {verdict.score})"


def _freshest_age(verdict: Verdict | None) -> float | None:
    ages = [f.age_days for f in (verdict.sources if verdict else []) if f.live and f.age_days is not None]
    return min(ages) if ages else None


def _choice(obs: PolicyObservable, now: datetime) -> TargetChoice:
    verdict = obs.verdict
    findings = sorted(verdict.sources, key=lambda f: (not f.live, -f.score_now)) if verdict else []
    return TargetChoice(
        type=obs.type,
        value=obs.value,
        role=obs.role,
        scope=obs.asset.scope,
        asset=obs.asset.asset,
        criticality=obs.asset.criticality,
        live_hit=_live_hit(verdict, now),
        score=verdict.score if verdict else None,
        confidence=verdict.confidence if verdict else None,
        expires_at=verdict.expires_at if verdict else None,
        evidence=[
            SourceEvidence(
                source=f.verdict.source,
                matched=f.matched,
                live=f.live,
                score=f.verdict.score,
                score_now=f.score_now,
                confidence=f.verdict.confidence,
                age_days=f.age_days,
                expires_at=f.expires_at,
                why_not_live=f.why_not_live,
            )
            for f in findings[:MAX_EVIDENCE]
        ],
    )


def _duration(
    wanted: timedelta | None, targets: list[TargetChoice], now: datetime
) -> tuple[timedelta | None, str | None]:
    """The rule's duration, cut to the soonest expiry of a target's live hit (whole seconds, rounded down)."""
    if wanted is None:
        return None, None
    expiring = [(t.expires_at, t.value) for t in targets if t.live_hit and t.expires_at is not None]
    if not expiring:
        return wanted, None
    expires_at, value = min(expiring)
    left = timedelta(seconds=math.floor((expires_at - now).total_seconds()))
    if left >= wanted:
        return wanted, None
    return left, (
        f"{format_duration(wanted)} cut to {format_duration(left)}: the TI verdict on {value} expires at "
        f"{expires_at.isoformat()}"
    )


def _passed(obs: PolicyObservable, exclusion: Exclusion, reason: str) -> PassedOverObservable:
    return PassedOverObservable(
        type=obs.type, value=obs.value[:300], role=obs.role, exclusion=exclusion, reason=reason[:500]
    )


def _record_passed(decision: PolicyDecision, passed: dict[int, PassedOverObservable]) -> None:
    listed = list(passed.values())
    decision.observables_passed_over = listed[:MAX_OBSERVABLES_PASSED_OVER]
    decision.more_passed_over = max(0, len(listed) - MAX_OBSERVABLES_PASSED_OVER)


def _summary(decision: PolicyDecision, rule: Rule) -> str:
    verb = {
        Autonomy.OBSERVE: "nothing is done",
        Autonomy.RECOMMEND: f"recommend playbook {decision.playbook}",
        Autonomy.APPROVE: f"run playbook {decision.playbook} once approved",
        Autonomy.AUTO: f"run playbook {decision.playbook}",
    }[decision.autonomy]
    text = f"{decision.autonomy.value}: rule '{rule.name}' matched; {verb}"
    if decision.autonomy is Autonomy.APPROVE and decision.deadline is not None:
        text += f" (approvers have {format_duration(decision.deadline)}, then {decision.on_timeout})"
    if decision.duration is not None:
        text += f" for {format_duration(decision.duration)}"
        if decision.duration_capped_by:
            text += f" ({decision.duration_capped_by})"
    text += "."
    if decision.targets:
        text += " Targets: " + "; ".join(_target_text(t) for t in decision.targets) + "."
    if decision.notes:
        text += " Note: " + "; ".join(decision.notes) + "."
    return _clip(text + _passed_text(decision))


def _target_text(target: TargetChoice) -> str:
    role = f" ({target.role})" if target.role else ""
    where = f", asset {target.asset}" if target.asset else f", {target.scope.value}"
    if not target.live_hit:
        return f"{target.type.value} {target.value}{role}{where}, no live TI hit"
    live = [e for e in target.evidence if e.live]
    sources = (
        ", ".join(e.source + (f" seen {e.age_days:.1f}d ago" if e.age_days is not None else "") for e in live)
        or "no source"
    )
    return (
        f"{target.type.value} {target.value}{role}{where}, TI hit score {target.score} confidence "
        f"{target.confidence} from {sources}"
    )


def _passed_text(decision: PolicyDecision) -> str:
    parts = [f"{p.type.value} {p.value}: {p.reason}" for p in decision.observables_passed_over]
    if decision.more_passed_over:
        parts.append(f"{decision.more_passed_over} more")
    rules = [f"'{r.rule}': {r.reason}" for r in decision.rules_passed_over]
    text = f" Not targets: {'; '.join(parts)}." if parts else ""
    return text + (f" Rules passed over: {'; '.join(rules)}." if rules else "")


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


# --- errors as users read them ------------------------------------------------------------------------------


@functools.cache
def _field_names() -> dict[str, str]:
    """Every field of the policy format, also by its stem (severity -> severity_at_least), for suggestions."""
    names: dict[str, str] = {}
    for model in (PolicyFile, Rule, IncidentConditions, TargetSelector):
        for name in model.model_fields:
            names.setdefault(name, name)
            names.setdefault(name.split("_at_")[0], name)
    return names


def _problem(detail: ErrorDetails, raw: Any) -> str:
    """One pydantic error as `rule 'x' field 'when.severity_at_least': <what is wrong>`."""
    loc = list(detail["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = raw.get("rules") if isinstance(raw, dict) else None
        entry = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"rule '{name}' " if isinstance(name, str) and name else f"rule {loc[1] + 1} "
        loc = loc[2:]
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    kind, value, context = detail["type"], detail["input"], detail.get("ctx") or {}
    if kind == "extra_forbidden":
        word = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(word, list(_field_names()), n=1, cutoff=0.7)
        message = "unknown field" + (f" (did you mean '{_field_names()[close[0]]}'?)" if close else "")
    elif kind == "missing":
        message = "missing required field"
    elif kind == "too_short":
        message = f"must have at least {context.get('min_length')} item(s)"
    elif kind in ("enum", "literal_error"):
        message = f"expected {context.get('expected')}, got {value!r}"
    elif kind == "value_error":
        message = str(context.get("error", detail["msg"]))
    elif kind == "string_pattern_mismatch" and context.get("pattern") == TECHNIQUE_PATTERN:
        message = f"{value!r} is not an ATT&CK technique id such as T1071 or T1071.001"
    elif kind == "string_pattern_mismatch":
        message = f"{value!r} must be lower-case letters, digits, '.', '_' or '-' (at most 64 characters)"
    else:
        shown = f", got {value!r}" if isinstance(value, str | int | float | bool) else ""
        shown = ", got a mapping" if isinstance(value, dict) else ", got a list" if isinstance(value, list) else shown
        message = detail["msg"].replace("Input should be", "expected") + shown
    return f"{where}field {field!r}: {message}" if field else f"{where.strip()}: {message}"


def _one_line(origin: str, problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_PROBLEMS])
    more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
    return f"{origin}: {shown}{more}"
