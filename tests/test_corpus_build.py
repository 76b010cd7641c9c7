"""corpus/build.py on a tiny digest repository made here with git: extraction, mapping, dedup."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ROOT / "config" / "categories.toml"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_build", ROOT / "corpus" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["corpus_build"] = module
    spec.loader.exec_module(module)
    return module


build = load_build()

DAY_ONE = """---
title: "Daily 2026-03-01"
date: "2026-03-01"
---

## 🔬 Research (2)

### A sparse attention method halves long-context cost
Researchers show a sparse attention scheme that keeps accuracy on long documents.

[Read more →](https://example.org/sparse-attention?utm_source=digest)

---

### 1. Tiny
ok

## 💰 Funding

### Acme AI raises $40M Series B led by Example Ventures
The startup will use the money to hire and to expand into Europe.

**Source:** [Example News](https://news.example.com/acme-series-b)

## Top stories

### Everything happened today all at once
A headline section that mixes every topic, which the table skips.

## Quantum Gardening

### Robots prune bonsai trees with a vision model
A heading nobody reviewed, so its items are left out.
"""

DAY_TWO = """---
date: 2026-03-02
---

## Research

### A sparse attention method halves long-context cost!
The same story again under a slightly different title punctuation.

## Funding

### Acme AI closes its Series B
Same link as yesterday, so it is a duplicate of that item.
[link](https://www.news.example.com/acme-series-b/)

## Policy & Safety

### Regulator publishes rules for AI model audits
The new rules require yearly third-party audits of large models.
"""

OTHER_SOURCE = """# 2026-03-03

## 概览
### 开发生态
- 某框架发布 2.0 版本，支持本地运行 [↗](https://example.cn/framework-2) `#1`
### 要闻
- 今日头条新闻，什么都有 [↗](https://example.cn/top) `#2`
### 开发生态
- Acme AI raises $40M Series B led by Example Ventures [↗](https://example.cn/acme) `#3`

---

## [某框架发布 2.0 版本，支持本地运行](https://example.cn/framework-2) `#1`
> 该框架的 2.0 版本新增命令行工具与插件系统，开发者可以在本地运行完整流程。

正文补充说明。

---

## [今日头条新闻，什么都有](https://example.cn/top) `#2`
> 这一条在要闻里，会被跳过。

---

## [Acme AI raises $40M Series B led by Example Ventures](https://example.cn/acme) `#3`
> The same story as in the first source, copied word for word.
"""

MANIFEST = """
[[source]]
id = "alpha"
repository = "someone/alpha-digest"
commit = "{alpha}"
paths = ["daily/*.md"]
exclude = ["daily/draft-*.md"]
licence = "not stated"
language = "en"
writer = "a test writer"
format = "heading_items"
section_level = 2
item_level = 3
drop_lines = ['^\\s*\\[Read more', '^\\s*\\*\\*Source']
min_chars = 30
recognition = "## section, ### item"

[[source]]
id = "beta"
repository = "other/beta-daily"
commit = "{beta}"
paths = ["BACKUP/*.md"]
licence = "not stated"
language = "zh"
writer = "another test writer"
format = "overview_index"
section_level = 3
min_chars = 20
recognition = "overview bullets with #N, detail blocks"
"""

SECTIONS = """
[alpha.map]
"Research" = ["AI发展"]
"Funding" = ["AI产业"]
"Policy & Safety" = ["AI伦理"]

[alpha.skip]
"Top stories" = "mixes every topic"

[beta.map]
"开发生态" = ["AI工具"]

[beta.skip]
"要闻" = "top stories"
"""


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
            "HOME": str(cwd),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )
    return result.stdout.strip()


def make_mirror(mirrors: Path, repository: str, files: dict[str, str]) -> str:
    """A bare mirror at <mirrors>/<owner>+<name> holding one commit of `files`."""
    work = mirrors.parent / ("work-" + repository.replace("/", "-"))
    work.mkdir(parents=True)
    git(work, "init", "-q")
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text, encoding="utf-8")
    git(work, "add", ".")
    git(work, "commit", "-qm", "digests")
    commit = git(work, "rev-parse", "HEAD")
    git(mirrors, "clone", "-q", "--mirror", str(work), repository.replace("/", "+"))
    return commit


@pytest.fixture
def built(tmp_path: Path) -> tuple[list[dict[str, object]], dict[str, object]]:
    return build_with(tmp_path, SECTIONS)


def build_with(
    tmp_path: Path, section_table: str
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """The two test sources built with `section_table`: the items and stats.json."""
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    alpha = make_mirror(
        mirrors,
        "someone/alpha-digest",
        {
            "daily/2026-03-01.md": DAY_ONE,
            "daily/2026-03-02.md": DAY_TWO,
            "daily/draft-2026-03-03.md": DAY_ONE.replace("Acme", "Draft"),
            "README.md": "## Research\n\n### Not a digest file at all, never read\n",
        },
    )
    beta = make_mirror(mirrors, "other/beta-daily", {"BACKUP/3_2026-03-03.md": OTHER_SOURCE})
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST.format(alpha=alpha, beta=beta), encoding="utf-8")
    sections = tmp_path / "sections.toml"
    sections.write_text(section_table, encoding="utf-8")
    out = tmp_path / "out"
    assert (
        build.main(
            [
                "--mirrors",
                str(mirrors),
                "--manifest",
                str(manifest),
                "--sections",
                str(sections),
                "--categories",
                str(CATEGORIES),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    lines = (out / "items.jsonl").read_text(encoding="utf-8").splitlines()
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    return [json.loads(line) for line in lines], stats


def test_items_carry_text_link_date_section_and_mapped_labels(built) -> None:
    items, _ = built
    research = next(i for i in items if i["title"].startswith("A sparse attention"))
    assert research == {
        "source": "alpha",
        "date": "2026-03-01",
        "section": "research",
        "title": "A sparse attention method halves long-context cost",
        "summary": (
            "Researchers show a sparse attention scheme that keeps accuracy on long documents."
        ),
        "url": "https://example.org/sparse-attention?utm_source=digest",
        "lang": "en",
        "labels": ["AI发展"],
    }
    policy = next(i for i in items if i["section"] == "policy & safety")
    assert policy["labels"] == ["AI伦理"] and policy["date"] == "2026-03-02"
    tool = next(i for i in items if i["source"] == "beta")
    assert tool["labels"] == ["AI工具"] and tool["lang"] == "zh"
    assert tool["url"] == "https://example.cn/framework-2"
    assert (
        tool["summary"].startswith("该框架的 2.0 版本新增命令行工具")
        and "正文补充说明" in tool["summary"]
    )


def test_skipped_unreviewed_and_short_items_are_left_out(built) -> None:
    items, stats = built
    titles = {i["title"] for i in items}
    assert "Everything happened today all at once" not in titles
    assert "Robots prune bonsai trees with a vision model" not in titles
    assert not any("Tiny" in t or "Draft" in t or "Not a digest" in t for t in titles)
    assert "今日头条新闻，什么都有" not in titles
    alpha = stats["sources"]["alpha"]
    assert alpha["skipped_sections"] == {"top stories": 1}
    assert alpha["unreviewed_sections"] == {"quantum gardening": 1}
    assert alpha["too_short"] == 1
    assert stats["sources"]["beta"]["skipped_sections"] == {"要闻": 1}


def test_duplicates_by_title_or_link_in_a_source_and_across_sources(built) -> None:
    items, stats = built
    alpha = [i["title"] for i in items if i["source"] == "alpha"]
    assert alpha == [
        "A sparse attention method halves long-context cost",
        "Acme AI raises $40M Series B led by Example Ventures",
        "Regulator publishes rules for AI model audits",
    ]
    assert stats["sources"]["alpha"]["duplicate_in_source"] == 2
    assert [i["title"] for i in items if i["source"] == "beta"] == [
        "某框架发布 2.0 版本，支持本地运行"
    ]
    assert stats["sources"]["beta"]["duplicate_across_sources"] == 1
    assert stats["per_source"] == {"alpha": 3, "beta": 1}
    assert stats["per_label"] == {"AI发展": 1, "AI产业": 1, "AI伦理": 1, "AI工具": 1}


def test_a_learn_entry_names_fewer_labels_to_train_on_and_keeps_the_labels(
    tmp_path: Path,
) -> None:
    sections = SECTIONS.replace('"Funding" = ["AI产业"]', '"Funding" = ["AI产业", "AI应用"]')
    sections += '\n[alpha.learn]\n"Funding" = ["AI产业"]\n'
    items, _ = build_with(tmp_path, sections)
    funding = next(i for i in items if i["section"] == "funding")
    assert (funding["labels"], funding["learn"]) == (["AI产业", "AI应用"], ["AI产业"])
    assert all("learn" not in i for i in items if i["section"] != "funding")


@pytest.mark.parametrize("learned", ['["AI应用"]', '["AI产业"]'])
def test_a_learn_entry_must_name_fewer_of_its_headings_labels(tmp_path: Path, learned: str) -> None:
    sections = tmp_path / "sections.toml"
    sections.write_text(SECTIONS + f'\n[alpha.learn]\n"Funding" = {learned}\n', "utf-8")
    with pytest.raises(build.BuildError, match="fewer of the labels"):
        build.load_sections(sections, build.load_category_names(CATEGORIES))


def test_a_missing_mirror_says_how_to_get_it(tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST.format(alpha="a" * 40, beta="b" * 40), encoding="utf-8")
    sections = tmp_path / "sections.toml"
    sections.write_text(SECTIONS, encoding="utf-8")
    arguments = ["--mirrors", str(tmp_path), "--manifest", str(manifest)]
    arguments += ["--sections", str(sections), "--categories", str(CATEGORIES)]
    code = build.main([*arguments, "--out", str(tmp_path / "out")])
    assert code == 1
    message = capsys.readouterr().err
    assert "git clone --mirror https://github.com/someone/alpha-digest" in message


def test_a_label_that_is_not_a_category_is_an_error(tmp_path: Path) -> None:
    sections = tmp_path / "sections.toml"
    sections.write_text('[alpha.map]\n"Research" = ["AI Research"]\n', encoding="utf-8")
    with pytest.raises(build.BuildError, match="unknown labels"):
        build.load_sections(sections, build.load_category_names(CATEGORIES))


@pytest.mark.parametrize(
    "repository",
    [
        "justlovemaki/CloudFlare-AI-Insight-Daily",
        "someone/Hextra-AI-Insight-Daily",
        "someone/hextra-ai-insight-daily-fork",
        "aitechdaily/aitechdaily.github.io",
        "corwen6349/daily-ai-news-blog",
        "yaoqih/ainews-web_ZH_CN",
        "smol-ai/ainews-web-2025",
        "handsometong/ai-news-today",
    ],
)
def test_a_reserved_source_is_refused(tmp_path: Path, repository: str) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST.format(alpha="a" * 40, beta="b" * 40), encoding="utf-8")
    text = manifest.read_text(encoding="utf-8").replace("someone/alpha-digest", repository)
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(build.BuildError, match="reserved for evaluation"):
        build.load_manifest(manifest)


def test_the_committed_manifest_names_no_reserved_source() -> None:
    sources = build.load_manifest(build.DEFAULT_MANIFEST)
    assert len(sources) >= 6 and all(not build.RESERVED.search(s.repository) for s in sources)


REWRITTEN_V1 = """## AI Chip Wars

- A chipmaker unveils a faster accelerator for data centres, shipping next year. - [Example](https://example.org/chip)
- Short. - [Example](https://example.org/short)

## Other News

- Something happened somewhere and it is worth a sentence or two. - [Example](https://example.org/other)
"""

REWRITTEN_V2 = """## Regulation Roundup

- Lawmakers pass a bill requiring labels on AI-generated political adverts. - [Example](https://example.org/bill)

## Regulation & Chip Controls

- New export rules restrict shipments of advanced accelerators to some countries. - [Example](https://example.org/rules)
"""


def test_a_digest_rewritten_in_place_is_read_in_every_version_with_heading_patterns(
    tmp_path: Path,
) -> None:
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    (work / "summary.md").write_text(REWRITTEN_V1, encoding="utf-8")
    git(work, "add", ".")
    git(work, "commit", "-qm", "day one", "--date", "2025-05-01T08:00:00")
    (work / "out").mkdir()
    git(work, "mv", "summary.md", "out/summary.md")
    (work / "out" / "summary.md").write_text(REWRITTEN_V2, encoding="utf-8")
    git(work, "add", ".")
    git(work, "commit", "-qm", "day two")
    commit = git(work, "rev-parse", "HEAD")
    git(mirrors, "clone", "-q", "--mirror", str(work), "someone+rewritten")
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        f"""
[[source]]
id = "rewritten"
repository = "someone/rewritten"
commit = "{commit}"
paths = ["summary.md", "out/summary.md"]
history = true
language = "en"
format = "bullet_items"
section_level = 2
min_chars = 40
""",
        encoding="utf-8",
    )
    sections = tmp_path / "sections.toml"
    sections.write_text(
        """
[rewritten.patterns]
'chip|accelerator' = ["硬件设施"]
'regulat|controls' = ["AI伦理"]

[rewritten.skip]
"Other News" = "every topic"
""",
        encoding="utf-8",
    )
    stats = build.build(mirrors, manifest, sections, CATEGORIES, tmp_path / "out")
    items = [
        json.loads(line)
        for line in (tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    by_url = {item["url"]: item for item in items}
    assert set(by_url) == {
        "https://example.org/chip",
        "https://example.org/bill",
        "https://example.org/rules",
    }
    chip = by_url["https://example.org/chip"]
    assert chip["title"] == (
        "A chipmaker unveils a faster accelerator for data centres, shipping next year."
    )
    assert chip["labels"] == ["硬件设施"] and chip["date"] == "2025-05-01"
    assert by_url["https://example.org/bill"]["labels"] == ["AI伦理"]
    assert by_url["https://example.org/rules"]["labels"] == ["硬件设施", "AI伦理"]
    assert stats["sources"]["rewritten"]["skipped_sections"] == {"other news": 1}
    assert stats["sources"]["rewritten"]["too_short"] == 1


NEWSLETTER_OLD = """---
title: "Weekly #36"
categories: [digests]
---

### Mini Briefs

#### [A long story of the week](https://example.org/long)

Several paragraphs about it, under a section the table skips.

### Concerns & Hype

* [Face recognition banned for state police](https://example.org/ban) - The state is the first
to ban the technology for its police.

* [A second concern that comes with no summary](https://example.org/bare) - None

### Advances & Business

* [A lab and a startup, mixed together](https://example.org/mixed) - Skipped as mixed.
"""

NEWSLETTER_NEW = """---
title: "Weekly #338"
redirect: https://example.org/p/338
---### Top News

#### [The week's biggest story](https://example.org/top)
Related:
 * [A related story](https://example.org/related)

### Other News
#### Tools
![](https://example.org/picture.png)

[Editor adds agents that review pull requests](https://example.org/agents). The tool comments
on each change and suggests fixes.

[A tool launch without a summary](https://example.org/tool). None

#### Business

[Acme raises $40M for inference chips](https://example.org/acme). A Series B round.
"""


def test_a_newsletter_with_link_items_under_headings_of_any_level(tmp_path: Path) -> None:
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    commit = make_mirror(
        mirrors,
        "someone/weekly",
        {
            "_posts/digests/2019-10-20-36.md": NEWSLETTER_OLD,
            "_posts/digests/2026-3-16-338.md": NEWSLETTER_NEW,
        },
    )
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        f"""
[[source]]
id = "weekly"
repository = "someone/weekly"
commit = "{commit}"
paths = ["_posts/digests/*.md"]
language = "en"
format = "link_items"
drop_lines = ['^\\s*None\\s*$', '^\\s*Related:\\s*$']
min_chars = 40
""",
        encoding="utf-8",
    )
    sections = tmp_path / "sections.toml"
    sections.write_text(
        """
[weekly.map]
"Concerns & Hype" = ["AI伦理"]
"Tools" = ["AI工具"]
"Business" = ["AI产业"]

[weekly.skip]
"Mini Briefs" = "every topic"
"Top News" = "every topic"
"Advances & Business" = "mixed"
""",
        encoding="utf-8",
    )
    stats = build.build(mirrors, manifest, sections, CATEGORIES, tmp_path / "out")
    items = [
        json.loads(line)
        for line in (tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    by_url = {item["url"]: item for item in items}
    assert set(by_url) == {
        "https://example.org/ban",
        "https://example.org/bare",
        "https://example.org/agents",
        "https://example.org/acme",
    }
    ban = by_url["https://example.org/ban"]
    assert ban["title"] == "Face recognition banned for state police"
    assert ban["summary"] == "The state is the first to ban the technology for its police."
    assert ban["labels"] == ["AI伦理"] and ban["date"] == "2019-10-20"
    assert by_url["https://example.org/bare"]["summary"] == ""
    agents = by_url["https://example.org/agents"]
    assert agents["summary"] == "The tool comments on each change and suggests fixes."
    assert agents["labels"] == ["AI工具"] and agents["date"] == "2026-03-16"
    assert by_url["https://example.org/acme"]["labels"] == ["AI产业"]
    assert stats["sources"]["weekly"]["too_short"] == 1  # the tool with no summary
    skipped = stats["sources"]["weekly"]["skipped_sections"]
    assert skipped == {"mini briefs": 1, "top news": 2, "advances & business": 1}


JUDGED_DAY = """---
date: 2026-03-05
---

## Research

### A sparse attention method halves long-context cost again
Researchers extend the sparse attention scheme to images.

## Tech Wire

### Chipmaker doubles output of AI accelerators for data centres
### 芯片厂商将数据中心 AI 加速器产量翻倍
The company said demand from model builders keeps rising through next year.

### A new phone comes in three colours this autumn
### 新手机今年秋天推出三种颜色
The phone has a brighter screen and a bigger battery.

### Nobody judged this story about a startup yet, so it is left out
The text of a story without a verdict.

### Acme AI raises $40M Series B led by Example Ventures
Told again in a mixed feed, but the other source gives this story.

### Regulators question the day's last story, which has no text
"""

# the next day's feed opens with a translated heading: no translation of yesterday's last story
JUDGED_NEXT_DAY = """---
date: 2026-03-06
---

## Tech Wire

### 另一天的中文标题，与前一天无关
The text of another day's story, which is not yesterday's.
"""


def test_a_judged_section_takes_each_items_verdict_and_changes_nothing_else(
    tmp_path: Path,
) -> None:
    mirrors = tmp_path / "mirrors"
    mirrors.mkdir()
    alpha = make_mirror(
        mirrors,
        "someone/alpha-digest",
        {"daily/2026-03-05.md": JUDGED_DAY, "daily/2026-03-06.md": JUDGED_NEXT_DAY},
    )
    beta = make_mirror(mirrors, "other/beta-daily", {"BACKUP/3_2026-03-03.md": OTHER_SOURCE})
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST.format(alpha=alpha, beta=beta), encoding="utf-8")
    sections = tmp_path / "sections.toml"
    sections.write_text(SECTIONS + '\n[alpha.judged]\n"Tech Wire" = "mixes topics"\n', "utf-8")
    judged = tmp_path / "judged"
    judged.mkdir()
    key = partial(build.item_key, "alpha", "2026-03-05")
    verdicts = [
        {
            "key": key("Chipmaker doubles output of AI accelerators for data centres"),
            "categories": ["硬件设施", "AI产业"],
        },
        {"key": key("A new phone comes in three colours this autumn"), "categories": []},
        {
            "key": key("Acme AI raises $40M Series B led by Example Ventures"),
            "categories": ["AI产业"],
        },
        {
            "key": key("Regulators question the day's last story, which has no text"),
            "categories": ["AI伦理"],
        },
    ]
    (judged / "alpha.jsonl").write_text("".join(json.dumps(v) + "\n" for v in verdicts), "utf-8")
    arguments = ["--mirrors", str(mirrors), "--manifest", str(manifest)]
    arguments += ["--sections", str(sections), "--categories", str(CATEGORIES)]
    out = tmp_path / "out"
    assert build.main([*arguments, "--out", str(out), "--judged", str(judged)]) == 0
    rows = [json.loads(line) for line in (out / "items.jsonl").read_text("utf-8").splitlines()]
    found = [r for r in rows if r["source"] == "alpha/judged"]
    assert [(r["title"], r["labels"]) for r in found] == [
        ("Chipmaker doubles output of AI accelerators for data centres", ["硬件设施", "AI产业"]),
        ("Regulators question the day's last story, which has no text", ["AI伦理"]),
    ]  # the phone is not about AI; the unjudged story and beta's story are left out
    assert found[1]["summary"] == ""  # not the text under the next day's first heading
    assert found[0]["summary"].startswith("The company said demand")  # the translation's text
    assert found[0]["section"] == "tech wire"
    stats = json.loads((out / "stats.json").read_text("utf-8"))["sources"]["alpha"]
    assert (stats["judged"], stats["judged_not_ai"], stats["unjudged"]) == (2, 1, 1)
    # the same build without verdicts keeps every other item as it was
    assert (
        build.main([*arguments, "--out", str(tmp_path / "plain"), "--judged", str(tmp_path)]) == 0
    )
    plain = (tmp_path / "plain" / "items.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in plain] == [
        r for r in rows if r["source"] != "alpha/judged"
    ]
    assert any(r["source"] == "beta" and r["title"].startswith("Acme") for r in rows)


def test_a_verdict_naming_an_unknown_category_stops_the_build(tmp_path: Path) -> None:
    path = tmp_path / "alpha.jsonl"
    path.write_text('{"key": "k", "categories": []}\n{"key": "j", "categories": ["AI"]}\n', "utf-8")
    with pytest.raises(build.BuildError, match=r"alpha\.jsonl:2"):
        build.load_verdicts(path, build.load_category_names(CATEGORIES))
