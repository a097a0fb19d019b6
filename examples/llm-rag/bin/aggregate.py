#!/usr/bin/env python3
"""The aggregation job: one table of answers (book x model rows, one column
per prompt) from the answer files of bin/ask.py.

usage: aggregate.py OUT.md OUT.tsv ANSWER.json..."""
import json
import sys

COLS = ["summary", "protagonist", "antagonist", "time_period"]


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    md, tsv, files = argv[1], argv[2], argv[3:]
    rows = []
    for p in files:
        with open(p) as f:
            rows.append(json.load(f))
    rows.sort(key=lambda r: (r["book"], r["model"]))
    clean = lambda s: " ".join(str(s).split()).replace("|", "/")  # noqa: E731
    with open(tsv, "w") as f:
        f.write("\t".join(["book", "title", "model", "backend"] + COLS + ["answer_s"]) + "\n")
        for r in rows:
            f.write("\t".join([r["book"], clean(r["title"]), r["model"], r["backend"]] +
                              [clean(r["answers"].get(c, "")) for c in COLS] +
                              [str(r["answer_s"])]) + "\n")
    with open(md, "w") as f:
        f.write("| book | model | " + " | ".join(COLS) + " |\n")
        f.write("|---" * (len(COLS) + 2) + "|\n")
        for r in rows:
            f.write(f"| {clean(r['title'])} | {r['model']} | " +
                    " | ".join(clean(r["answers"].get(c, "")) for c in COLS) + " |\n")
    print(f"aggregate: {len(rows)} rows -> {md}, {tsv}")


if __name__ == "__main__":
    main(sys.argv)
