"""The dispatcher: sends the outbox within Telegram's limits, one message in flight per chat.

One loop owns the database (a single worker thread, so SQLite sees one writer): each turn it
records the outcomes of finished sends and claims the next due chat heads in one transaction,
then starts a task per claimed delivery. Tasks wait for their chat's and the overall pacing,
send, and hand their outcome back; the loop wakes on an outcome, on `wake()` (new deliveries
planned), on stop, or when the earliest delayed delivery falls due. Nothing polls.

`sole`: this dispatcher is the only one sending from its outbox (SQLite's one process; on
PostgreSQL the instance elected sender, see `bot.storing.locks`), so at start every delivery
left `sending` belongs to a dead or deposed sender and is offered again at once, and it learns
of new work only from `wake()` (PostgreSQL: `bot.storing.notify`). Several dispatchers sharing
one PostgreSQL outbox without an election (tests, tools) take back only rows older than the
lease, and look at the outbox every `SHARED_IDLE` seconds when idle.

Pacing is the sender's `Pacer`, the bot token's one budget (command replies share it): a task
takes its turn for its chat at `Priority.DELIVERY`, so a reply to the same chat goes first, and
passes the turn to the sender.

Outcomes (see `senders`): sent; 429 -> that chat waits `retry_after`; network/5xx/timeout ->
retried with exponential backoff and jitter up to `max_attempts`; 403 or "chat not found" -> the
chat is marked blocked/gone and its pending deliveries cancelled; migrated -> the chat's
deliveries and subscriptions move to the new id and the message goes there; refused HTML -> sent
as plain text; a closed or deleted forum topic -> the topic's messages go to the group's General
topic instead (once each) with a note to the admins there, and its binding is marked broken;
any other refusal -> failed. Any other exception is a bug: that delivery fails at
once (the chat's next one is not held up), is counted in `stats.broken` and logged once with its
traceback.

What each chat chose is read with the claim (one query per turn, for the chats claimed), so a
setting changed while deliveries wait applies to those not sent yet: `/preview` overrides the
part's link preview, `/silent` sends without sound, and the last part of each message carries a
small button that opens `/settings` (not in channels, where readers cannot use it),
labelled in the language the chat reads.

An edit (a digest corrected after it was sent) is paced like a send; "not modified" counts as
done, and an edit whose message is gone (deleted in the chat) is sent as a new message instead:
the chat gets the corrected part either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.exc import SQLAlchemyError

from bot.dispatching.pacing import Permit, Priority, is_private
from bot.dispatching.senders import (
    ChatBlocked,
    ChatGone,
    ChatMovedTo,
    EntityError,
    FloodWait,
    MessageGone,
    Sender,
    SendError,
    SenderUnusable,
    TopicGone,
    Transient,
)
from bot.dispatching.timing import silent_at, zone_of
from bot.dispatching.window import SendWindow
from bot.formatting.messages import plain_text, settings_button
from bot.logs import redact
from bot.settings import Settings
from bot.storing.chat_settings import DEFAULT, ChatSettings, ChatSettingsStore
from bot.storing.outbox import (
    AsPlain,
    ChatClosed,
    ChatMoved,
    Claimed,
    Exchange,
    Failed,
    Outbox,
    Result,
    Retry,
    SendAnew,
    Sent,
    TopicClosed,
)
from bot.storing.subscribers import BLOCKED, GONE, Subscribers

log = logging.getLogger(__name__)

__all__ = ["DispatchStats", "Dispatcher"]

LOOKAHEAD = 0.25  # seconds of sends claimed ahead of the overall pace
RETRY_DB = 1.0  # seconds before trying the database again after an error
# Dispatchers sharing an outbox without an elected sender are not told of each other's work:
# one with nothing to do looks at the shared outbox again after this many seconds.
SHARED_IDLE = 2.0


class _Outcome(NamedTuple):
    """What came of one claimed delivery; `bug`: the unexpected exception that failed it."""

    result: Result
    claimed: Claimed
    bug: BaseException | None = None


@dataclass
class DispatchStats:
    """What this dispatcher did since it was made."""

    sent: int = 0
    failed: int = 0
    retried: int = 0  # 5xx, timeouts, network
    flood: int = 0  # 429s
    plain: int = 0  # resent without HTML
    broken: int = 0  # failed by an unexpected exception (a bug), part of `failed`
    edited: int = 0  # sent messages edited in place (part of `sent`)
    closed_chats: int = 0  # blocked or gone
    moved_chats: int = 0
    broken_topics: int = 0  # forum topics closed or deleted (their messages went to General)


class Dispatcher:
    """Sends pending deliveries of `outbox` through `sender`; see the module docstring.

    Paced by `sender.pacer`. `concurrency`: sends in flight at most (different chats); how
    many actually are is the adaptive `window` (see `bot.dispatching.window`).
    """

    def __init__(
        self,
        sender: Sender,
        outbox: Outbox,
        settings: Settings,
        *,
        subscribers: Subscribers | None = None,
        concurrency: int | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        lease: float | None = None,
        grace: float = 5.0,
        instance: str | None = None,
        sole: bool | None = None,
        progress: Callable[[Result, Claimed], None] | None = None,
        chat_settings: ChatSettingsStore | None = None,
    ) -> None:
        self.sender = sender
        self.outbox = outbox
        self.settings = settings
        self.chat_settings = chat_settings or ChatSettingsStore(outbox.engine)
        self._configured = {str(channel.chat) for channel in settings.telegram.channels}
        self._channels: set[str] = set()  # channels among the chats claimed: no settings button
        self.subscribers = subscribers
        self.pacer = sender.pacer
        self.concurrency = max(1, concurrency or getattr(sender, "concurrency", 16))
        # Claimed deliveries may be up to twice the sends in flight, and outcomes are recorded
        # in batches of about half the sends in flight (sooner when the queue of claimed ones
        # runs low): a database transaction costs about as much CPU as a send, so one per
        # outcome would be the dispatcher's main cost.
        self._claimable = 2 * self.concurrency
        self._batch = max(1, self.concurrency // 2)
        self.window: SendWindow | None = None
        self.max_attempts = settings.telegram.max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        # a `sending` delivery older than this belongs to a dead instance (PostgreSQL)
        self.lease = lease or max(60.0, 3 * settings.telegram.request_timeout)
        self.grace = grace
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.sole = (not outbox.postgres) if sole is None else sole
        self.progress = progress
        self.on_first_send: Callable[[str], None] | None = None
        # the note to a forum's admins, posted in General, when a topic turned out closed:
        # (chat id, thread id) -> text (HTML; None: no note), called in the database thread
        self.topic_note: Callable[[str, int], str | None] | None = None
        self.stats = DispatchStats()
        self.fatal: SenderUnusable | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()
        self._held: set[asyncio.Task] = set()  # claimed, still waiting for their pace
        self._results: list[_Outcome] = []
        self._waiting = 0  # claimed, not yet sending (waiting for pacing)
        self._first_seen: set[str] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._active = False

    # Public ------------------------------------------------------------------------------------

    def wake(self) -> None:
        """New deliveries were planned: look at the outbox now. Safe from any thread."""
        loop, event = self._loop, self._wakeup
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set (the service). A refused token ends it early, logged."""
        await self._main(stop, until_empty=False)
        if self.fatal:
            log.error("deliveries stopped: %s", self.fatal)

    async def drain(self, stop: asyncio.Event | None = None) -> DispatchStats:
        """Deliver until every delivery is sent or has definitively failed (or `stop`).
        Raises `SenderUnusable` when nothing can be sent."""
        await self._main(stop, until_empty=True)
        if self.fatal:
            raise self.fatal
        return self.stats

    # The loop ----------------------------------------------------------------------------------

    async def _main(self, stop: asyncio.Event | None, *, until_empty: bool) -> None:
        if self._active:
            raise RuntimeError("this dispatcher is already running")
        self._active = True
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self.window = SendWindow(self.concurrency)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="outbox")
        watcher = asyncio.create_task(self._watch(stop)) if stop is not None else None
        try:
            while not await self._recover(first=True):
                if (stop is not None and stop.is_set()) or self.fatal:
                    return
                await asyncio.sleep(RETRY_DB)
            await self._turns(stop, until_empty)
        finally:
            if watcher:
                watcher.cancel()
            await self._finish()
            self._executor.shutdown(wait=True)
            self._executor = None
            self._wakeup = None
            self._active = False

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake()

    async def _recover(self, *, first: bool) -> bool:
        """Deliveries left `sending` by a dead process go back to `pending`. A sole sender
        (SQLite's one process, PostgreSQL's elected sender) takes back every one of them at
        start; dispatchers sharing an outbox only those older than the lease (another live one
        may be sending the others). False when the database could not be reached (try later)."""
        cutoff = None if (first and self.sole) else time.time() - self.lease
        try:
            reset = await self._db(self.outbox.reset_inflight, cutoff)
        except SQLAlchemyError as error:
            log.warning("outbox unavailable, retrying: %s", error)
            return False
        if reset:
            log.info("%d delivery(ies) interrupted earlier will be sent again", reset)
        return True

    async def _turns(self, stop: asyncio.Event | None, until_empty: bool) -> None:
        assert self._wakeup is not None
        last_recovery = time.monotonic()
        while True:
            stopping = stop is not None and stop.is_set()
            if stopping or self.fatal:
                return
            self._wakeup.clear()
            free = self._claimable - len(self._tasks)
            ahead = self.pacer.lookahead(LOOKAHEAD)
            want = free if ahead is None else max(0, min(free, ahead - self._waiting))
            idle = not self._tasks
            plenty = len(self._tasks) > self.concurrency  # claimed beyond the sends in flight
            if not self._record_now() and (want == 0 or (plenty and want < self._batch)):
                # too little to record or to claim for a transaction: wait for sends to finish
                await self._sleep(LOOKAHEAD / 2 if free > 0 else None)
                continue
            results, self._results = self._results, []
            try:
                exchange, chosen = await self._db(
                    self._exchange,
                    [outcome.result for outcome in results],
                    want,
                    time.time(),
                    self.instance,
                    want_next_due=want > 0,
                    want_unfinished=until_empty and idle,
                )
            except SQLAlchemyError as error:
                log.warning("outbox unavailable, retrying: %s", error)
                self._results = results + self._results
                await self._sleep(RETRY_DB)
                continue
            await self._settled(results)
            for claimed in exchange.claimed:
                self._start(claimed, chosen.get(claimed.chat_id, DEFAULT))

            if (
                until_empty
                and idle
                and not exchange.claimed
                and exchange.unfinished == 0
                and not self._results
            ):
                return
            shared = self.outbox.postgres and not self.sole
            if shared and time.monotonic() - last_recovery > self.lease / 2:
                last_recovery = time.monotonic()
                await self._recover(first=False)
            if want and len(exchange.claimed) == want:
                await asyncio.sleep(0)  # more may be due: claim again once tasks started
                continue
            await self._sleep(self._turn_timeout(want, free, exchange.next_due, shared))

    @staticmethod
    def _turn_timeout(want: int, free: int, next_due: float | None, shared: bool) -> float | None:
        """How long a turn that claimed all it wanted may sleep, from this turn alone (never an
        earlier turn's: a turn that only recorded outcomes must not sleep unboundedly on a
        timeout computed when other sends were in flight to wake it)."""
        timeout: float | None
        if want > 0:  # claimed all that is due: sleep until the next one falls due
            timeout = None if next_due is None else max(0.0, next_due - time.time())
        elif free > 0:  # claimed nothing, the pace ahead is taken: look again soon
            timeout = LOOKAHEAD / 2
        else:  # every claimable slot is taken: a finishing send wakes the loop
            timeout = None
        if shared:  # plans committed elsewhere: look at the outbox now and then
            timeout = SHARED_IDLE if timeout is None else min(timeout, SHARED_IDLE)
        return timeout

    def _exchange(self, *args: Any, **kwargs: Any) -> tuple[Exchange, dict[str, ChatSettings]]:
        """`Outbox.exchange`, and the settings of the chats it claimed (in the same thread)."""
        exchange = self.outbox.exchange(*args, **kwargs)
        chats = {claimed.chat_id for claimed in exchange.claimed}
        if not chats:
            return exchange, {}
        chosen, channels = self.chat_settings.for_sending(chats)
        self._channels.update(channels)
        return exchange, chosen

    async def _sleep(self, timeout: float | None) -> None:
        assert self._wakeup is not None
        if self._record_now():
            return
        if timeout is not None and timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _record_now(self) -> bool:
        """Whether the outcomes waiting are worth a transaction now: a batch of them, or
        the claimed deliveries running low (or the last ones finished)."""
        if not self._results:
            return False
        return len(self._results) >= self._batch or len(self._tasks) <= self.concurrency

    async def _finish(self) -> None:
        """Give back what is not being sent yet, let sends in flight finish (up to `grace`),
        then record every outcome. A send cut off after that stays `sending`: it may have
        reached Telegram, and is retried at the next start (the one allowed repeat)."""
        for task in list(self._held):
            task.cancel()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=self.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                log.info("%d send(s) interrupted; retried at the next start", len(pending))
        results, self._results = self._results, []
        if results and self._executor is not None:
            try:
                await self._db(self.outbox.settle, [outcome.result for outcome in results])
                await self._settled(results)
            except SQLAlchemyError as error:
                log.warning("could not record %d outcome(s): %s", len(results), error)

    async def _db(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    # One delivery ------------------------------------------------------------------------------

    def _start(self, claimed: Claimed, chosen: ChatSettings) -> None:
        self._waiting += 1
        task = asyncio.create_task(self._deliver(claimed, chosen), name=f"deliver-{claimed.id}")
        self._tasks.add(task)

    async def _deliver(self, claimed: Claimed, chosen: ChatSettings) -> None:
        outcome: _Outcome | None = None
        waiting = True
        task = asyncio.current_task()
        if task is not None:
            self._held.add(task)
        window = self.window
        assert window is not None
        try:
            try:
                slot = await window.acquire()  # a send slot first: a permit is never held idle
                try:
                    # an edit cannot be a paid broadcast; a send may (when the operator opts in)
                    payable = not (claimed.is_edit and claimed.target_message_id is not None)
                    permit = await self.pacer.acquire(
                        claimed.chat_id, Priority.DELIVERY, payable=payable
                    )
                except BaseException:
                    window.release(slot)
                    raise
            except asyncio.CancelledError:  # stopping: not sent, so give it back at once
                retry = Retry(claimed.id, time.time(), "interrupted before sending", False)
                outcome = _Outcome(retry, claimed)
                raise
            self._waiting -= 1
            waiting = False
            if task is not None:
                self._held.discard(task)
            window.sending(slot)
            try:
                outcome = await self._paced(claimed, permit, chosen)
            finally:
                window.release(slot)
        finally:
            if waiting:
                self._waiting -= 1
            if task is not None:
                self._held.discard(task)
                self._tasks.discard(task)
            if outcome is not None:
                self._results.append(outcome)
                if self._wakeup is not None and self._record_now():
                    self._wakeup.set()

    async def _paced(self, claimed: Claimed, permit: Permit, chosen: ChatSettings) -> _Outcome:
        """Make the delivery's request with the turn `permit`, give the turn back, and say
        what came of it."""
        try:
            message_id = await self._request(claimed, permit, chosen)
        except BaseException as error:
            self.pacer.done(permit)
            if isinstance(error, TopicGone) and claimed.thread_id is not None:
                # the note first, then (once this outcome is recorded) the topic's messages
                await self._send_note(claimed.chat_id, claimed.thread_id)
            if isinstance(error, SendError):
                return _Outcome(self._outcome(claimed, error), claimed)
            if isinstance(error, Exception):  # a bug or an answer nobody expected: not retried
                reason = redact(f"{type(error).__name__}: {error}")
                return _Outcome(Failed(claimed.id, reason), claimed, error)
            raise  # cancelled in flight: it stays `sending` (see _finish)
        wait = self.pacer.done(permit)
        now = time.time()
        anew = claimed.is_edit and claimed.target_message_id is None
        sent = Sent(claimed.id, claimed.chat_id, message_id, now, now + wait, anew)
        return _Outcome(sent, claimed)

    async def _request(self, claimed: Claimed, permit: Permit, chosen: ChatSettings) -> int | None:
        """The one request a delivery makes: an edit of its message, or a send (also for an
        edit whose message was never sent), as the chat's settings say now."""
        html = not claimed.plain
        no_preview = claimed.disable_preview if chosen.preview is None else not chosen.preview
        button = self._button(claimed, chosen)
        # /silent, or quiet hours that deliver without sound (`/quiet … silent`) as of now
        silent = silent_at(chosen, time.time(), zone_of(chosen, self.settings.zone))
        if claimed.is_edit and claimed.target_message_id is not None:
            return await self.sender.edit(
                claimed.chat_id,
                claimed.target_message_id,
                claimed.text,
                html=html,
                disable_preview=no_preview,
                permit=permit,
                button=button,  # an edit without it would take the button away
            )
        if claimed.thread_id is not None:  # into a forum topic
            return await self.sender.send(
                claimed.chat_id,
                claimed.text,
                html=html,
                disable_preview=no_preview,
                permit=permit,
                silent=silent,
                button=button,
                thread_id=claimed.thread_id,
            )
        return await self.sender.send(
            claimed.chat_id,
            claimed.text,
            html=html,
            disable_preview=no_preview,
            permit=permit,
            silent=silent,
            button=button,
        )

    def _button(self, claimed: Claimed, chosen: ChatSettings) -> str | None:
        """The settings button's label for the last part of a message (`ends_message`), else
        None."""
        if not claimed.ends_message or claimed.chat_id in self._configured:
            return None
        if claimed.chat_id.startswith("@") or claimed.chat_id in self._channels:
            return None  # a channel: its readers cannot use the button, its admins have /channels
        return settings_button(chosen.language or "zh")

    def _outcome(self, claimed: Claimed, error: SendError) -> Result:
        now = time.time()
        reason = str(error) or type(error).__name__
        if isinstance(error, FloodWait):
            self.pacer.hold(claimed.chat_id, error.retry_after)
            return Retry(claimed.id, now + error.retry_after, reason, counts=False)
        if isinstance(error, ChatMovedTo):
            return ChatMoved(claimed.id, claimed.chat_id, error.new_chat_id)
        if isinstance(error, ChatBlocked):
            return ChatClosed(claimed.id, claimed.chat_id, BLOCKED, reason)
        if isinstance(error, ChatGone):
            return ChatClosed(claimed.id, claimed.chat_id, GONE, reason)
        if isinstance(error, TopicGone) and claimed.thread_id is not None:
            return TopicClosed(claimed.id, claimed.chat_id, claimed.thread_id, reason)
        if isinstance(error, MessageGone) and claimed.is_edit:
            return SendAnew(claimed.id, reason)
        if isinstance(error, EntityError) and not claimed.plain:
            return AsPlain(claimed.id, plain_text(claimed.text), reason)
        if isinstance(error, SenderUnusable):
            self.fatal = error
            if self._wakeup is not None:
                self._wakeup.set()
            return Retry(claimed.id, now, reason, counts=False)
        if isinstance(error, Transient):
            attempts = claimed.attempts + 1
            if attempts >= self.max_attempts:
                return Failed(claimed.id, f"gave up after {attempts} attempts: {reason}")
            delay = min(self.backoff_cap, self.backoff_base * 2 ** min(attempts - 1, 30))
            delay *= random.uniform(0.5, 1.5)
            self.pacer.hold(claimed.chat_id, delay)
            return Retry(claimed.id, now + delay, reason)
        return Failed(claimed.id, reason)

    async def _settled(self, results: list[_Outcome]) -> None:
        """After outcomes are recorded: chat states, figures, progress, first-send hook."""
        for result, claimed, bug in results:
            if isinstance(result, Sent):
                self.stats.sent += 1
                if claimed.is_edit and not result.anew:
                    self.stats.edited += 1
                if claimed.digest_id not in self._first_seen:
                    if len(self._first_seen) > 10_000:
                        self._first_seen.clear()
                    self._first_seen.add(claimed.digest_id)
                    if self.on_first_send is not None:
                        try:
                            self.on_first_send(claimed.digest_id)
                        except Exception:
                            log.exception("on_first_send failed")
            elif isinstance(result, Failed):
                self.stats.failed += 1
                if bug is not None:
                    self.stats.broken += 1
                    log.error(
                        "delivery %d to %s failed: a bug, not retried: %s",
                        result.id,
                        claimed.chat_id,
                        result.error,
                        exc_info=bug,
                    )
                else:
                    log.warning(
                        "delivery %d to %s failed: %s", result.id, claimed.chat_id, result.error
                    )
            elif isinstance(result, Retry):
                if result.counts:
                    self.stats.retried += 1
                else:
                    self.stats.flood += 1
            elif isinstance(result, SendAnew):
                log.info(
                    "the message delivery %d was to edit in %s is gone (%s); sending it anew",
                    result.id,
                    claimed.chat_id,
                    result.error,
                )
            elif isinstance(result, AsPlain):
                self.stats.plain += 1
                log.warning(
                    "Telegram refused the HTML of delivery %d (%s); sending it as plain text",
                    result.id,
                    result.error,
                )
            elif isinstance(result, ChatClosed):
                self.stats.closed_chats += 1
                log.info(
                    "chat %s is %s (%s): its deliveries are cancelled",
                    result.chat_id,
                    result.state,
                    result.error,
                )
                if self.subscribers is not None:
                    await self._chat_change(_close_chat, result.chat_id, result.state)
            elif isinstance(result, TopicClosed):
                self.stats.broken_topics += 1
                log.info(
                    "topic %d of chat %s is closed or deleted (%s): its messages go to General",
                    result.thread_id,
                    result.chat_id,
                    result.error,
                )
            elif isinstance(result, ChatMoved):
                self.stats.moved_chats += 1
                log.info("chat %s moved to %s", result.old_id, result.new_id)
                if self.subscribers is not None:
                    await self._chat_change(_move_subscriptions, result.old_id, result.new_id)
            if self.progress is not None:
                try:
                    self.progress(result, claimed)
                except Exception:
                    log.exception("progress callback failed")

    async def _send_note(self, chat_id: str, thread_id: int) -> None:
        """Tell the forum's admins in General that a topic is closed; the topic's messages
        follow there once the delivery's outcome is recorded (so the note comes first)."""
        if self.topic_note is None:
            return
        try:
            text = await self._db(self.topic_note, chat_id, thread_id)
        except Exception:
            log.exception("the note about a closed topic could not be written")
            return
        if not text:
            return
        permit = await self.pacer.acquire(chat_id, Priority.REPLY)
        try:
            await self.sender.send(chat_id, text, html=True, disable_preview=True, permit=permit)
        except SendError as error:  # the messages themselves are what matters: logged only
            log.warning("the note about a closed topic was not sent to %s: %s", chat_id, error)
        finally:
            self.pacer.done(permit)

    async def _chat_change(self, function: Callable[..., None], *args: str) -> None:
        """A chat's new state or id in the chats table. The outbox has recorded the outcome
        already, so a database error here is logged, never fatal: the chat's next delivery
        meets the same answer from Telegram and tries again."""
        try:
            await self._db(function, self.subscribers, *args)
        except SQLAlchemyError as error:
            log.warning("could not record the change of chat %s: %s", args[0], error)


def _move_subscriptions(subscribers: Subscribers, old_id: str, new_id: str) -> None:
    subscribers.move_chat(old_id, new_id)


def _close_chat(subscribers: Subscribers, chat_id: str, state: str) -> None:
    if subscribers.chat(chat_id) is None:  # a configured channel the bot never heard from
        kind = "private" if is_private(chat_id) else "channel"
        subscribers.upsert_chat(chat_id, kind)
    subscribers.set_state(chat_id, state)
