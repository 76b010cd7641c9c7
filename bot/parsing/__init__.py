"""The parsing stage: a digest file (SPEC §2) becomes a `bot.model.Digest`, or a `DigestError`.

Modules, one job each: `digest` (bytes → Digest), `frontmatter` (the YAML block), `items` (the
numbered item lines and their summaries), `summary` (Markdown → safe HTML and plain text),
`tags` (explicit item tags), `dates`, `identity` (stable ids), `text` (character clean-up),
`export` (Digest → JSON-ready dict).

Decisions beyond SPEC §2:
- No `title` in the front matter: the first Markdown heading before the first item, else an error.
- An item's title and author are plain text (Markdown and HTML in them reduced to text); its
  `url` is kept only if it is an absolute http(s) link (`www.…` gets `https://`).
- A summary is every line under an item up to the next item, a heading or a `---` rule; once
  indented, an unindented line after a blank line ends it (a closing remark is no summary).
  `summary_md` is those lines with their common indentation removed and the tag line dropped.
- A Markdown link left open on an item line (`[title](htt`) is an error: a file still being
  written looks like that.  So is a file ending inside a UTF-8 character.
- Limits: 10 MB per file, 64 KiB of front matter, 100 000 characters per summary, 20 s per
  digest (realistic digests parse at about 5 MB/s; only Markdown built to be slow gets near).
- Digest `extra` is left empty.
"""

from bot.parsing.dates import date_from_filename
from bot.parsing.digest import MAX_BYTES, parse_bytes, parse_file
from bot.parsing.export import digest_to_dict
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
    "item_id",
    "item_key",
    "normalise_link",
    "normalise_text",
    "parse_bytes",
    "parse_file",
    "render_markdown",
    "short_hash",
]
