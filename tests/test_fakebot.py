"""The fake Telegram Bot API behaves like Telegram for python-telegram-bot's real HTTP stack.

Every call here goes through `telegram.Bot` (or an `Application`) over HTTP to the fake server;
nothing is patched. The HTML parser is also tested on its own against Telegram's wording.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import http.server
import json
import threading
import warnings
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import telegram
from fakebot import FakeTelegram, FloodLimits, parse_html, utf16_len
from fakebot import fixtures as fakebot_fixtures
from fakebot.html import EntityParseError
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)
from telegram.request import HTTPXRequest

PRIVATE = 1001
GROUP = -1001234567890


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTelegram]:
    # The module's own server: these tests must not depend on tests/conftest.py.
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeTelegram) -> Iterator[FakeTelegram]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(fake.token, base_url=fake.base_url) as bot:
        yield bot


def seconds(error: RetryAfter) -> float:
    # PTB 22.2+ warns that retry_after becomes a timedelta; accept either.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        retry_after = error.retry_after
    if isinstance(retry_after, dtm.timedelta):
        return retry_after.total_seconds()
    return retry_after


# ---------------------------------------------------------------- basics


async def test_get_me(bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.username == "digest_test_bot"
    assert me.is_bot
    assert me.id == 123456


async def test_wrong_token_is_refused_like_telegram(fake: FakeTelegram) -> None:
    other = "654321:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    async with httpx.AsyncClient() as client:
        unknown = await client.post(f"{fake.base_url}{other}/getMe")
        method = await client.post(f"{fake.base_url}{fake.token}/noSuchMethod")
    assert unknown.status_code == 401
    assert unknown.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert method.status_code == 404
    assert method.json()["description"] == "Not Found"
    with pytest.raises(InvalidToken):
        async with telegram.Bot(other, base_url=fake.base_url):
            pass


async def test_json_and_form_bodies_are_both_understood(fake: FakeTelegram) -> None:
    url = f"{fake.base_url}{fake.token}/sendMessage"
    async with httpx.AsyncClient() as client:
        as_json = await client.post(url, json={"chat_id": PRIVATE, "text": "json"})
        as_form = await client.post(url, data={"chat_id": str(PRIVATE), "text": "form"})
        as_multipart = await client.post(
            url, data={"chat_id": str(PRIVATE), "text": "multi"}, files={"x": ("a.txt", b"1")}
        )
    assert [r.json()["ok"] for r in (as_json, as_form, as_multipart)] == [True, True, True]
    assert [m.plain for m in fake.messages(PRIVATE)] == ["json", "form", "multi"]
    assert fake.messages(PRIVATE)[1].chat_id == PRIVATE  # "1001" read as the int it means


# ------------------------------------------------------------ sendMessage


async def test_send_message_html_is_parsed_and_stored(fake: FakeTelegram, bot: telegram.Bot):
    html = (
        '<b>标题</b> &amp; <a href="https://example.com/?a=1&amp;b=2">链接</a>\n'
        '<i>x</i><pre><code class="language-python">print(1)</code></pre>'
        "<blockquote expandable>q</blockquote><tg-spoiler>s</tg-spoiler>&#x1F600;"
    )
    markup = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("订阅", callback_data="sub:ai-tools")]]
    )
    sent = await bot.send_message(
        PRIVATE, html, parse_mode="HTML", disable_web_page_preview=True, reply_markup=markup
    )
    assert sent.text == "标题 & 链接\nxprint(1)qs😀"
    assert sent.message_id == 1
    types = {e.type: e for e in sent.entities}
    assert types["text_link"].url == "https://example.com/?a=1&b=2"
    assert types["pre"].language == "python"
    assert "expandable_blockquote" in types
    stored = fake.last_message(PRIVATE)
    assert stored.text == html
    assert stored.plain == sent.text
    assert stored.parse_mode == "HTML"
    assert stored.link_preview_disabled is True
    assert stored.callback_data() == ["sub:ai-tools"]
    second = await bot.send_message(PRIVATE, "plain <b>not parsed</b>")
    assert second.message_id == 2
    assert fake.last_message(PRIVATE).plain == "plain <b>not parsed</b>"
    assert fake.last_message(PRIVATE).link_preview_disabled is False
    other_chat = await bot.send_message(PRIVATE + 1, "x")
    assert other_chat.message_id == 1  # ids count per chat


@pytest.mark.parametrize(
    "html",
    [
        "<b>unclosed",
        "<br>",
        "<p>para</p>",
        "a &nbsp; b",
        "Tom & Jerry",
        "a < b",
        "x <b",
        "<b>x</i>",
        '<a href="https://a.example"><a href="https://b.example">x</a></a>',
        '<a href="https://x.example/?a=1&b=2">x</a>',
        "<span>x</span>",
    ],
)
async def test_bad_html_is_refused(fake: FakeTelegram, bot: telegram.Bot, html: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(PRIVATE, html, parse_mode="HTML")
    assert fake.messages() == []


async def test_length_counts_utf16_units_after_parsing(fake: FakeTelegram, bot: telegram.Bot):
    fake.limits = None
    await bot.send_message(PRIVATE, "a" * 4096)
    await bot.send_message(PRIVATE, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(PRIVATE, "😀" * 2048)  # 2048 code points, 4096 UTF-16 units
    await bot.send_message(PRIVATE, "  " + "a" * 4096 + "\n")  # outer whitespace is trimmed
    for too_long in ("a" * 4097, "😀" * 2048 + "a", "&lt;" * 4097):
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(PRIVATE, too_long, parse_mode="HTML")
    assert len(fake.messages(PRIVATE)) == 4


@pytest.mark.parametrize(("text", "mode"), [("<b></b>", "HTML"), (" \n ", None), ("", None)])
async def test_empty_text_is_refused(bot: telegram.Bot, text: str, mode: str | None) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(PRIVATE, text, parse_mode=mode)


async def test_edit_message_text(fake: FakeTelegram, bot: telegram.Bot) -> None:
    sent = await bot.send_message(PRIVATE, "<b>v1</b>", parse_mode="HTML")
    edited = await bot.edit_message_text("<i>v2</i>", PRIVATE, sent.message_id, parse_mode="HTML")
    assert edited.text == "v2"
    assert fake.last_message(PRIVATE).plain == "v2"
    assert fake.last_message(PRIVATE).edit_count == 1
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("<i>v2</i>", PRIVATE, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", PRIVATE, 999)


# ---------------------------------------------------------------- limits


async def test_private_chat_flood_limit(fake: FakeTelegram, bot: telegram.Bot) -> None:
    for i in range(3):  # the burst
        await bot.send_message(PRIVATE, f"m{i}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(PRIVATE, "too fast")
    assert seconds(caught.value) == 1
    assert fake.flood_count == 1
    assert fake.flood_counts == {PRIVATE: 1}
    assert [m.plain for m in fake.messages(PRIVATE)] == ["m0", "m1", "m2"]
    await bot.send_message(PRIVATE + 1, "another chat is not limited by this one")


async def test_group_flood_limit_is_per_minute(fake: FakeTelegram, bot: telegram.Bot) -> None:
    for i in range(3):
        await bot.send_message(GROUP, f"m{i}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "too fast")
    assert seconds(caught.value) == 3  # 20 per minute: one slot every 3 s
    for i in range(3):
        await bot.send_message("@digest_channel", f"c{i}")  # a channel has its own bucket
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message("@digest_channel", "too fast")
    assert seconds(caught.value) == 3
    assert fake.flood_counts == {GROUP: 1, "@digest_channel": 1}


async def test_global_flood_limit_and_disabling(fake: FakeTelegram, bot: telegram.Bot) -> None:
    fake.limits = FloodLimits(global_per_second=5)
    for chat in range(1, 6):
        await bot.send_message(chat, "x")
    with pytest.raises(RetryAfter):
        await bot.send_message(6, "the sixth within a second")
    fake.limits = None
    for _ in range(10):
        await bot.send_message(PRIVATE, "unlimited")
    assert fake.max_in_window(1.0, PRIVATE) == 10


# ---------------------------------------------------------------- faults


async def test_blocked_forgotten_and_migrated_chats(fake: FakeTelegram, bot: telegram.Bot):
    fake.block(PRIVATE)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(PRIVATE, "x")
    fake.forget(PRIVATE + 1)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(PRIVATE + 1, "x")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.get_chat(PRIVATE + 1)
    fake.migrate(-4001, GROUP)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4001, "x")
    assert caught.value.new_chat_id == GROUP
    await bot.send_message(GROUP, "followed")
    assert [m.chat_id for m in fake.messages()] == [GROUP]


async def test_server_errors(fake: FakeTelegram, bot: telegram.Bot) -> None:
    fake.fail_next("sendMessage", 500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(PRIVATE, "lost")
    fake.fail_next("sendMessage", 502, deliver=True)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(PRIVATE, "delivered anyway")
    await bot.send_message(PRIVATE, "fine again")
    assert [m.plain for m in fake.messages(PRIVATE)] == ["delivered anyway", "fine again"]


async def test_stall_times_out_the_client(fake: FakeTelegram) -> None:
    request = HTTPXRequest(read_timeout=0.3)
    async with telegram.Bot(fake.token, base_url=fake.base_url, request=request) as bot:
        fake.stall_next("sendMessage", 1, deliver=True)
        with pytest.raises(TimedOut):  # the client gave up at its 0.3 s, not at the 1 s stall
            await bot.send_message(PRIVATE, "delivered, answer lost")
        assert [m.plain for m in fake.messages(PRIVATE)] == ["delivered, answer lost"]

        fake.stall_next("sendMessage", 0.8, deliver=False)
        with pytest.raises(TimedOut):
            await bot.send_message(PRIVATE, "never delivered")
        await fake.wait_for_async(lambda f: len(f.requests_for("sendMessage")) == 2, timeout=5)
        assert [m.plain for m in fake.messages(PRIVATE)] == ["delivered, answer lost"]


# ------------------------------------------------------------ updates


async def test_long_poll_returns_as_soon_as_an_update_is_pushed(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for_async(lambda f: f.polling == 1)
    pushed = fake.push_message(PRIVATE, "/start@digest_test_bot sub-ai-tools", username="alice")
    updates = await asyncio.wait_for(poll, 5)  # long before the poll's own 10 s: the push ended it
    assert [u.update_id for u in updates] == [pushed["update_id"]]
    message = updates[0].message
    assert message.text.startswith("/start")
    assert message.entities[0].type == "bot_command"
    assert message.entities[0].length == len("/start@digest_test_bot")
    assert message.from_user.language_code == "zh-hans"
    # Confirming with offset forgets it; an empty poll with timeout=0 returns at once.
    assert await bot.get_updates(offset=pushed["update_id"] + 1, timeout=0) == ()
    assert fake.pending_updates == []


async def test_a_second_poller_terminates_the_first(fake: FakeTelegram) -> None:
    async with (
        telegram.Bot(fake.token, base_url=fake.base_url) as first,
        telegram.Bot(fake.token, base_url=fake.base_url) as second,
    ):
        waiting = asyncio.create_task(first.get_updates(timeout=5))
        await fake.wait_for_async(lambda f: f.polling == 1)
        other = asyncio.create_task(second.get_updates(timeout=0))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
            await asyncio.wait_for(waiting, 3)
        assert await other == ()


async def test_application_polling_answers_commands_and_buttons(fake: FakeTelegram) -> None:
    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = [[telegram.InlineKeyboardButton("AI工具", callback_data="sub:ai-tools")]]
        await update.effective_message.reply_html(
            f"<b>欢迎</b> {' '.join(context.args)}",
            reply_markup=telegram.InlineKeyboardMarkup(keyboard),
        )

    async def press(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("已订阅")
        await update.callback_query.edit_message_text("已订阅 AI工具")

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(press))
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=5, poll_interval=0)
        try:
            fake.push_message(PRIVATE, "/start sub-ai-tools")
            [reply] = await fake.wait_for_messages_async(PRIVATE, 1, timeout=10)
            assert reply.plain == "欢迎 sub-ai-tools"
            fake.push_callback(PRIVATE, reply.message_id, "sub:ai-tools")
            await fake.wait_for_async(lambda f: f.last_message(PRIVATE).edit_count == 1)
            await fake.wait_for_async(lambda f: len(f.callback_answers) == 1)
        finally:
            await app.updater.stop()
            await app.stop()
    assert fake.callback_answers[0].text == "已订阅"
    assert fake.callback_answers[0].data == "sub:ai-tools"
    assert fake.last_message(PRIVATE).plain == "已订阅 AI工具"
    with pytest.raises(ValueError, match="no button"):
        fake.push_callback(PRIVATE, reply.message_id, "sub:missing")


async def test_webhook_delivery_with_secret(fake: FakeTelegram, bot: telegram.Bot) -> None:
    received: list[tuple[str | None, dict]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, args=(0.05,), daemon=True).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{hook.server_port}/hook", secret_token="s3cret")
        with pytest.raises(Conflict, match=r"(?i)webhook is active"):
            await bot.get_updates(timeout=0)
        pushed = fake.push_message(PRIVATE, "/help")
        await fake.wait_for_async(lambda f: bool(f.webhook_deliveries))
        assert received == [("s3cret", pushed)]
        with pytest.raises(BadRequest, match=r"(?i)bad webhook"):
            await bot.set_webhook("https://example.com/hook")
    finally:
        hook.shutdown()


# ----------------------------------------------------- chats and commands


async def test_get_chat_member_and_admins(fake: FakeTelegram, bot: telegram.Bot) -> None:
    private = await bot.get_chat(PRIVATE)
    assert private.type == "private"
    fake.push_message(GROUP, "hi", user_id=42, chat_title="AI 群")
    group = await bot.get_chat(GROUP)
    assert (group.type, group.title) == ("supergroup", "AI 群")
    fake.set_admins(GROUP, [42], creator=7)
    assert (await bot.get_chat_member(GROUP, 42)).status == "administrator"
    assert (await bot.get_chat_member(GROUP, 7)).status == "creator"
    assert (await bot.get_chat_member(GROUP, 99)).status == "member"
    admins = await bot.get_chat_administrators(GROUP)
    assert [a.user.id for a in admins] == [7, 42]
    with pytest.raises(BadRequest, match=r"(?i)no administrators in the private chat"):
        await bot.get_chat_administrators(PRIVATE)


async def test_channels_their_admins_and_the_bots_own_membership(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    channel = fake.add_channel("ainews", title="AI News", creator=7, admins=[42])
    found = await bot.get_chat("@ainews")  # the @name resolves to the channel's id
    assert (found.id, found.type, found.username) == (channel, "channel", "ainews")
    assert [a.user.id for a in await bot.get_chat_administrators("@ainews")][:2] == [7, 42]
    me = await bot.get_chat_member(channel, fake.bot_id)
    assert me.status == "administrator" and me.can_post_messages
    fake.set_bot_member(channel, "administrator", can_post=False)
    assert not (await bot.get_chat_member(channel, fake.bot_id)).can_post_messages
    with pytest.raises(Forbidden, match=r"(?i)need administrator rights in the channel chat"):
        await bot.send_message(channel, "x")
    pushed = fake.change_bot_member(channel, "left", by_user=7)
    with pytest.raises(BadRequest, match=r"(?i)member list is inaccessible"):
        await bot.get_chat_member(channel, 42)  # only an admin may read a channel's members
    with pytest.raises(Forbidden, match=r"(?i)bot is not a member of the channel chat"):
        await bot.send_message("@ainews", "x")
    (update,) = await bot.get_updates(offset=pushed["update_id"], timeout=0)
    change = update.my_chat_member
    assert change is not None and change.chat.id == channel and change.from_user.id == 7
    assert (change.old_chat_member.status, change.new_chat_member.status) == (
        "administrator",
        "left",
    )
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.get_chat("@nobodyregisteredthis")


async def test_forum_topics_and_their_errors(fake: FakeTelegram, bot: telegram.Bot) -> None:
    fake.make_forum(GROUP, title="Forum")
    tools, old = fake.create_topic(GROUP, "Tools"), fake.create_topic(GROUP, "Old")
    sent = await bot.send_message(GROUP, "in a topic", message_thread_id=tools)
    assert (sent.message_thread_id, sent.is_topic_message) == (tools, True)
    assert fake.last_message(GROUP).message_thread_id == tools
    general = await bot.send_message(GROUP, "in General")
    assert general.message_thread_id is None
    fake.close_topic(GROUP, tools)
    with pytest.raises(BadRequest, match=r"^Topic_closed$"):  # PTB's rewording of TOPIC_CLOSED
        await bot.send_message(GROUP, "x", message_thread_id=tools)
    fake.delete_topic(GROUP, old)
    for thread in (old, 999):
        with pytest.raises(BadRequest, match=r"(?i)^message thread not found$"):
            await bot.send_message(GROUP, "x", message_thread_id=thread)
    fake.close_topic(GROUP, tools, closed=False)
    await bot.send_message(GROUP, "reopened", message_thread_id=tools)
    pushed = fake.push_message(GROUP, "/topic", user_id=42, thread_id=tools)
    (update,) = await bot.get_updates(offset=pushed["update_id"], timeout=0)
    message = update.message
    assert message is not None and message.chat.is_forum
    assert (message.message_thread_id, message.is_topic_message) == (tools, True)
    assert message.reply_to_message.forum_topic_created.name == "Tools"  # type: ignore[union-attr]


async def test_set_my_commands(fake: FakeTelegram, bot: telegram.Bot) -> None:
    await bot.set_my_commands([("start", "开始"), ("subscribe", "订阅")])
    await bot.set_my_commands([("start", "Start")], language_code="en")
    assert fake.commands[("default", "")][1] == {"command": "subscribe", "description": "订阅"}
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["start"]
    for bad in [("Start", "x"), ("a" * 33, "x"), ("订阅", "x"), ("start", "")]:
        with pytest.raises(BadRequest):
            await bot.set_my_commands([bad])
    await bot.delete_webhook()
    await bot.close()


# --------------------------------------------------------- waiting, reset


async def test_wait_for_times_out_with_a_useful_message(fake: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="messages per chat"):
        await fake.wait_for_async(lambda f: False, timeout=0.2)
    with pytest.raises(TimeoutError, match="at least 1 message"):
        fake.wait_for_messages(PRIVATE, 1, timeout=0.1)


async def test_blocking_wait_from_another_thread(fake: FakeTelegram, bot: telegram.Bot) -> None:
    waited = asyncio.create_task(asyncio.to_thread(fake.wait_for_messages, PRIVATE, 2, 5))
    await bot.send_message(PRIVATE, "one")
    await bot.send_message(PRIVATE, "two")
    assert [m.plain for m in await waited] == ["one", "two"]


async def test_reset_clears_state_but_ids_keep_growing(fake: FakeTelegram, bot: telegram.Bot):
    first = fake.push_message(PRIVATE, "x")
    fake.block(PRIVATE)
    fake.reset()
    assert fake.pending_updates == [] and fake.messages() == [] and fake.requests == []
    await bot.send_message(PRIVATE, "not blocked any more")
    assert fake.push_message(PRIVATE, "y")["update_id"] > first["update_id"]


def test_fixture_module_exports_fixtures() -> None:
    assert set(fakebot_fixtures.__all__) == {"fake_telegram", "telegram"}


# ------------------------------------------------------------ html alone


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x <b", "Unclosed start tag at byte offset 2"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("привет <br>", 'Unsupported start tag "br" at byte offset 13'),
    ],
)
def test_parse_html_reasons_match_telegram(html: str, reason: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(html, strict=False)
    assert str(caught.value) == reason


def test_parse_html_lenient_mode_is_telegram_exactly() -> None:
    assert parse_html("Tom & Jerry &nbsp; &lt&gt", strict=False).text == "Tom & Jerry &nbsp; <>"
    with pytest.raises(EntityParseError, match="Unsupported HTML entity"):
        parse_html("&nbsp;")
    with pytest.raises(EntityParseError, match='"&" must be escaped'):
        parse_html("Tom & Jerry")


def test_parse_html_entities_use_utf16_offsets() -> None:
    parsed = parse_html("😀<b>粗</b><i>&#128512;x</i>")
    assert parsed.text == "😀粗😀x"
    assert parsed.entities == [
        {"offset": 2, "length": 1, "type": "bold"},
        {"offset": 3, "length": 3, "type": "italic"},
    ]
    assert utf16_len(parsed.text) == 6


def test_form_bodies_decode_as_urllib_does() -> None:
    """The fake's fast form decoding (a run of escapes at a time) is urllib's parse_qsl."""
    import random
    from urllib.parse import parse_qsl, urlencode

    from fakebot.server import _parse_form

    pieces = ["a", "=", "&", "+", "%", "%2", "%41", "%e4%b8%ad", "%E4", "%zz", "中", " ", "%2B"]
    rng = random.Random(11)
    bodies = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    bodies.append(urlencode({"text": "<b>新闻</b> 😀 a&b=c+d%", "chat_id": "-100123"}))
    for body in bodies:
        assert _parse_form(body) == parse_qsl(body, keep_blank_values=True), body
