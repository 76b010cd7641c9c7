"""Keyword filters: literal, normalised, include-one-of and exclude-any."""

from bot.dispatching.filtering import admits, normal


def test_includes_need_one_word_and_excludes_veto() -> None:
    include, exclude = (normal("OpenAI"), normal("Anthropic")), (normal("融资"),)
    assert admits(include, exclude, "ＯｐｅｎＡＩ 发布新模型", "")  # full-width letters, any case
    assert admits(include, exclude, "Claude", "anthropic ships")
    assert not admits(include, exclude, "OpenAI 完成融资", "")
    assert not admits(include, exclude, "谷歌发布 Gemini", "")
    assert admits((), exclude, "谷歌发布 Gemini", "")
    assert not admits((), exclude, "谷歌", "获得新一轮融资")


def test_words_are_literal_not_patterns() -> None:
    assert not admits(("a.*b",), (), "a then b", "")
    assert admits(("a.*b",), (), "regex a.*b literal", "")
    assert admits(("(a+)+$",), (), "x" * 10_000 + "(a+)+$", "")  # no backtracking
