"""The texts of a reader's settings (#13): the /settings message and its buttons, the replies
of /lang, /format, /preview, /silent, /filter and of /stop's confirmation, in Chinese and English.

Like `bot.commands.texts`: Telegram HTML with everything a user supplied escaped; button labels
and callback answers are plain text (Telegram shows them as they are)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.texts import Lang, cut
from bot.dispatching.filtering import MAX_WORD_LENGTH, MAX_WORDS
from bot.sanitizer import escape_text as esc
from bot.storing.chat_settings import ChatSettings

_WORDS_IN_BUTTON = 36  # characters of the filter's words shown on its button


def _t(lang: Lang, zh: str, en: str) -> str:
    return en if lang == "en" else zh


def mark(on: bool, label: str) -> str:
    """A button label, ✅ in front when it is the current choice."""
    return f"✅ {label}" if on else label


# /settings --------------------------------------------------------------------------------------


def menu(lang: Lang) -> str:
    return _t(
        lang,
        "⚙️ <b>设置</b>\n点按按钮即可更改（✅ 表示当前设置）。每一项也有命令："
        "/lang /format /preview /silent /filter",
        "⚙️ <b>Settings</b>\nTap a button to change a setting (✅ = current). Each one also "
        "has its command: /lang /format /preview /silent /filter",
    )


def language_name(code: str) -> str:
    return "English" if code == "en" else "中文"


def format_label(lang: Lang, compact: bool) -> str:
    if compact:
        return _t(lang, "📋 简洁（仅标题）", "📋 Compact (titles)")
    return _t(lang, "📰 完整", "📰 Full")


def preview_label(lang: Lang, on: bool) -> str:
    if on:
        return _t(lang, "🔗 链接预览：开", "🔗 Previews on")
    return _t(lang, "🔗 链接预览：关", "🔗 Previews off")


def silent_label(lang: Lang, silent: bool) -> str:
    if silent:
        return _t(lang, "🔕 静音推送", "🔕 Silent")
    return _t(lang, "🔔 有提示音", "🔔 With sound")


def words_shown(settings: ChatSettings) -> str:
    """The filter as one line of plain text: `+OpenAI −融资` (empty without words)."""
    words = [f"+{w}" for w in settings.include_words]
    words += [f"−{w}" for w in settings.exclude_words]
    return " ".join(words)


def filter_label(lang: Lang, settings: ChatSettings) -> str:
    shown = words_shown(settings)
    if not shown:
        return _t(lang, "🔎 关键词过滤：无", "🔎 Keyword filter: none")
    return _t(lang, "🔎 关键词：", "🔎 Keywords: ") + cut(shown, _WORDS_IN_BUTTON)


def pause_label(lang: Lang, paused: bool, until: str | None) -> str:
    if not paused:
        return _t(lang, "⏸ 暂停：否", "⏸ Paused: no")
    if until:
        return _t(lang, f"⏸ 暂停至 {until}", f"⏸ Paused until {until}")
    return _t(lang, "⏸ 已暂停（/resume 恢复）", "⏸ Paused (/resume)")


def quiet_label(lang: Lang, start: str | None, end: str | None) -> str:
    if not start or not end:
        return _t(lang, "🌙 免打扰：关", "🌙 Quiet hours: off")
    return _t(lang, f"🌙 免打扰 {start}–{end}", f"🌙 Quiet {start}–{end}")


def schedule_label(lang: Lang, times: Sequence[str]) -> str:
    if not times:
        return _t(lang, "🕒 推送：即时", "🕒 Delivery: instant")
    return _t(lang, "🕒 定时推送 ", "🕒 Bundles at ") + ", ".join(times)


def timezone_label(lang: Lang, zone: str) -> str:
    return _t(lang, f"🌍 时区：{zone}", f"🌍 Time zone: {zone}")


def saved(lang: Lang) -> str:
    """A callback answer (plain text) after a button changed a setting."""
    return _t(lang, "已保存", "Saved")


def filter_explained(lang: Lang) -> str:
    """A callback alert (plain text, at most 200 characters)."""
    return _t(
        lang,
        "用 /filter +OpenAI -融资 设置关键词：有 + 词时只推送含其中之一的条目，"
        "含 - 词的条目不推送。/filter 查看，/filter clear 清除。",
        "Use /filter +OpenAI -funding: with + words only items holding one of them are sent; "
        "items holding a - word never are. /filter lists, /filter clear removes.",
    )


def info(lang: Lang, setting: str) -> str:
    """A callback alert (plain text) for a row that shows a setting changed by its command."""
    answers = {
        "pause": ("用 /pause 8h 暂停推送，/resume 恢复。", "Use /pause 8h to pause, /resume."),
        "quiet": ("用 /quiet 23:00-08:00 设置免打扰。", "Use /quiet 23:00-08:00."),
        "schedule": (
            "用 /schedule 08:00 定时推送，/schedule instant 即时推送。",
            "Use /schedule 08:00 for bundles, /schedule instant for instant delivery.",
        ),
        "timezone": ("用 /timezone Asia/Shanghai 设置时区。", "Use /timezone Europe/Berlin."),
    }
    zh, en = answers.get(setting, ("用 /help 查看命令。", "See /help."))
    return _t(lang, zh, en)


def not_admin(lang: Lang) -> str:
    return _t(
        lang,
        "在群组里只有管理员可以更改设置。",
        "In a group only its admins can change its settings.",
    )


# /lang, /format, /preview, /silent --------------------------------------------------------------


def language_set(lang: Lang, automatic: bool) -> str:
    if automatic:
        return _t(
            lang,
            "好的，语言跟随 Telegram 的设置。",
            "OK: the language follows your Telegram language.",
        )
    return _t(
        lang,
        "好的，之后的回复和推送都使用中文。",
        "OK: replies and deliveries are in English from now on.",
    )


def language_usage(lang: Lang) -> str:
    return _t(
        lang,
        "用法：<code>/lang zh</code> 或 <code>/lang en</code>（<code>/lang auto</code> "
        "跟随 Telegram）。没有做任何更改。",
        "Usage: <code>/lang en</code> or <code>/lang zh</code> (<code>/lang auto</code>: "
        "your Telegram language). Nothing was changed.",
    )


def format_set(lang: Lang, compact: bool) -> str:
    if compact:
        return _t(
            lang,
            "好的，之后的推送只列出带链接的标题。",
            "OK: deliveries list numbered linked titles only from now on.",
        )
    return _t(
        lang,
        "好的，之后的推送包含标题和摘要。",
        "OK: deliveries carry titles and summaries from now on.",
    )


def format_usage(lang: Lang) -> str:
    return _t(
        lang,
        "用法：<code>/format full</code>（标题和摘要）或 <code>/format compact</code>"
        "（只有标题）。没有做任何更改。",
        "Usage: <code>/format full</code> (titles and summaries) or "
        "<code>/format compact</code> (titles only). Nothing was changed.",
    )


def preview_set(lang: Lang, on: bool) -> str:
    if on:
        return _t(lang, "好的，推送会显示链接预览。", "OK: deliveries show link previews.")
    return _t(lang, "好的，推送不显示链接预览。", "OK: deliveries show no link previews.")


def preview_usage(lang: Lang) -> str:
    return _t(
        lang,
        "用法：<code>/preview on</code> 或 <code>/preview off</code>。没有做任何更改。",
        "Usage: <code>/preview on</code> or <code>/preview off</code>. Nothing was changed.",
    )


def silent_set(lang: Lang, silent: bool) -> str:
    if silent:
        return _t(lang, "好的，之后的推送都没有提示音。", "OK: every delivery comes silently.")
    return _t(lang, "好的，之后的推送会有提示音。", "OK: deliveries come with sound.")


def silent_usage(lang: Lang) -> str:
    return _t(
        lang,
        "用法：<code>/silent on</code>（静音推送）或 <code>/silent off</code>。没有做任何更改。",
        "Usage: <code>/silent on</code> (deliveries without sound) or "
        "<code>/silent off</code>. Nothing was changed.",
    )


# /filter ----------------------------------------------------------------------------------------


def filter_list(lang: Lang, settings: ChatSettings) -> str:
    include, exclude = settings.include_words, settings.exclude_words
    if not include and not exclude:
        return _t(
            lang,
            "没有关键词过滤。用法：<code>/filter +OpenAI +Anthropic -融资</code>"
            "（+ 必须包含其中之一，- 不要包含），<code>/filter clear</code> 清除。",
            "No keyword filter. Usage: <code>/filter +OpenAI +Anthropic -funding</code> "
            "(+ must hold one of them, - must not hold), <code>/filter clear</code> removes it.",
        )
    lines = [_t(lang, "<b>关键词过滤</b>", "<b>Keyword filter</b>")]
    if include:
        head = _t(lang, "必须包含其中之一：", "Must hold one of: ")
        lines.append(head + ", ".join(f"<code>{esc(w)}</code>" for w in include))
    if exclude:
        head = _t(lang, "不推送含有：", "Never sent when holding: ")
        lines.append(head + ", ".join(f"<code>{esc(w)}</code>" for w in exclude))
    lines.append(
        _t(
            lang,
            "按字面匹配标题和摘要，不区分大小写和全角半角。<code>/filter clear</code> 清除。",
            "Matched literally in titles and summaries, whatever the case or width. "
            "<code>/filter clear</code> removes it.",
        )
    )
    return "\n".join(lines)


def filter_cleared(lang: Lang) -> str:
    return _t(lang, "已清除关键词过滤。", "Keyword filter removed.")


def filter_refused(lang: Lang, problem: str, word: str = "") -> str:
    """`problem`: "empty" (a bare + or -), "long" (a word over the limit), "many" (over the
    number of words)."""
    shown = esc(cut(word, 20))
    if problem == "empty":
        why = _t(lang, "+ 或 - 后面要写一个词。", "A + or - needs a word right after it.")
    elif problem == "long":
        why = _t(
            lang,
            f"“{shown}”太长了：每个词最多 {MAX_WORD_LENGTH} 个字符。",
            f"“{shown}” is too long: at most {MAX_WORD_LENGTH} characters a word.",
        )
    else:
        why = _t(
            lang,
            f"最多 {MAX_WORDS} 个关键词。",
            f"At most {MAX_WORDS} words in all.",
        )
    usage = _t(
        lang,
        "用法：<code>/filter +OpenAI +Anthropic -融资 -招聘</code>。没有做任何更改。",
        "Usage: <code>/filter +OpenAI +Anthropic -funding</code>. Nothing was changed.",
    )
    return f"{why}\n{usage}"


# /stop ------------------------------------------------------------------------------------------


def stop_confirm(lang: Lang) -> str:
    return _t(
        lang,
        "确定要取消<b>全部</b>订阅吗？只是想暂时不收推送的话，可以用 /pause，订阅会保留。",
        "Unsubscribe from <b>everything</b>? To stop deliveries for a while and keep your "
        "subscriptions, use /pause instead.",
    )


def stop_yes(lang: Lang) -> str:
    return _t(lang, "确定，全部取消", "Yes, unsubscribe")


def stop_no(lang: Lang) -> str:
    return _t(lang, "算了", "No, keep them")


def stop_kept(lang: Lang) -> str:
    return _t(lang, "好的，订阅保持不变。", "OK, your subscriptions are kept.")


def unsubscribe_choose(lang: Lang) -> str:
    return _t(
        lang,
        "点按分类来取消或恢复订阅（✅ 表示已订阅），或写 <code>/unsubscribe 名称</code>：",
        "Tap a category to unsubscribe or subscribe again (✅ = subscribed), or write "
        "<code>/unsubscribe name</code>:",
    )


def newest_head(lang: Lang) -> str:
    return _t(lang, "<b>这些分类最新的条目：</b>", "<b>The newest items there:</b>")
