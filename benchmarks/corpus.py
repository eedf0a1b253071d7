"""A reproducible synthetic Hindi corpus: N articles, T tags with Zipf-like popularity.

    python benchmarks/corpus.py --articles 10000 --tags 300 --out /tmp/corpus

Same seed, same corpus. Most files are Markdown with YAML front matter; every
tenth is in the seed's plain-text layout. Bodies are 400–800 words. Files are filed
in a newsroom's folders: 12 desks, four of them with sub-sections (cities, states,
sports), in Latin and Devanagari names; each Markdown article names 1–3 authors from
a pool of 200 (Zipf-like: a few write most).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = (
    "सरकार संसद चुनाव मंत्री प्रधानमंत्री राज्य देश विदेश नीति अर्थव्यवस्था बाज़ार शेयर बजट "
    "किसान फ़सल मानसून बारिश मौसम शिक्षा छात्र परीक्षा विश्वविद्यालय स्वास्थ्य अस्पताल डॉक्टर "
    "खेल क्रिकेट टीम मैच जीत हार खिलाड़ी कप्तान रिकॉर्ड फ़िल्म अभिनेता संगीत कला संस्कृति "
    "विज्ञान अंतरिक्ष उपग्रह तकनीक इंटरनेट मोबाइल कंपनी उद्योग निवेश रोज़गार युवा महिला "
    "न्यायालय फ़ैसला सुनवाई पुलिस जांच अदालत विपक्ष बयान बैठक समझौता सम्मेलन यात्रा "
    "दिल्ली मुंबई कोलकाता चेन्नई लखनऊ पटना जयपुर भोपाल शहर गांव सड़क पानी बिजली "
    "ने को से में पर और की के का है हैं था थे गया गई कहा बताया रहा रही होगा"
).split()
PLACES = "नई दिल्ली मुंबई लखनऊ पटना जयपुर वॉशिंगटन लंदन बीजिंग".split()
# 12 desks; four have sub-sections (2 levels in all)
DESKS = {
    "desh": [],
    "videsh": [],
    "खेल": ["cricket", "hockey", "फ़ुटबॉल"],
    "शहर": ["लखनऊ", "पटना", "जयपुर", "भोपाल", "kanpur"],
    "rajya": ["up", "bihar", "mp"],
    "arthvyavastha": [],
    "manoranjan": ["film", "sangeet"],
    "vigyan": [],
    "shiksha": [],
    "swasthya": [],
    "mausam": [],
    "takneek": [],
}
FOLDERS = [f"{desk}/{sub}" for desk, subs in DESKS.items() for sub in subs] + [
    desk for desk, subs in DESKS.items() if not subs
]
FIRST = "रीना अमित सुनीता राजेश प्रिया विकास अनीता संजय पूजा राहुल नेहा अजय कविता मनोज सीमा दीपक ममता आलोक".split()
LAST = "शर्मा वर्मा सिंह यादव गुप्ता मिश्रा पांडेय तिवारी चौहान".split()


def author_names(count: int = 200) -> list[str]:
    """A pool of distinct names, first and last (and a middle initial past 162)."""
    names = [f"{first} {last}" for first in FIRST for last in LAST]
    initials = "कखगघचछजझटठडढतथदधनपफबभमयरलवसह"
    names += [f"{f} {i}. {last}" for i in initials for f in FIRST for last in LAST]
    return names[:count]


def tag_names(count: int) -> list[str]:
    rng = random.Random(7)
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        if rng.random() < 0.2:
            name = "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(2, 6))
            )
        else:
            name = " ".join(rng.choice(WORDS[:90]) for _ in range(rng.randint(1, 2)))
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return names


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))) + "।"


def body(rng: random.Random) -> list[str]:
    words, paragraphs = rng.randint(400, 800), []
    while words > 0:
        para = " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))
        words -= len(para.split())
        paragraphs.append(para)
    return paragraphs


CORPUS_END = datetime(2026, 6, 1, tzinfo=UTC)


def records(articles: int, tags: int, seed: int = 1) -> Iterator[dict]:
    """The corpus as plain records: the same for every tool's input format."""
    rng = random.Random(seed)
    names = tag_names(tags)
    weights = [1 / (rank + 1) for rank in range(tags)]  # Zipf, s = 1
    writers = author_names()
    writer_weights = [1 / (rank + 1) for rank in range(len(writers))]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # 67 minutes apart, closer for a large corpus so that every article is in the past
    # (at 67 minutes, 100,000 articles ran to 2036: two thirds of them were scheduled).
    step = min(67, int((CORPUS_END - start).total_seconds() // 60) // max(articles, 1))
    for n in range(articles):
        chosen = list(dict.fromkeys(rng.choices(names, weights, k=rng.randint(1, 5))))
        byline = list(dict.fromkeys(rng.choices(writers, writer_weights, k=rng.randint(1, 3))))
        title = " ".join(rng.choice(WORDS[:90]) for _ in range(rng.randint(5, 10))) + f" {n}"
        paragraphs = body(rng)
        paragraphs[0] = rng.choice(PLACES) + "। " + paragraphs[0]
        yield {
            "n": n,
            "title": title,
            "tags": chosen,
            "authors": byline,
            "paragraphs": paragraphs,
            "date": start + timedelta(minutes=step * n),
            "folder": FOLDERS[n % len(FOLDERS)],
        }


def _write(path: Path, text: str, when: datetime | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if when is not None:
        os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def write_feedsvc(record: dict, out: Path) -> Path:
    """Markdown with YAML front matter; every tenth file in the seed's plain-text layout."""
    folder, n = out / record["folder"], record["n"]
    if n % 10 == 9:
        text = "\n\n".join([record["title"], *record["paragraphs"], ", ".join(record["tags"])])
        return _write(folder / f"{n:06d}.txt", text, record["date"])
    tag_list = ", ".join(f'"{t}"' for t in record["tags"])
    authors = ", ".join(f'"{a}"' for a in record["authors"])
    front = (
        f'---\ntitle: "{record["title"]}"\ndate: {record["date"].isoformat()}\n'
        f"tags: [{tag_list}]\nauthor: [{authors}]\n---\n"
    )
    return _write(folder / f"{n:06d}.md", front + "\n\n".join(record["paragraphs"]) + "\n")


def write_pelican(record: dict, out: Path) -> Path:
    head = (
        f"Title: {record['title']}\nDate: {record['date']:%Y-%m-%d %H:%M}\n"
        f"Tags: {', '.join(record['tags'])}\nAuthors: {', '.join(record['authors'])}\n"
        f"Slug: a{record['n']:06d}\n\n"
    )
    return _write(
        out / record["folder"] / f"{record['n']:06d}.md",
        head + "\n\n".join(record["paragraphs"]) + "\n",
    )


def write_hugo(record: dict, out: Path) -> Path:
    tag_list = ", ".join(f'"{t}"' for t in record["tags"])
    front = (
        f'---\ntitle: "{record["title"]}"\ndate: {record["date"].isoformat()}\n'
        f"tags: [{tag_list}]\nauthors: [{', '.join(repr(a) for a in record['authors'])}]\n"
        f"slug: a{record['n']:06d}\n---\n"
    )
    return _write(
        out / "posts" / record["folder"] / f"{record['n']:06d}.md",
        front + "\n\n".join(record["paragraphs"]) + "\n",
    )


WRITERS = {"feedsvc": write_feedsvc, "pelican": write_pelican, "hugo": write_hugo}


def generate(
    out: Path, articles: int, tags: int, seed: int = 1, fmt: str = "feedsvc"
) -> list[Path]:
    """Write the corpus in one tool's format (same seed, same corpus)."""
    if out.exists():
        shutil.rmtree(out)
    return [WRITERS[fmt](record, out) for record in records(articles, tags, seed)]


def site(root: Path, articles: int, tags: int, config: str = "") -> Path:
    """A benchmark site: the corpus in root/articles and root/config.toml; its path."""
    generate(root / "articles", articles, tags)
    path = root / "config.toml"
    path.write_text('[site]\nid_authority = "bench.example"\n' + config, encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=sorted(WRITERS), default="feedsvc")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    files = generate(args.out, args.articles, args.tags, args.seed, args.format)
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {size / 1e6:.1f} MB, in {args.out}")


if __name__ == "__main__":
    main()
