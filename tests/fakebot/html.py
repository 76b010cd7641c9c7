"""Telegram's HTML parse mode, as the fake Bot API applies it to sendMessage and editMessageText.

`parse_html(text)` turns a message written in Telegram's HTML dialect into the plain text a user
sees and the entities (bold, links, ...) Telegram would report back, with UTF-16 offsets. What it
refuses it refuses with Telegram's own reason and byte offset (TDLib's `parse_html` wording), so
a test can assert on the message a real bot would log.

Two modes:
- `strict=False` is Telegram exactly: a `&` that starts no known entity (`AT&T`, `&nbsp;`) stays
  literal text, a link inside a link is accepted.
- `strict=True` (the fake server's default) additionally refuses those, because each one means
  the sender forgot to escape something or built markup Telegram would quietly mangle. Real
  Telegram accepts them, so those reasons are this module's own words, in Telegram's style.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["EntityParseError", "ParsedText", "parse_html", "utf16_len"]

# Tags TDLib accepts; anything else is "Unsupported start tag".
_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
        "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
_NAMED = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
# TDLib's is_space counts NUL too: it reads a C string, where the end of the text is NUL.
_SPACE = frozenset(b" \t\r\n\v\f\0")
# Plain text between markup: copied a run at a time, not byte by byte (most of a message)
_PLAIN = re.compile(rb"[^&<]+")
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that start no character
_BELOW_F0 = bytes(range(0xF0))  # deleting these leaves the leads of 4-byte characters


class EntityParseError(ValueError):
    """HTML Telegram would refuse; str() is the reason after "can't parse entities: "."""


@dataclass(frozen=True)
class ParsedText:
    """The text a user sees and its entities as Bot API dicts (UTF-16 offset and length)."""

    text: str
    entities: list[dict] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what Telegram's offsets (and our length budget) count."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _is_alpha(c: int) -> bool:
    return 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _is_digit(c: int) -> bool:
    return 0x30 <= c <= 0x39


def _is_hex(c: int) -> bool:
    return _is_digit(c) or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66


class _Parser:
    """A port of TDLib's byte-wise loop: offsets in errors are UTF-8 byte offsets of the input."""

    def __init__(self, text: str, strict: bool) -> None:
        self.src = text.encode("utf-8", "surrogatepass")
        self.strict = strict
        self.out = bytearray()
        self.utf16 = 0
        self.entities: list[dict] = []
        # Open tags: (tag, argument, utf16 offset, position in out, byte offset of the tag).
        self.stack: list[tuple[str, str, int, int, int]] = []

    def at(self, i: int) -> int:
        # Past the end reads as NUL, as in the C string TDLib walks.
        return self.src[i] if i < len(self.src) else 0

    def entity(self, pos: int) -> tuple[int, int]:
        """Decode an entity at `pos` ('&'): (code point or 0 if none, position after it)."""
        end = pos + 1
        code = 0
        if self.at(pos + 1) == ord("#"):
            end += 1
            if self.at(pos + 2) == ord("x"):
                end += 1
                while _is_hex(self.at(end)):
                    code = code * 16 + int(chr(self.at(end)), 16)
                    end += 1
            else:
                while _is_digit(self.at(end)):
                    code = code * 10 + self.at(end) - 0x30
                    end += 1
            if code == 0 or code >= 0x10FFFF or end - pos >= 10:
                return 0, pos
        else:
            while _is_alpha(self.at(end)):
                end += 1
            name = bytes(self.src[pos + 1 : end])
            if name not in _NAMED:
                return 0, pos
            code = ord(_NAMED[name])
        if self.at(end) == ord(";"):
            return code, end + 1
        if self.strict:
            # Telegram decodes "&lt" without ';', but in real text that is nearly always an
            # unescaped '&' that happens to be followed by letters.
            return 0, pos
        return code, end

    def run(self) -> ParsedText:
        i = 0
        n = len(self.src)
        surrogate = False
        while i < n:
            c = self.src[i]
            if c == ord("&"):
                code, after = self.entity(i)
                if code:
                    surrogate |= 0xD800 <= code <= 0xDFFF
                    self.utf16 += 2 if code > 0xFFFF else 1
                    self.out += chr(code).encode("utf-8", "surrogatepass")
                    i = after
                    continue
                if self.strict:
                    self._refuse_ampersand(i)
            if c == ord("&"):  # a '&' that starts no entity (not strict): literal text
                self.utf16 += 1
                self.out.append(c)
                i += 1
                continue
            if c != ord("<"):
                # UTF-16 units: one per lead byte, two for a 4-byte sequence (a surrogate pair)
                run = _PLAIN.match(self.src, i)
                assert run is not None
                chunk = run.group()
                leads = len(chunk.translate(None, _CONTINUATION))
                self.utf16 += leads + len(chunk.translate(None, _BELOW_F0))
                self.out += chunk
                i = run.end()
                continue
            i = self._end_tag(i) if self.at(i + 1) == ord("/") else self._start_tag(i)
        if self.stack:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1][0]}"'
            )
        if surrogate:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        # A language belongs to pre only; a lone <code class="language-x"> is plain code.
        for ent in self.entities:
            if ent["type"] == "code":
                ent.pop("language", None)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return ParsedText(self.out.decode("utf-8", "surrogatepass"), self.entities)

    def _refuse_ampersand(self, i: int) -> None:
        end = i + 1
        if self.at(end) == ord("#"):
            end += 1
            while _is_hex(self.at(end)) or self.at(end) == ord("x"):
                end += 1
        else:
            while _is_alpha(self.at(end)):
                end += 1
        if end == i + 1:
            raise EntityParseError(f'Character "&" must be escaped as "&amp;" at byte offset {i}')
        ref = self.src[i:end].decode("ascii", "replace")
        if self.at(end) != ord(";") and (ref[1:].encode() in _NAMED or ref[1:2] == "#"):
            raise EntityParseError(f'HTML entity "{ref}" must end with ";" at byte offset {i}')
        if self.at(end) == ord(";"):
            ref += ";"
        raise EntityParseError(
            f'Unsupported HTML entity "{ref}" at byte offset {i}: only &lt; &gt; &amp; &quot; '
            "and numeric entities are allowed"
        )

    def _start_tag(self, begin: int) -> int:
        i = begin + 1
        while self.at(i) not in _SPACE and self.at(i) != ord(">"):
            i += 1
        if self.at(i) == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        tag = self.src[begin + 1 : i].decode("utf-8", "replace").lower()
        if tag not in _TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
        argument = ""
        while self.at(i) != ord(">"):
            while self.at(i) != 0 and self.at(i) in _SPACE:
                i += 1
            if self.at(i) == ord(">"):
                break
            attr_begin = i
            while self.at(i) not in _SPACE and self.at(i) not in b"=>/\"'":
                i += 1
            attr = self.src[attr_begin:i].decode("utf-8", "replace")
            if not attr:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                )
            while self.at(i) != 0 and self.at(i) in _SPACE:
                i += 1
            if self.at(i) != ord("="):
                if self.at(i) == 0:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                # A bare attribute: only <blockquote expandable> means something.
                if tag == "blockquote" and attr == "expandable":
                    argument = "1"
                continue
            i += 1
            while self.at(i) != 0 and self.at(i) in _SPACE:
                i += 1
            if self.at(i) == 0:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            value, i = self._attribute_value(i)
            if self.at(i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            if (tag, attr) in {("a", "href"), ("tg-emoji", "emoji-id")}:
                argument = value
            elif tag == "code" and attr == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif tag == "span" and attr == "class" and value.startswith("tg-"):
                argument = value[len("tg-") :]
            elif tag == "blockquote" and attr == "expandable":
                argument = "1"
        if tag == "span" and argument != "spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
            )
        if self.strict:
            self._check_nesting(tag, begin)
        self.stack.append((tag, argument, self.utf16, len(self.out), begin))
        return i + 1

    def _check_nesting(self, tag: str, begin: int) -> None:
        # Telegram accepts these and then drops or flattens entities; the strict fake refuses so
        # that a renderer producing them is caught.
        open_tags = {t for t, *_ in self.stack}
        if tag == "a" and "a" in open_tags:
            raise EntityParseError(f"Nested links are not allowed at byte offset {begin}")
        if tag == "blockquote" and "blockquote" in open_tags:
            raise EntityParseError(f"Nested blockquotes are not allowed at byte offset {begin}")

    def _attribute_value(self, i: int) -> tuple[str, int]:
        quote = self.at(i)
        if quote not in (ord("'"), ord('"')):
            # An unquoted name token: letters, digits, '.' and '-', case-insensitive.
            start = i
            while (
                _is_alpha(self.at(i)) or _is_digit(self.at(i)) or self.at(i) in (ord("."), ord("-"))
            ):
                i += 1
            if self.at(i) not in _SPACE and self.at(i) != ord(">"):
                raise EntityParseError(f"Unexpected end of name token at byte offset {start}")
            return self.src[start:i].decode("ascii").lower(), i
        i += 1
        value = bytearray()
        while self.at(i) != quote and self.at(i) != 0:
            if self.at(i) == ord("&"):
                code, after = self.entity(i)
                if code:
                    value += chr(code).encode("utf-8", "surrogatepass")
                    i = after
                    continue
                if self.strict:
                    self._refuse_ampersand(i)
            value.append(self.at(i))
            i += 1
        if self.at(i) == quote:
            i += 1
        return value.decode("utf-8", "replace"), i

    def _end_tag(self, begin: int) -> int:
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        i = begin + 2
        while self.at(i) not in _SPACE and self.at(i) != ord(">"):
            i += 1
        end_name = self.src[begin + 2 : i].decode("utf-8", "replace").lower()
        while self.at(i) != 0 and self.at(i) in _SPACE:
            i += 1
        if self.at(i) != ord(">"):
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, out_pos, _ = self.stack[-1]
        if end_name and end_name != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                f'found "</{end_name}>"'
            )
        if self.utf16 > offset:
            self._add_entity(tag, argument, offset, self.utf16 - offset, out_pos)
        self.stack.pop()
        return i + 1

    def _add_entity(self, tag: str, argument: str, offset: int, length: int, out_pos: int) -> None:
        simple = {
            "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
            "u": "underline", "ins": "underline",
            "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
            "tg-spoiler": "spoiler", "span": "spoiler",
        }  # fmt: skip
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and last["offset"] == offset and last["length"] == length
        ent: dict = {"offset": offset, "length": length}
        if tag in simple:
            ent["type"] = simple[tag]
        elif tag == "tg-emoji":
            if not argument.isascii() or not argument.isdigit() or int(argument) <= 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            ent.update(type="custom_emoji", custom_emoji_id=argument)
        elif tag == "a":
            # <a> without href links its own text, as Telegram does.
            url = argument or self.out[out_pos:].decode("utf-8", "replace")
            if not url:
                return
            ent.update(type="text_link", url=url)
        elif tag == "pre":
            if same_span and last["type"] == "code" and last.get("language"):
                last["type"] = "pre"
                return
            ent["type"] = "pre"
        elif tag == "code":
            if same_span and last["type"] == "pre" and argument:
                last["language"] = argument
                return
            ent["type"] = "code"
            if argument:
                ent["language"] = argument
        elif tag == "blockquote":
            ent["type"] = "expandable_blockquote" if argument else "blockquote"
        self.entities.append(ent)


def parse_html(text: str, *, strict: bool = True) -> ParsedText:
    """Parse Telegram HTML into plain text and entities; EntityParseError if Telegram refuses."""
    return _Parser(text, strict).run()
