"""Dispatching: who gets which items (routing), the plan in the outbox (planner), and sending it
within Telegram's limits (pacing, senders, dispatcher)."""

from bot.dispatching.dispatcher import Dispatcher, DispatchStats
from bot.dispatching.pacing import Limits
from bot.dispatching.planner import PlanResult, plan_digest
from bot.dispatching.senders import ConsoleSender, Sender, TelegramSender

__all__ = [
    "ConsoleSender",
    "DispatchStats",
    "Dispatcher",
    "Limits",
    "PlanResult",
    "Sender",
    "TelegramSender",
    "plan_digest",
]
