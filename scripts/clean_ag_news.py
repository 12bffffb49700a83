"""Writes AG News train.csv and test.csv with the crawl's mangled HTML undone, for the
text-cleaning experiment in docs/results.md (measured worse than the text as written, so the
project does not clean; kept to reproduce that row).

    python3 scripts/clean_ag_news.py SRC_DIR OUT_DIR
    attn train bert --train OUT_DIR/train.csv --test OUT_DIR/test.csv --text-col 1,2 ...
"""
import csv
import re
import sys
from pathlib import Path

ENTITIES = [("#39;", "'"), ("#36;", "$"), ("quot;", '"'), ("#151;", "\u2014"), ("#146;", "'"),
            ("#145;", "'"), ("#147;", '"'), ("#148;", '"'), ("#150;", "\u2013"), ("#38;", "&"),
            ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")]
# Markup tags only: a ticker such as <TXN.N> is text.
TAG = re.compile(r"</?(a|font|b|i|p|br|strong|em|span|div)\b[^>]*>", re.I)


def clean(text: str) -> str:
    for entity, char in ENTITIES:
        text = text.replace(entity, char)
    text = TAG.sub(" ", text).replace("\\", " ")
    return re.sub(r"\s+", " ", text).strip()


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for name in ["train.csv", "test.csv"]:
        with open(src / name, newline="") as f:
            rows = list(csv.reader(f))
        with open(out / name, "w", newline="") as f:
            writer = csv.writer(f, quoting=csv.QUOTE_ALL)
            for label, title, description in rows:
                writer.writerow([label, clean(title), clean(description)])


if __name__ == "__main__":
    main()
