"""The dispatcher against an older version of itself and a plain python-telegram-bot loop, in
one run, limits off (bench/broadcast.py's unpaced measurement, side by side).

    git show <ref>:bot/dispatching/dispatcher.py > /tmp/dispatcher_before.py
    .venv/bin/python bench/dispatcher_ab.py /tmp/dispatcher_before.py [--recipients 1000]
        [--rounds 3]

Each round runs the three on fresh databases of the same shape, in turn, against the fake Bot
API in a child process; reported: best messages/s of each and the ratios, plus CPU seconds of
this process per 1,000 messages (the dispatcher's own cost, the fake excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import broadcast  # the bench's world, fake and baseline


def load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("dispatcher_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def run_dispatcher(module: Any, engine: Any, settings: Any) -> tuple[float, float]:
    from bot.dispatching import TelegramSender
    from bot.dispatching.pacing import Pacer
    from bot.storing.outbox import Outbox

    sender = TelegramSender(settings, pacer=Pacer(None))
    dispatcher = module.Dispatcher(sender, Outbox(engine), settings)
    cpu, started = time.process_time(), time.monotonic()
    await dispatcher.drain()
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    await sender.close()
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="an older bot/dispatching/dispatcher.py")
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import bot.dispatching.dispatcher as now
    from bot.storing.outbox import Outbox

    kinds = {"before": load(args.before), "now": now}
    times: dict[str, list[float]] = {"gather": [], "before": [], "now": []}
    cpu: dict[str, list[float]] = {"before": [], "now": []}
    count = 0
    with tempfile.TemporaryDirectory() as folder:
        fake = broadcast.Fake(broadcast.__file__)
        try:
            for round_ in range(args.rounds):
                for n, kind in enumerate(times):
                    engine, digest_id = broadcast.make_world(
                        Path(folder), args.recipients, seed=100 + 3 * round_ + n
                    )
                    settings = broadcast.settings_for(engine, fake, None, 1)
                    broadcast.plan(engine, digest_id, settings)
                    rows = Outbox(engine).rows()
                    count = len(rows)
                    fake.ask(op="reset", limits=None)
                    if kind == "gather":
                        messages = [(r["chat_id"], r["text"], r["disable_preview"]) for r in rows]
                        times[kind].append(asyncio.run(broadcast.gather_baseline(fake, messages)))
                    else:
                        elapsed, used = asyncio.run(run_dispatcher(kinds[kind], engine, settings))
                        times[kind].append(elapsed)
                        cpu[kind].append(used * 1000 / count)
                    assert fake.ask(op="stats")["messages"] == count
                    engine.dispose()
        finally:
            fake.close()
    best = {kind: count / min(values) for kind, values in times.items()}
    print(
        json.dumps(
            {
                "messages": count,
                "load_average": os.getloadavg(),
                "best_per_second": {k: round(v, 1) for k, v in best.items()},
                "now_vs_gather": round(best["now"] / best["gather"], 3),
                "before_vs_gather": round(best["before"] / best["gather"], 3),
                "now_vs_before": round(best["now"] / best["before"], 3),
                "cpu_seconds_per_1000": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
                "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
