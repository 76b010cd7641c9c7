"""Every reply of the bot, in Chinese (the default) and English, as Telegram HTML.

Everything a user or a digest supplied is escaped here (with `bot.sanitizer`), so a reply is valid
Telegram HTML whatever went into it: the only tags used are b, i, code and a; the only entities
`&lt; &gt; &amp; &quot;`. Plain text is cut before it is escaped, never after.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.model import Category, Entry
from bot.sanitizer import escape_attribute as attr
from bot.sanitizer import escape_text as esc
from bot.sanitizer import safe_url

Lang = Literal["zh", "en"]

MAX_MESSAGE = 4096  # Telegram's limit on the text after entity parsing
LATEST_ITEMS = 10  # /latest shows at most this many items
_TITLE_CHARS = 300  # an item title longer than this is cut (plain text, before escaping)
_NAME_CHARS = 60  # a category name longer than this is cut where it is shown
_LIST_BUDGET = 3000  # parsed characters a list of categories may take in one reply
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class Command:
    """A command of the menu (setMyCommands) and of /help."""

    name: str
    zh: str
    en: str
    admin: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("start", "开始使用", "Start"),
    Command("help", "帮助", "Help"),
    Command("categories", "查看所有分类", "List the categories"),
    Command("subscribe", "订阅分类（不带参数则显示按钮）", "Subscribe to categories"),
    Command("unsubscribe", "取消订阅分类", "Unsubscribe from categories"),
    Command("mysubs", "我的订阅", "My subscriptions"),
    Command("latest", "最新一期摘要", "The latest digest"),
    Command("feeds", "RSS / Atom / JSON 订阅源", "RSS, Atom and JSON feeds"),
    Command("search", "搜索全部条目", "Search every item"),
    Command("stop", "取消全部订阅", "Unsubscribe from everything"),
    Command("settings", "我的设置（按钮）", "My settings (buttons)"),
    Command("filter", "关键词过滤：/filter +OpenAI -融资", "Keyword filter: /filter +OpenAI"),
    Command("format", "推送格式：full 或 compact", "Delivery format: full or compact"),
    Command("preview", "链接预览：on 或 off", "Link previews: on or off"),
    Command("silent", "静音推送：on 或 off", "Silent deliveries: on or off"),
    Command("lang", "语言：zh 或 en", "Language: zh or en"),
    Command("pause", "暂停推送（如 8h、3d）", "Pause deliveries (e.g. 8h, 3d)"),
    Command("resume", "恢复推送并补看错过的", "Resume, with what you missed"),
    Command("quiet", "免打扰时段", "Quiet hours"),
    Command("schedule", "定时合集推送", "Bundles at set times"),
    Command("timezone", "时区", "Time zone"),
    Command("connect", "连接你管理的频道", "Connect a channel you manage"),
    Command("channels", "我管理的频道", "Channels you manage"),
    Command("topic", "把分类绑定到话题（论坛群）", "Bind categories to a topic (forums)"),
    Command("stats", "统计（管理员）", "Statistics (admins)", admin=True),
    Command("recategorise", "更正条目分类（管理员）", "Re-categorise an item (admins)", admin=True),
)


def language(code: str | None) -> Lang:
    """English for users whose Telegram language is English (en, en-US, ...), else Chinese."""
    return "en" if code and code.lower().startswith("en") else "zh"


def cut(text: str, limit: int) -> str:
    """Plain text shortened to at most `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def parsed_length(fragment: str) -> int:
    """Length Telegram counts for our own HTML: tags removed, entities decoded, UTF-16 units."""
    plain = html.unescape(_TAG.sub("", fragment))
    return len(plain.encode("utf-16-le", "surrogatepass")) // 2


def _t(lang: Lang, zh: str, en: str) -> str:
    return en if lang == "en" else zh


def show(category: Category, lang: Lang) -> str:
    """A category's name as a user of `lang` reads it (escaped)."""
    return esc(plain_name(category, lang))


def plain_name(category: Category, lang: Lang, limit: int = _NAME_CHARS) -> str:
    """The same, unescaped and cut to `limit` characters (for buttons and callback answers)."""
    return cut(category.label if lang == "en" else category.name, limit)


def _names(categories: Iterable[Category], lang: Lang) -> str:
    return _t(lang, "、", ", ").join(show(c, lang) for c in categories)


def _bullets(categories: Iterable[Category], lang: Lang, marked: set[str] | None = None) -> str:
    lines = []
    for category in categories:
        mark = " ✅" if marked is not None and category.name in marked else ""
        lines.append(f"• {show(category, lang)} (<code>{esc(category.slug)}</code>){mark}")
    return "\n".join(_capped(lines, lang))


def _capped(lines: list[str], lang: Lang, budget: int = _LIST_BUDGET) -> list[str]:
    """As many whole lines as fit in `budget` parsed characters, then a count of the rest."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        used += parsed_length(line) + 1
        if used > budget:
            rest = len(lines) - index
            return [*kept, _t(lang, f"…还有 {rest} 项", f"…and {rest} more")]
        kept.append(line)
    return kept


# /start, /help ------------------------------------------------------------------------------


def welcome(lang: Lang) -> str:
    return _t(
        lang,
        "👋 你好！我每隔几小时推送一期 AI 资讯摘要。\n\n"
        "用 /subscribe 选择想看的分类，/categories 查看所有分类，/help 查看全部命令。",
        "👋 Hello! Every few hours I deliver a digest of AI news.\n\n"
        "Choose the categories you want with /subscribe, see them all with /categories, "
        "and every command with /help.",
    )


def help_text(lang: Lang, *, admin: bool = False) -> str:
    lines = [_t(lang, "<b>命令</b>", "<b>Commands</b>")]
    for command in COMMANDS:
        if command.admin and not admin:
            continue
        lines.append(f"/{command.name} — {esc(command.en if lang == 'en' else command.zh)}")
    lines.append("")
    lines.append(
        _t(
            lang,
            "分类可以写中文名、英文名或 slug，也可以只写一部分，例如 "
            "<code>/subscribe 工具</code>；用 <code>all</code> 表示全部分类。"
            "在群组里只有管理员可以更改订阅。",
            "Name a category by its Chinese name, English name or slug, or a unique part of "
            "one, e.g. <code>/subscribe tools</code>; <code>all</code> means every category. "
            "In a group only its admins change its subscriptions.",
        )
    )
    return "\n".join(lines)


def bad_start_link(lang: Lang) -> str:
    return _t(
        lang,
        "这个订阅链接无法识别。用 /categories 查看分类。",
        "I don't know that link. See /categories.",
    )


# Categories and subscriptions ----------------------------------------------------------------


def categories_list(
    lang: Lang, categories: Sequence[Category], subscribed: set[str], all_: bool = False
) -> str:
    if not categories:
        return _t(lang, "还没有任何分类。", "There are no categories yet.")
    head = _t(lang, "<b>分类</b>", "<b>Categories</b>")
    if all_:
        head += _t(lang, "（你已订阅全部分类）", " (you are subscribed to all of them)")
    hint = _t(
        lang,
        "订阅：<code>/subscribe 名称</code>，或不带参数发送 /subscribe 使用按钮。",
        "Subscribe with <code>/subscribe name</code>, or send /subscribe alone for buttons.",
    )
    return f"{head}\n{_bullets(categories, lang, subscribed)}\n\n{hint}"


def subscribed(lang: Lang, added: Sequence[Category], already: Sequence[Category]) -> str:
    parts = []
    if added:
        parts.append(_t(lang, "✅ 已订阅：", "✅ Subscribed to: ") + _names(added, lang))
    if already:
        parts.append(_t(lang, "已经订阅过：", "Already subscribed: ") + _names(already, lang))
    parts.append(_t(lang, "用 /mysubs 查看你的订阅。", "See your subscriptions with /mysubs."))
    return "\n".join(parts)


def subscribed_all(lang: Lang, already: bool) -> str:
    if already:
        return _t(lang, "你已经订阅了全部分类。", "You are already subscribed to every category.")
    return _t(
        lang,
        "✅ 已订阅全部分类，包括以后新增的分类。",
        "✅ Subscribed to every category, including those added later.",
    )


def unsubscribed(
    lang: Lang,
    removed: Sequence[Category],
    missing: Sequence[Category],
    expanded_from_all: bool = False,
) -> str:
    parts = []
    if expanded_from_all:
        parts.append(
            _t(
                lang,
                "你之前订阅了全部分类；现在改为订阅除下列分类以外的所有分类。",
                "You were subscribed to every category; now you are subscribed to all but these.",
            )
        )
    if removed:
        parts.append(_t(lang, "☑️ 已取消订阅：", "☑️ Unsubscribed from: ") + _names(removed, lang))
    if missing:
        parts.append(
            _t(lang, "本来就没有订阅：", "Not subscribed anyway: ") + _names(missing, lang)
        )
    return "\n".join(parts)


def unsubscribed_all(lang: Lang, count: int) -> str:
    if not count:
        return _t(lang, "你没有任何订阅。", "You have no subscriptions.")
    return _t(lang, "☑️ 已取消全部订阅。", "☑️ Unsubscribed from everything.")


def stopped(lang: Lang, count: int) -> str:
    if not count:
        return _t(
            lang,
            "你没有订阅，不会收到推送。随时可以用 /subscribe 订阅。",
            "You have no subscriptions, so nothing will be sent. /subscribe any time.",
        )
    return _t(
        lang,
        f"已取消全部订阅（{count} 项），不会再给你推送。随时可以用 /subscribe 重新订阅。",
        f"Unsubscribed from everything ({count}); nothing more will be sent. "
        "/subscribe again any time.",
    )


def my_subscriptions(lang: Lang, categories: Sequence[Category], all_: bool) -> str:
    if all_:
        return _t(
            lang,
            "你订阅了<b>全部分类</b>。用 /unsubscribe 取消。",
            "You are subscribed to <b>every category</b>. /unsubscribe to change that.",
        )
    if not categories:
        return _t(
            lang,
            "你还没有订阅任何分类。用 /subscribe 订阅。",
            "You have no subscriptions yet. Use /subscribe to choose categories.",
        )
    head = _t(lang, "<b>你的订阅</b>", "<b>Your subscriptions</b>")
    return f"{head}\n{_bullets(categories, lang)}"


def choose(lang: Lang) -> str:
    return _t(
        lang,
        "点按分类来订阅或取消订阅（✅ 表示已订阅）：",
        "Tap a category to subscribe or unsubscribe (✅ = subscribed):",
    )


def all_button(lang: Lang) -> str:
    return _t(lang, "全部分类", "All categories")


def done_button(lang: Lang) -> str:
    return _t(lang, "完成", "Done")


def pick_a_category(lang: Lang) -> str:
    """A callback answer (plain text): "done" pressed with no category chosen."""
    return _t(lang, "请至少选择一个分类。", "Choose at least one category.")


def item_gone(lang: Lang) -> str:
    """A callback answer (plain text): the item of a re-categorising button is no longer stored."""
    return _t(lang, "这个条目已不在存档中。", "That item is no longer in the archive.")


def admins_only_plain(lang: Lang) -> str:
    """A callback answer (plain text) to someone not in settings.telegram.admins."""
    return _t(lang, "只有管理员可以更正分类。", "Only the admins may re-categorise items.")


def toggled(lang: Lang, category: Category | None, on: bool) -> str:
    """The short answer to a button press (plain text: callback answers are not HTML)."""
    name = plain_name(category, lang) if category else all_button(lang)
    if on:
        return _t(lang, f"已订阅：{name}", f"Subscribed: {name}")
    return _t(lang, f"已取消：{name}", f"Unsubscribed: {name}")


# Bad input -------------------------------------------------------------------------------------


def unknown_categories(
    lang: Lang, words: Sequence[str], categories: Sequence[Category], unchanged: bool = False
) -> str:
    """`unchanged`: the command would have changed subscriptions, and changed none of them."""
    quoted = _t(lang, "、", ", ").join(f"<b>{esc(cut(w, 40))}</b>" for w in words)
    head = _t(lang, f"找不到分类：{quoted}", f"Unknown category: {quoted}")
    if unchanged:
        head += _t(lang, "\n没有做任何更改。", "\nNothing was changed.")
    if not categories:
        return head + _t(lang, "\n还没有任何分类。", "\nThere are no categories yet.")
    return (
        f"{head}\n\n{_t(lang, '可用的分类：', 'The categories are:')}\n{_bullets(categories, lang)}"
    )


def ambiguous(lang: Lang, word: str, candidates: Sequence[Category]) -> str:
    return _t(
        lang,
        f"“{esc(cut(word, 40))}”可以指多个分类：{_names(candidates, lang)}。请写得更具体一些。",
        f"“{esc(cut(word, 40))}” matches several categories: {_names(candidates, lang)}. "
        "Please be more specific.",
    )


def need_categories(lang: Lang, command: str) -> str:
    return _t(
        lang,
        f"请指定分类，例如 <code>/{command} AI工具</code>，或 <code>/{command} all</code>。"
        "用 /categories 查看所有分类。",
        f"Name one or more categories, e.g. <code>/{command} ai-tools</code>, or "
        f"<code>/{command} all</code>. See /categories.",
    )


def too_long(lang: Lang, limit: int) -> str:
    return _t(
        lang,
        f"参数太长了（最多 {limit} 个字符），没有做任何更改。",
        f"That is too long (at most {limit} characters); nothing was changed.",
    )


def too_many(lang: Lang, limit: int) -> str:
    return _t(
        lang,
        f"一次最多指定 {limit} 个分类，没有做任何更改。",
        f"Name at most {limit} categories at once; nothing was changed.",
    )


def not_admin(lang: Lang) -> str:
    return _t(
        lang,
        "在群组里只有管理员可以更改订阅。",
        "In a group only its admins can change its subscriptions.",
    )


def admins_only(lang: Lang) -> str:
    return _t(
        lang, "这个命令只供机器人管理员使用。", "This command is for the bot's administrators."
    )


def flooding(lang: Lang, seconds: float) -> str:
    wait = max(1, round(seconds))
    return _t(
        lang,
        f"你发送命令太快了，请 {wait} 秒后再试。",
        f"You are sending commands too fast; please try again in {wait} seconds.",
    )


def unknown_command(lang: Lang) -> str:
    return _t(
        lang, "我不认识这个命令。用 /help 查看所有命令。", "I don't know that command. See /help."
    )


def failed(lang: Lang) -> str:
    return _t(
        lang,
        "抱歉，出了点问题，请稍后再试。",
        "Sorry, something went wrong. Please try again later.",
    )


# /latest ---------------------------------------------------------------------------------------


def no_digest(lang: Lang) -> str:
    return _t(lang, "还没有任何摘要。", "There is no digest yet.")


def recent_title(lang: Lang) -> str:
    return _t(lang, "最近的条目", "Recent items")


def nothing_in(lang: Lang, categories: Sequence[Category]) -> str:
    return _t(
        lang,
        f"最近的摘要里没有 {_names(categories, lang)} 的内容。",
        f"The recent digests have nothing in {_names(categories, lang)}.",
    )


def latest(
    lang: Lang,
    title: str,
    entries: Sequence[Entry],
    categories: Sequence[Category] = (),
    more_url: str | None = None,
    limit: int = LATEST_ITEMS,
    budget: int = MAX_MESSAGE,
) -> str:
    """A compact digest: its title, then up to `limit` items as linked titles with authors; the
    whole at most `budget` characters as Telegram counts them."""
    return latest_listing(lang, title, entries, categories, more_url, limit, budget)[0]


def latest_listing(
    lang: Lang,
    title: str,
    entries: Sequence[Entry],
    categories: Sequence[Category] = (),
    more_url: str | None = None,
    limit: int = LATEST_ITEMS,
    budget: int = MAX_MESSAGE,
) -> tuple[str, int]:
    """`latest`'s text and how many items it lists (numbered 1 to that)."""
    head = f"<b>{esc(cut(title, 200))}</b>"
    if categories:
        head += f"\n{_t(lang, '分类：', 'Categories: ')}{_names(categories, lang)}"
    parts = [head, ""]
    used = parsed_length("\n".join(parts))
    shown = 0
    for entry in entries[:limit]:
        line = f"{shown + 1}. {_item_line(entry)}"
        cost = parsed_length(line) + 1
        if used + cost > budget - 200:  # room for the "more" line
            break
        parts.append(line)
        used += cost
        shown += 1
    rest = len(entries) - shown
    if rest > 0:
        more = _t(lang, f"…还有 {rest} 条", f"…and {rest} more")
        if more_url:
            more += f"：{esc(more_url)}" if lang == "zh" else f": {esc(more_url)}"
        parts.append(more)
    return "\n".join(parts).rstrip(), shown


def _item_line(entry: Entry) -> str:
    item = entry.item
    title = esc(cut(item.title, _TITLE_CHARS)) or "…"
    url = safe_url(item.url)
    text = f'<a href="{attr(url)}">{title}</a>' if url else title
    if item.author:
        text += f" — {esc(cut(item.author, 60))}"
    return text


# /search --------------------------------------------------------------------------------------

SEARCH_ITEMS = 10  # /search shows the newest this many matches


def search_usage(lang: Lang) -> str:
    return _t(
        lang,
        "用法：/search 关键词，例如 /search 模型。会列出含有它的最新十条。",
        "Usage: /search words, e.g. /search OpenAI. Lists the ten newest items holding them.",
    )


def search_too_long(lang: Lang, limit: int) -> str:
    return _t(
        lang,
        f"搜索词太长了（最多 {limit} 个字符）。",
        f"That is too long to search (at most {limit} characters).",
    )


def search_results(
    lang: Lang, query: str, found: Sequence[tuple[Entry, str | None]], page_url: str
) -> str:
    """The newest matches as linked titles (the item's link, else its digest page's anchor),
    then the search page with more."""
    shown = esc(cut(query, 100))
    if not found:
        return _t(lang, f"没有找到含有“{shown}”的条目。", f"Nothing found for “{shown}”.")
    head = _t(lang, f"<b>“{shown}”的最新结果</b>", f"<b>Newest results for “{shown}”</b>")
    lines = [head, ""]
    for number, (entry, link) in enumerate(found, 1):
        title = esc(cut(entry.item.title, _TITLE_CHARS)) or "…"
        url = safe_url(link)
        lines.append(
            f'{number}. <a href="{attr(url)}">{title}</a>' if url else f"{number}. {title}"
        )
    more = _t(lang, "更多：", "More: ")
    lines += ["", f"{more}{esc(page_url)}"]
    return "\n".join(lines)


# /feeds, /stats --------------------------------------------------------------------------------


def feeds(lang: Lang, site_url: str, categories: Sequence[Category]) -> str:
    base = site_url if site_url.endswith("/") else site_url + "/"
    lines = [
        _t(lang, "<b>订阅源</b>", "<b>Feeds</b>"),
        f"RSS: {esc(base)}rss.xml",
        f"Atom: {esc(base)}atom.xml",
        f"JSON Feed: {esc(base)}feed.json",
        f"OPML: {esc(base)}opml.xml",
    ]
    if categories:
        lines += ["", _t(lang, "<b>分类 RSS</b>", "<b>Per category (RSS)</b>")]
        lines += _capped(
            [f"• {show(c, lang)}: {esc(base)}c/{esc(c.slug)}/rss.xml" for c in categories], lang
        )
    lines += [
        "",
        _t(
            lang,
            "每个分类也有 atom.xml 和 feed.json。",
            "Each category also has atom.xml and feed.json.",
        ),
    ]
    return "\n".join(lines)


def stats(
    lang: Lang,
    subscribers: Mapping[str, int],
    deliveries: Mapping[str, int],
    chats: int,
    digests: int,
    items: int,
    names: Mapping[str, Category],
) -> str:
    lines = [
        _t(lang, "<b>统计</b>", "<b>Statistics</b>"),
        _t(lang, f"活跃聊天：{chats}", f"Active chats: {chats}"),
        _t(lang, f"摘要：{digests}，条目：{items}", f"Digests: {digests}, items: {items}"),
        "",
        _t(lang, "<b>按分类的订阅</b>", "<b>Subscribers per category</b>"),
    ]
    if not subscribers:
        lines.append(_t(lang, "（无）", "(none)"))
    counted = []
    for name, count in sorted(subscribers.items(), key=lambda kv: (-kv[1], kv[0])):
        if name == "*":
            shown = _t(lang, "全部分类", "all categories")
        elif name in names:
            shown = show(names[name], lang)
        else:
            shown = esc(cut(name, _NAME_CHARS))
        counted.append(f"• {shown}: {count}")
    lines += _capped(counted, lang)
    lines += ["", _t(lang, "<b>投递</b>", "<b>Deliveries</b>")]
    if not deliveries:
        lines.append(_t(lang, "（无）", "(none)"))
    for state, count in sorted(deliveries.items()):
        lines.append(f"• {esc(state)}: {count}")
    return "\n".join(lines)


def recategorise_usage(lang: Lang) -> str:
    return _t(
        lang,
        "用法：<code>/recategorise 条目 分类…</code>，条目是 /latest 中的序号或条目 id，"
        "例如 <code>/recategorise 3 AI工具 AI应用</code>。",
        "Usage: <code>/recategorise ITEM CATEGORY…</code>, ITEM being its number in /latest or "
        "its id, e.g. <code>/recategorise 3 ai-tools ai-applications</code>.",
    )


def no_such_item(lang: Lang, reference: str) -> str:
    shown = esc(cut(reference, 80))
    return _t(
        lang,
        f"找不到条目 {shown}：请用 /latest 中的序号或条目 id。",
        f"No item {shown}: use its number in /latest or its id.",
    )


def recategorised(lang: Lang, title: str, categories: Sequence[Category]) -> str:
    names = _names(categories, lang)
    shown = esc(cut(title, 120))
    return _t(
        lang,
        f"已更正：<b>{shown}</b> → {names}。订阅源已更新，之后的投递按新分类。",
        f"Corrected: <b>{shown}</b> → {names}. Feeds updated; deliveries from now on use it.",
    )


# Pause, quiet hours, schedule, time zone (#13) -----------------------------------------------

_USAGE = {
    "pause": (
        "用法：<code>/pause</code>（直到 /resume）或 <code>/pause 8h</code>、<code>3d</code>、"
        "<code>30m</code>（最长 365 天）。",
        "Usage: <code>/pause</code> (until /resume) or <code>/pause 8h</code>, <code>3d</code>, "
        "<code>30m</code> (at most 365 days).",
    ),
    "quiet": (
        "用法：<code>/quiet 23:00-08:00</code>（本地时间，期间的推送攒到结束时一并发送），"
        "<code>/quiet 23:00-08:00 silent</code>（照常发送但不响铃），<code>/quiet off</code>。",
        "Usage: <code>/quiet 23:00-08:00</code> (local time; what comes meanwhile is sent as one "
        "message when it ends), <code>/quiet 23:00-08:00 silent</code> (sent without sound "
        "instead), <code>/quiet off</code>.",
    ),
    "schedule": (
        "用法：<code>/schedule instant</code>（即时推送），或一到六个本地时间，如 "
        "<code>/schedule 08:00</code>、<code>/schedule 08:00 20:00</code>。",
        "Usage: <code>/schedule instant</code> (as it comes), or one to six local times, e.g. "
        "<code>/schedule 08:00</code>, <code>/schedule 08:00 20:00</code>.",
    ),
    "timezone": (
        "用法：<code>/timezone Europe/Berlin</code>，IANA 时区名（如 Asia/Shanghai、"
        "America/New_York、UTC）。",
        "Usage: <code>/timezone Europe/Berlin</code>, an IANA zone name (e.g. Asia/Shanghai, "
        "America/New_York, UTC).",
    ),
}


def timing_usage(lang: Lang, kind: str) -> str:
    """What a command of #13 accepts (after a bad argument: nothing changed)."""
    zh, en = _USAGE[kind]
    return _t(lang, "参数无效，设置未改变。", "Not accepted; nothing changed. ") + _t(lang, zh, en)


def settings_admins_only(lang: Lang) -> str:
    return _t(
        lang,
        "在群组里只有管理员可以更改设置。",
        "In a group only its admins can change its settings.",
    )


def paused(lang: Lang, until: str | None) -> str:
    if until is None:
        return _t(
            lang,
            "已暂停推送，订阅保留。用 /resume 恢复，届时可补看错过的条目。",
            "Deliveries paused; your subscriptions stay. /resume resumes them and offers what "
            "you missed.",
        )
    return _t(
        lang,
        f"已暂停推送至 {esc(until)}，订阅保留；到时自动恢复。"
        "暂停期间的条目不会逐条补发，用 /resume 可补看。",
        f"Deliveries paused until {esc(until)}; your subscriptions stay, and it ends by "
        "itself. Items published meanwhile are not sent later one by one: /resume offers them.",
    )


def not_paused(lang: Lang) -> str:
    return _t(lang, "推送没有暂停。", "Deliveries are not paused.")


def resumed(lang: Lang) -> str:
    return _t(
        lang, "已恢复推送。暂停期间没有错过新条目。", "Deliveries resumed. You missed nothing."
    )


def catch_up_title(lang: Lang, count: int) -> str:
    """The head of /resume's catch-up (plain text: `latest_listing` escapes it)."""
    return _t(
        lang,
        f"已恢复推送。暂停期间错过 {count} 条，最新的：",
        f"Deliveries resumed. You missed {count} item(s) while paused; the newest:",
    )


def quiet_set(lang: Lang, start: str, end: str, silent: bool) -> str:
    if silent:
        return _t(
            lang,
            f"免打扰：每天 {start}–{end}（本地时间）照常推送，但不响铃。",
            f"Quiet hours: {start}–{end} daily (local time); deliveries come without sound.",
        )
    return _t(
        lang,
        f"免打扰：每天 {start}–{end}（本地时间）暂存推送，结束时合成一条发送。",
        f"Quiet hours: {start}–{end} daily (local time); what comes meanwhile is sent as one "
        "message when they end.",
    )


def quiet_off(lang: Lang) -> str:
    return _t(
        lang,
        "免打扰已关闭；暂存的推送马上发送。",
        "Quiet hours off; anything held is sent now.",
    )


def schedule_set(lang: Lang, times: Sequence[str], zone: str) -> str:
    if not times:
        return _t(
            lang,
            "即时推送：新条目一到就发送；暂存的合集马上发送。",
            "Instant delivery: new items are sent as they come; anything held is sent now.",
        )
    shown = ", ".join(times)
    return _t(
        lang,
        f"定时推送：每天 {shown}（{esc(zone)}）把新条目合成一条发送。",
        f"Scheduled: one bundle of everything new daily at {shown} ({esc(zone)}).",
    )


def timezone_set(lang: Lang, zone: str, local_now: str) -> str:
    return _t(
        lang,
        f"时区：{esc(zone)}（当地现在 {esc(local_now)}）。免打扰和定时推送按此时区。",
        f"Time zone: {esc(zone)} (now {esc(local_now)} there). Quiet hours and the schedule "
        "use it.",
    )


def bundle_title(lang: Lang, digests: int) -> str:
    """The title of a bundle of held items from several digests."""
    return _t(lang, f"合集：{digests} 期摘要的新条目", f"Bundle: new items of {digests} digests")


# Channels connected by their admins (/connect, /channels), forum topics (/topic) -----------


def connect_usage(lang: Lang) -> str:
    return _t(
        lang,
        "连接频道：先把我加为频道管理员并允许“发布消息”，然后在这里发送 "
        "<code>/connect @频道用户名</code>（或转发一条该频道的消息给我）。",
        "To connect a channel: add me to it as an administrator allowed to post messages, then "
        "send <code>/connect @channelname</code> here (or forward me a post of the channel).",
    )


def connect_private_only(lang: Lang) -> str:
    return _t(
        lang,
        "请在与我的私聊中连接和管理频道。",
        "Connect and manage channels in a private chat with me.",
    )


def channel_not_found(lang: Lang, target: str) -> str:
    return _t(
        lang,
        f"找不到频道 {esc(cut(target, 80))}，或我还不是它的管理员。请先把我加为频道管理员。",
        f"I cannot find the channel {esc(cut(target, 80))}, or I am not one of its "
        "administrators yet. Add me as an administrator first.",
    )


def not_a_channel(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"「{esc(cut(title, 80))}」不是频道。群组请直接在群里发送 /subscribe。",
        f"“{esc(cut(title, 80))}” is not a channel. In a group, send /subscribe there.",
    )


def not_channel_admin(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"⛔ 你不是频道「{esc(cut(title, 80))}」的管理员，不能管理它。",
        f"⛔ You are not an administrator of the channel “{esc(cut(title, 80))}”, "
        "so you cannot manage it.",
    )


def not_channel_admin_plain(lang: Lang) -> str:
    return _t(
        lang, "⛔ 只有该频道的管理员可以管理它。", "⛔ Only the channel's admins may manage it."
    )


def bot_not_admin(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"我还不是频道「{esc(cut(title, 80))}」的管理员。"
        "请把我加为管理员并允许“发布消息”，再发一次 /connect。",
        f"I am not an administrator of “{esc(cut(title, 80))}”. Make me an administrator "
        "allowed to post messages, then send /connect again.",
    )


def bot_cannot_post(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"我是频道「{esc(cut(title, 80))}」的管理员，但没有“发布消息”的权限。"
        "请打开这项权限，再发一次 /connect。",
        f"I am an administrator of “{esc(cut(title, 80))}” but may not post messages. Turn "
        "that right on, then send /connect again.",
    )


def configured_channel(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"频道「{esc(cut(title, 80))}」由运营者在配置文件中管理，这里不能更改。",
        f"The channel “{esc(cut(title, 80))}” is managed by the operator in the settings file "
        "and cannot be changed here.",
    )


def connected(lang: Lang, title: str, fresh: bool) -> str:
    name = esc(cut(title, 80))
    if fresh:
        return _t(
            lang,
            f"✅ 已连接频道「{name}」，它将收到全部分类。"
            "用下面的按钮选择分类，或随时发 /channels。",
            f"✅ Connected “{name}”: it receives every category. Choose its categories with the "
            "buttons below, or send /channels any time.",
        )
    return _t(
        lang,
        f"频道「{name}」已经连接，你现在也可以管理它（/channels）。",
        f"“{name}” is connected already; you can now manage it too (/channels).",
    )


def channels_list(
    lang: Lang,
    managed: Sequence[tuple[str, bool, Sequence[Category], bool]],
    configured: Sequence[str],
) -> str:
    """/channels: (title, active, categories, all) per channel the user manages, and the
    channels of the settings file (shown to the operator's admins)."""
    if not managed and not configured:
        return _t(
            lang,
            "你还没有连接任何频道。\n\n",
            "You have not connected any channel yet.\n\n",
        ) + connect_usage(lang)
    lines = [_t(lang, "<b>你管理的频道</b>", "<b>Channels you manage</b>")]
    for title, active, categories, all_ in managed:
        what = _t(lang, "全部分类", "every category") if all_ else _names(categories, lang)
        if not all_ and not categories:
            what = _t(lang, "不接收任何分类", "no category")
        state = (
            "" if active else _t(lang, "（已停止：请重新 /connect）", " (stopped: /connect again)")
        )
        lines.append(f"• {esc(cut(title, 80))}{state}: {what}")
    for name in configured:
        lines.append(
            f"• {esc(cut(name, 80))}: "
            + _t(lang, "由运营者管理（配置文件）", "managed by the operator (settings file)")
        )
    return "\n".join(_capped(lines, lang))


def channel_categories(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"频道「{esc(cut(title, 80))}」的分类（点击切换）：",
        f"Categories of “{esc(cut(title, 80))}” (tap to toggle):",
    )


def categories_button(lang: Lang, title: str) -> str:
    return _t(lang, "分类：", "Categories: ") + cut(title, 30)


def disconnect_button(lang: Lang) -> str:
    return _t(lang, "断开", "Disconnect")


def disconnected(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"已断开频道「{esc(cut(title, 80))}」：不会再向它推送。",
        f"Disconnected “{esc(cut(title, 80))}”: nothing more is sent there.",
    )


def channel_stopped_plain(lang: Lang) -> str:
    return _t(
        lang,
        "这个频道的推送已停止，请先重新 /connect。",
        "Deliveries to this channel are stopped: /connect it again first.",
    )


def channel_lost(lang: Lang, title: str, removed: bool) -> str:
    name = esc(cut(title, 80))
    if removed:
        return _t(
            lang,
            f"⚠️ 我已被移出频道「{name}」，推送已停止。把我加回管理员后发送 /connect 即可恢复。",
            f"⚠️ I was removed from the channel “{name}”: deliveries there have stopped. Add me "
            "back as an administrator and send /connect to resume.",
        )
    return _t(
        lang,
        f"⚠️ 我在频道「{name}」失去了发布消息的权限，推送已停止。恢复权限后发送 /connect 即可恢复。",
        f"⚠️ I may no longer post in the channel “{name}”: deliveries there have stopped. Give "
        "the right back and send /connect to resume.",
    )


def channel_back(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"我又可以在频道「{esc(cut(title, 80))}」发布了。发送 /connect 恢复推送。",
        f"I may post in “{esc(cut(title, 80))}” again. Send /connect to resume deliveries there.",
    )


def topic_not_forum(lang: Lang) -> str:
    return _t(
        lang,
        "/topic 只能在开启了话题的超级群组中使用。",
        "/topic works only in supergroups with topics turned on.",
    )


def topic_usage(lang: Lang) -> str:
    return _t(
        lang,
        "在话题中发送 <code>/topic AI工具 AI应用</code>，这些分类就推送到该话题；"
        "<code>/topic</code> 查看它接收什么，<code>/topic off</code> 解除绑定；"
        "<code>/topic general off</code> 让未绑定的分类不再发到 General。",
        "Inside a topic, send <code>/topic ai-tools ai-applications</code> and those categories "
        "go to that topic; <code>/topic</code> shows what it receives, <code>/topic off</code> "
        "unbinds it; <code>/topic general off</code> stops unbound categories going to General.",
    )


def topic_inside_only(lang: Lang) -> str:
    return _t(
        lang,
        "请在要接收这些分类的话题里发送这条命令。",
        "Send this inside the topic that is to receive those categories.",
    )


def topic_need_categories(lang: Lang) -> str:
    return _t(
        lang,
        "请指定分类，例如 <code>/topic AI工具</code>（话题不能绑定“全部”）。",
        "Name categories, e.g. <code>/topic ai-tools</code> (a topic cannot take “all”).",
    )


def _topic_name(title: str | None, thread_id: int) -> str:
    return esc(cut(title, 60)) if title else f"#{thread_id}"


def topic_bound(
    lang: Lang, categories: Sequence[Category], moved: Sequence[tuple[str, Category]]
) -> str:
    text = _t(
        lang,
        f"✅ 这个话题将接收：{_names(categories, lang)}。",
        f"✅ This topic receives: {_names(categories, lang)}.",
    )
    if moved:
        shown = _t(lang, "、", ", ").join(f"{show(c, lang)} ({esc(t)})" for t, c in moved)
        text += _t(
            lang,
            f"\n（已从其他话题移到这里：{shown}）",
            f"\n(Moved here from other topics: {shown})",
        )
    return text


def topic_unbound(lang: Lang, had: Sequence[Category]) -> str:
    if not had:
        return _t(lang, "这个话题本来就没有绑定分类。", "This topic had no categories bound.")
    return _t(
        lang,
        f"已解除绑定：{_names(had, lang)} 将发到 General。",
        f"Unbound: {_names(had, lang)} go to General again.",
    )


def topic_layout(
    lang: Lang,
    topics: Sequence[tuple[str | None, int, Sequence[Category], bool]],
    general: bool,
    here: int | None,
) -> str:
    """/topic: what each topic receives ((title, thread, categories, broken)), and General."""
    lines = [_t(lang, "<b>话题与分类</b>", "<b>Topics and categories</b>")]
    if here is not None and not any(thread == here for _, thread, _, _ in topics):
        lines.append(_t(lang, "这个话题：未绑定分类。", "This topic: no categories bound."))
    for title, thread, categories, broken in topics:
        mark = " ⬅️" if thread == here else ""
        state = (
            _t(
                lang,
                " ⚠️ 已失效（话题已关闭或删除，条目改发 General）",
                " ⚠️ broken (topic closed or deleted; its items go to General)",
            )
            if broken
            else ""
        )
        lines.append(f"• {_topic_name(title, thread)}{mark}: {_names(categories, lang)}{state}")
    lines.append(
        _t(
            lang,
            "• General：本群订阅（/mysubs）中其余的分类",
            "• General: the group's other subscribed categories (/mysubs)",
        )
        if general
        else _t(
            lang,
            "• General：关闭（未绑定的分类不推送）",
            "• General: off (unbound categories are not sent)",
        )
    )
    return "\n".join(_capped(lines, lang))


def general_switched(lang: Lang, on: bool) -> str:
    if on:
        return _t(
            lang, "未绑定话题的分类将发到 General。", "Categories bound to no topic go to General."
        )
    return _t(
        lang,
        "未绑定话题的分类不再推送到本群（General 关闭）。",
        "Categories bound to no topic are no longer sent here (General is off).",
    )


def topic_note(title: str | None, thread_id: int) -> str:
    """Posted in General when a bound topic turned out closed or deleted (both languages: a
    group has no language of its own)."""
    name = _topic_name(title, thread_id)
    return (
        f"⚠️ 话题 {name} 已关闭或被删除，它的条目改发到这里。"
        "管理员可在话题中重新发送 /topic，或发送 /topic 查看。\n"
        f"⚠️ The topic {name} is closed or deleted; its items are posted here instead. Admins: "
        "bind a topic again with /topic inside it, or send /topic to see the layout."
    )


def settings_button(lang: Lang) -> str:
    return _t(lang, "设置", "Settings")


def channel_settings(lang: Lang, title: str) -> str:
    return _t(
        lang,
        f"频道「{esc(cut(title, 80))}」的设置（点击切换）：",
        f"Settings of “{esc(cut(title, 80))}” (tap to toggle):",
    )


def channel_setting_label(lang: Lang, name: str) -> str:
    labels = {
        "pause": ("暂停推送", "Pause deliveries"),
        "silent": ("静音推送", "Deliver silently"),
        "compact": ("精简格式", "Compact format"),
    }
    zh, en = labels[name]
    return _t(lang, zh, en)
