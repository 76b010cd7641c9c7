"""The send window: it adapts to what queues, and a request that hangs never holds the others up.

Units with an injected clock, then the dispatcher against the fake Bot API with answers that
hang (held by the fake until the test ends).
"""

from __future__ import annotations

import asyncio
from collections import deque

from test_dispatch import World
from test_dispatch_support import make_digest, make_item

from bot.dispatching.window import FLOOR, MIN_STUCK, SendWindow, Slot
from bot.storing.outbox import SENT
from bot.storing.subscribers import ALL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def serve(window: SendWindow, clock: Clock, *, at_once: int, base: float, n: int) -> None:
    """A server answering `at_once` requests every `base` seconds, in order, to senders that
    always have more to send: a request's round trip is its place in the queue."""
    flight: deque[Slot] = deque()
    waiter: asyncio.Future[Slot] | None = None
    for _ in range(n):
        while True:  # take every slot the window gives now
            waiter = waiter or asyncio.ensure_future(window.acquire())
            await asyncio.sleep(0)
            if not waiter.done():
                break
            window.sending(waiter.result())
            flight.append(waiter.result())
            waiter = None
        clock.now += base / at_once
        window.release(flight.popleft())
    if waiter is not None:
        waiter.cancel()
    for slot in flight:
        window.release(slot)


async def test_the_window_grows_while_nothing_queues_and_shrinks_when_requests_queue() -> None:
    clock = Clock()
    window = SendWindow(16, clock=clock)
    assert window.limit == FLOOR
    # a network path of 10 ms that carries any number at once: nothing queues
    for _ in range(300):
        slots = [await window.acquire() for _ in range(window.limit)]
        waiting = asyncio.ensure_future(window.acquire())  # a sender wants more
        await asyncio.sleep(0)
        for slot in slots:
            window.sending(slot)
        clock.now += 0.01
        for slot in slots:
            window.release(slot)
        window.release(await waiting)
    assert window.limit == 16  # grown to the ceiling, never beyond
    # a server (or a client's CPU) that serves two at once: the rest queue
    await serve(window, clock, at_once=2, base=0.01, n=400)
    # settled where between GROW_BELOW and SHRINK_ABOVE requests queue: limit - 2 in [1, 3]
    assert 3 <= window.limit <= 5


async def test_the_window_does_not_grow_when_nobody_waits_for_it() -> None:
    clock = Clock()
    window = SendWindow(16, clock=clock)
    for _ in range(20):
        slot = await window.acquire()
        window.sending(slot)
        clock.now += 0.01
        window.release(slot)
    assert window.limit == FLOOR


async def test_a_stuck_request_stops_counting_but_the_ceiling_holds() -> None:
    clock = Clock()
    window = SendWindow(3, clock=clock)
    hung = [await window.acquire() for _ in range(FLOOR)]
    for slot in hung:
        window.sending(slot)
    third = asyncio.ensure_future(window.acquire())
    await asyncio.sleep(0)
    assert not third.done()  # the window is full
    clock.now += MIN_STUCK
    await asyncio.sleep(MIN_STUCK * 1.5)  # the window's own timer looks again (real loop time)
    assert third.done()  # the hung ones no longer count
    fourth = asyncio.ensure_future(window.acquire())
    await asyncio.sleep(0)
    assert not fourth.done() and window.in_flight == 3  # but no more than the ceiling in all
    window.release(hung[0])
    await asyncio.sleep(0)
    assert fourth.done()
    for slot in (hung[1], third.result(), fourth.result()):
        window.release(slot)
    assert window.in_flight == 0


async def test_a_cancelled_wait_takes_no_slot() -> None:
    window = SendWindow(1, floor=1)
    first = await window.acquire()
    waiting = asyncio.ensure_future(window.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    window.release(first)
    await asyncio.sleep(0)
    assert window.in_flight == 0
    assert (await window.acquire()) is not None


async def test_answers_that_hang_do_not_hold_the_other_chats_up(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path, telegram, request_timeout=600)
    chats = [7100 + n for n in range(30)]
    for chat in chats:
        world.subscribe(chat, [ALL])
    world.plan(make_digest(30, [make_item("hang-1", ("AI工具",))]))
    hanging = FLOOR + 2  # more than the window's floor: only stuck ones stop counting
    # the first answers hang until the test ends (the fake's reset), their messages not kept
    telegram.stall_next("sendMessage", 3600, count=hanging, deliver=False)
    dispatcher = world.dispatcher(grace=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        await telegram.wait_for_async(
            lambda fake: len(fake.messages()) == len(chats) - hanging, timeout=30
        )
    finally:
        stop.set()
        await running
        await dispatcher.sender.close()
    counts = world.outbox.counts()
    assert counts[SENT] == len(chats) - hanging
    assert counts["sending"] == hanging  # cut off in flight: offered again at the next start
