"""The SLPF consumer: carries commands out on nftables, keeps the rule book on disk, and ends timed rules itself.

Every change is written to the state directory before nftables is touched and again after, so a consumer stopped
at any moment, started again, converges: a rule saved but not yet in nftables is put there; a rule retired (deleted,
or its time up) but still in nftables is taken out. Commands and timers take one lock: they change the book and
nftables together.

Durations: each timed rule has a timer here that removes it when its time is up (and one that puts it in place at
its start_time). Set elements also carry an nftables timeout, so they end on time even while the consumer is down;
rules in chains do not have one, and are removed when the consumer starts again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from xorb_orchestrator.actuator.answers import INTERNAL_ERROR, OK, Answer, CommandError
from xorb_orchestrator.actuator.commands import DeleteRule, QueryFeatures, Request, RuleCommand
from xorb_orchestrator.actuator.features import features
from xorb_orchestrator.actuator.nft_rules import Element, SlpfFirewall, element_of
from xorb_orchestrator.actuator.rules import Rule, RuleBook, RuleBookError
from xorb_orchestrator.actuator.state import StateDir, StateError
from xorb_orchestrator.infrastructure.nftables import MAX_TIMEOUT, NftError

log = logging.getLogger(__name__)

RATE_LIMIT = 600  # commands a minute; query features says so and the server enforces it
RETRY_SECONDS = 5.0  # a timed rule nftables would not let go of is tried again this often, loudly


class SlpfConsumer:
    def __init__(
        self,
        firewall: SlpfFirewall,
        state: StateDir,
        *,
        rate_limit: int = RATE_LIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.firewall = firewall
        self.state = state
        self.rate_limit = rate_limit
        self.book = RuleBook()
        self._clock = clock
        self._lock = asyncio.Lock()
        self._timers: dict[int, asyncio.Task[None]] = {}

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def start(self) -> None:
        """Take the state directory, read the book, and make nftables match it: expired and non-persistent rules
        (persistent: false lasts until a restart) and retired ones are removed, the others put (back) in place."""
        self.state.open()
        try:
            await self._start()
        except BaseException:
            self.state.close()
            raise

    async def _start(self) -> None:
        await self.firewall.ensure_slpf()
        saved = self.state.load()
        try:
            self.book = RuleBook() if saved is None else RuleBook.from_json(saved)
        except RuleBookError as exc:
            raise StateError(f"{self.state.path}: {exc}; move it away to start with no rules") from None
        now = self.now_ms()
        for rule in self.book:
            if rule.window.ended(now) or not rule.command.persistent:
                self.book.retire(rule.number)
        self._save()
        for rule in list(self.book.retired.values()):
            await self._remove(rule)
            self.book.forget(rule.number)
        await self._sweep()
        for rule in self.book:
            if rule.window.started(now):
                await self._put(rule)
            self._schedule(rule)
        self._save()
        log.info("SLPF consumer on %s: %d rules in place", self.firewall.where, len(list(self.book)))

    async def stop(self) -> None:
        """Stop the timers (the rules stay in nftables and in the book) and let go of the state directory."""
        async with self._lock:
            for task in self._timers.values():
                task.cancel()
            await asyncio.gather(*self._timers.values(), return_exceptions=True)
            self._timers.clear()
        self.state.close()

    async def execute(self, request: Request) -> Answer:
        command = request.command
        if isinstance(command, QueryFeatures):
            return features(command.features, self.rate_limit)
        async with self._lock:
            if isinstance(command, DeleteRule):
                return await self._delete(command.number)
            return await self._rule(command)

    async def _rule(self, command: RuleCommand) -> Answer:
        now = self.now_ms()
        repeated = self.book.identical(command)
        if repeated is not None:  # the same rule, lasting until the later of the two ends
            rule = self.book.rewindow(repeated.number, repeated.window.widened(command.window))
        else:
            rule = self.book.add(command)
        self._save()
        if rule.window.started(now):
            try:
                await self._put(rule)
            except NftError as exc:
                if repeated is None:  # a new rule that never took effect: nothing of it may stay
                    self.book.discard(rule.number)
                    self._save()
                    await self._clean_up(rule)
                raise CommandError(INTERNAL_ERROR, f"Rule not updated: {exc}") from None
        self._schedule(rule)
        return Answer(OK, results={"slpf": {"rule_number": rule.number}})

    async def _delete(self, number: int) -> Answer:
        rule = self.book.get(number)
        if rule is None:
            raise CommandError(
                INTERNAL_ERROR,
                f"Firewall rule not removed or updated: no such rule {number} (never given, deleted, or its time up)",
            )
        self._cancel(number)
        self.book.retire(number)
        self._save()
        try:
            await self._remove(rule)
        except NftError as exc:
            self.book.restore(number)
            self._save()
            self._schedule(rule)
            raise CommandError(INTERNAL_ERROR, f"Firewall rule not removed or updated: {exc}") from None
        self.book.forget(number)
        self._save()
        return Answer(OK)

    async def _put(self, rule: Rule) -> None:
        element = element_of(rule.command)
        if element is None:
            await self.firewall.put_rules(rule.number, rule.command)
        else:
            await self._sync(element)

    async def _remove(self, rule: Rule) -> None:
        """Take `rule`'s effect out of nftables (it is out of the book already); an element another rule in the
        book still needs stays, with that rule's expiry."""
        element = element_of(rule.command)
        if element is None:
            await self.firewall.delete_rules(rule.number)
        else:
            await self._sync(element)

    async def _clean_up(self, rule: Rule) -> None:
        """Remove what a rule that failed half-way may have left; a restart's sweep catches what this cannot."""
        try:
            await self._remove(rule)
        except NftError as exc:
            log.error("rule %d failed and what it left could not be removed yet: %s", rule.number, exc)

    async def _sync(self, element: Element) -> None:
        """Make `element` what the rules in effect that use it need: there until the last of them ends, or gone."""
        now = self.now_ms()
        stops = [
            rule.window.stop_ms
            for rule in self.book
            if element_of(rule.command) == element and rule.window.started(now) and not rule.window.ended(now)
        ]
        if not stops:
            await self.firewall.drop_element(element)
            return
        timeout = None
        if None not in stops:
            left = timedelta(seconds=math.ceil((max(s for s in stops if s is not None) - now) / 1000))
            timeout = left if left <= MAX_TIMEOUT else None  # longer than nftables takes: the timer alone ends it
        await self.firewall.put_element(element, timeout)

    async def _sweep(self) -> None:
        """Remove SLPF rules and allow elements nftables holds for rules not in the book (a crash mid-change)."""
        numbers = {rule.number for rule in self.book}
        for tagged in await self.firewall.tagged_rules():
            number = int(tagged.comment.rpartition(" ")[2])
            if number not in numbers:
                await self.firewall.delete_rules(number)
        held = {element_of(rule.command) for rule in self.book}
        for value in await self.firewall.allowed():
            element = Element("allow4" if ":" not in value else "allow6", value)
            if element not in held:
                await self.firewall.drop_element(element)

    def _schedule(self, rule: Rule) -> None:
        self._cancel(rule.number)
        now = self.now_ms()
        if rule.window.stop_ms is not None or not rule.window.started(now):
            self._timers[rule.number] = asyncio.create_task(self._timer(rule.number), name=f"slpf-rule-{rule.number}")

    def _cancel(self, number: int) -> None:
        task = self._timers.pop(number, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _timer(self, number: int) -> None:
        """Put rule `number` in place at its start, and take it out at its stop (retrying until nftables lets go)."""
        rule = self.book.get(number)
        if rule is None:
            return
        if not rule.window.started(self.now_ms()):
            await asyncio.sleep((rule.window.start_ms - self.now_ms()) / 1000)
            await self._retrying(number, "its start_time has come but it could not be put in place", self._begin)
        if rule.window.stop_ms is not None:
            await asyncio.sleep(max(0.0, (rule.window.stop_ms - self.now_ms()) / 1000))
            await self._retrying(number, "its time is up but it could not be removed", self._end)

    async def _retrying(self, number: int, failed: str, step: Callable[[int], Awaitable[None]]) -> None:
        while True:
            async with self._lock:
                try:
                    await step(number)
                    return
                except (NftError, OSError) as exc:
                    log.error("rule %d: %s: %s; trying again in %gs", number, failed, exc, RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)

    async def _begin(self, number: int) -> None:
        rule = self.book.get(number)
        if rule is not None:
            await self._put(rule)

    async def _end(self, number: int) -> None:
        """Retire rule `number` (its time is up) and take it out of nftables; run again after a failure, it
        carries on from where it stopped."""
        rule = self.book.get(number)
        if rule is not None and rule.window.ended(self.now_ms()):
            self.book.retire(number)
            self._save()
        rule = self.book.retired.get(number)
        if rule is None:
            return
        await self._remove(rule)
        self.book.forget(number)
        self._save()
        self._timers.pop(number, None)
        log.info("rule %d ended: its time was up", number)

    def _save(self) -> None:
        self.state.save(self.book.to_json())
