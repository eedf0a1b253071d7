"""A reproducible synthetic Hindi corpus: N articles, T tags with Zipf-like popularity.

    python benchmarks/corpus.py --articles 10000 --tags 300 --out /tmp/corpus

Same seed, same corpus. Most files are Markdown with YAML front matter; every
tenth is in the seed's plain-text layout. Bodies are 400–800 words.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
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


def generate(out: Path, articles: int, tags: int, seed: int = 1) -> list[Path]:
    rng = random.Random(seed)
    names = tag_names(tags)
    weights = [1 / (rank + 1) for rank in range(tags)]  # Zipf, s = 1
    start = datetime(2024, 1, 1, tzinfo=UTC)
    if out.exists():
        shutil.rmtree(out)
    written = []
    for n in range(articles):
        folder = out / f"{2024 + n * 2 // max(articles, 1)}" / f"{n % 12 + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        chosen = list(dict.fromkeys(rng.choices(names, weights, k=rng.randint(1, 5))))
        title = " ".join(rng.choice(WORDS[:90]) for _ in range(rng.randint(5, 10)))
        paragraphs = body(rng)
        paragraphs[0] = rng.choice(PLACES) + "। " + paragraphs[0]
        when = start + timedelta(minutes=67 * n)
        if n % 10 == 9:
            path = folder / f"{n:06d}.txt"
            text = "\n\n".join([f"{title} {n}", *paragraphs, ", ".join(chosen)])
            path.write_text(text, encoding="utf-8")
            os.utime(path, (when.timestamp(), when.timestamp()))
        else:
            path = folder / f"{n:06d}.md"
            tag_list = ", ".join(f'"{t}"' for t in chosen)
            front = (
                f'---\ntitle: "{title} {n}"\ndate: {when.isoformat()}\ntags: [{tag_list}]\n---\n'
            )
            path.write_text(front + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    files = generate(args.out, args.articles, args.tags, args.seed)
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {size / 1e6:.1f} MB, in {args.out}")


if __name__ == "__main__":
    main()
