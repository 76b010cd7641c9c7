"""How near each written story's title (corpus/written/) comes to a title of the built corpus.

    python corpus/overlap.py [--at 0.45]       # after `python corpus/build.py`

Prints every written title whose nearest corpus title shares `--at` or more of their character
4-grams (Jaccard, on lower-cased words), nearest first, and exits 1 if any reaches TOO_NEAR. At
0.5 and above the written title was found to be the same event's headline in nearly the same
words (an outlet's headline remembered), so such stories are dropped: written stories must not
carry a tested writer's text into training (corpus/written/README.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "build" / "items.jsonl"
WRITTEN = HERE / "written"
TOO_NEAR = 0.5
COMMON = 500  # 4-grams in more corpus titles than this pick no candidates (" the", "ing ")


def grams(title: str, n: int = 4) -> frozenset[str]:
    text = re.sub(r"\W+", " ", title.lower()).strip()
    return frozenset(text[i : i + n] for i in range(max(1, len(text) - n + 1)))


def indexed(titles: list[str]) -> tuple[list[frozenset[str]], dict[str, list[int]]]:
    """Each title's 4-grams, and for each 4-gram the positions of the titles that hold it."""
    found = [grams(title) for title in titles]
    index: dict[str, list[int]] = defaultdict(list)
    for k, mine in enumerate(found):
        for gram in mine:
            index[gram].append(k)
    return found, index


def nearest(
    title: str, titles: list[frozenset[str]], index: dict[str, list[int]]
) -> tuple[float, int]:
    """The Jaccard similarity of the nearest corpus title and its position (-1 if none). Common
    4-grams pick no candidates (there would be thousands); the similarity counts them all."""
    mine = grams(title)
    found = [index.get(gram, []) for gram in mine]
    candidates = {k for within in found if len(within) <= COMMON for k in within}
    scored = ((len(mine & titles[k]) / len(mine | titles[k]), k) for k in candidates)
    return max(scored, default=(0.0, -1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--at", type=float, default=TOO_NEAR, help="print titles this near")
    args = parser.parse_args(argv)
    if not CORPUS.exists():
        parser.error(f"{CORPUS} is missing: run python corpus/build.py first")
    corpus = [json.loads(line) for line in CORPUS.read_text("utf-8").splitlines()]
    titles, index = indexed([row["title"] for row in corpus])
    near: list[tuple[float, str]] = []
    for path in sorted(WRITTEN.glob("*.jsonl")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            title = json.loads(line)["title"]
            score, k = nearest(title, titles, index)
            if score >= args.at:
                other = f"{corpus[k]['source']} {corpus[k]['title']!r}"
                near.append((score, f"{path.name}:{number} {title!r} ~ {other}"))
    for score, text in sorted(near, reverse=True):
        print(f"{score:.2f} {text}")
    return 1 if any(score >= TOO_NEAR for score, _ in near) else 0


if __name__ == "__main__":
    sys.exit(main())
