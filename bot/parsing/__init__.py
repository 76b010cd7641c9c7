"""The parsing stage: a digest file (SPEC §2) becomes a `bot.model.Digest`, or a `DigestError`.

Modules, one job each: `digest` (bytes → Digest), `frontmatter` (the YAML block), `items` (the
numbered item lines and their summaries), `summary` (Markdown → safe HTML and plain text),
`tags` (explicit item tags), `dates`, `file` (a bounded read of a regular file), `cutoff` (does a
file look cut off mid-write), `identity` (stable ids), `text` (character clean-up),
`export` (Digest → JSON-ready dict).

Decisions beyond SPEC §2:
- No `title` in the front matter: the first Markdown heading before the first item, else an error.
- An item's title and author are plain text (Markdown and HTML in them reduced to text); its
  `url` is kept only if it is an absolute http(s) link (`www.…` gets `https://`).
- `N.` needs a space after it unless `[` or `*` follows (`5.[t](u)` is an item, `1.5 亿` text).
- The item's link need not come first on its title line: without one first, the url is that of
  the first web link before the author separator, and the title is the text of all of it,
  link labels included (`[OpenAI] [标题](u)` → `[OpenAI] 标题`, `标题：[原文](u)` → `标题：原文`);
  a link after the separator is the author's (`标题 - [作者](u)` has no url).  `[t] (u)` is a
  link when `u` is a web address.  The id then comes from the url, as for any linked item.
- Front-matter text (`title`, `categories`, `tags`) is read as written, without YAML 1.1 type
  guessing (`title: yes` is "yes", `1.10` is "1.10"); only `date` is typed.
- A summary is every line under an item up to the next item, a heading or a `---` rule; once
  indented, an unindented line after a blank line ends it (a closing remark is no summary).
  `summary_md` is those lines with their common indentation removed and the tag line dropped.
- A Markdown link left open on an item line (`[title](htt`) is an error: a file still being
  written looks like that.  So is a file ending inside a UTF-8 character.
- Dates: from 1970-01-01 UTC to a year (366 days) after now; outside that, a `file:line` error.
- Items are numbered with up to nine digits (item 10 000 is an item, not text of item 9 999).
- Only regular files are read (`file`): FIFOs, devices and directories are refused unread.
- Limits: 10 MB per file (`MAX_BYTES`, checked by `fstat` before reading and during the read),
  64 KiB of front matter, 100 000 characters per summary, 20 s per
  digest (realistic digests parse at about 5 MB/s; only Markdown built to be slow gets near).
- Digest `extra` is left empty.
"""

from bot.parsing.dates import date_from_filename
from bot.parsing.digest import parse_bytes, parse_file
from bot.parsing.export import digest_to_dict
from bot.parsing.file import MAX_BYTES, inside_folder, read_digest_file
from bot.parsing.identity import (
    assign_item_ids,
    digest_id,
    item_id,
    item_key,
    normalise_link,
    short_hash,
)
from bot.parsing.summary import render as render_markdown
from bot.parsing.text import normalise_text

__all__ = [
    "MAX_BYTES",
    "assign_item_ids",
    "date_from_filename",
    "digest_id",
    "digest_to_dict",
    "inside_folder",
    "item_id",
    "item_key",
    "normalise_link",
    "normalise_text",
    "parse_bytes",
    "parse_file",
    "read_digest_file",
    "render_markdown",
    "short_hash",
]
