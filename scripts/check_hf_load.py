#!/usr/bin/env python3
"""Checks that HF transformers' standard loading of a model saved by `attn train bert` computes
what `attn predict` computes, or refuses the directory: never something silently different.

Usage: python3 scripts/check_hf_load.py RUN_DIR [--attn BIN] [--test CSV] [--rows 400]
Needs torch + transformers (not needed by CI).

1. `pipeline("text-classification", model=RUN_DIR)` as a user would type it. A [CLS]-pooler head
   (HF's own BertForSequenceClassification) must load; a mean-pooled head must be refused with
   HF's message asking for trust_remote_code.
2. The pipeline that loads (with `trust_remote_code=True` for a mean-pooled head): its logits on a
   few texts against `attn predict --model RUN_DIR` (max abs difference <= 1e-4).
3. With --test (AG News test.csv: class,title,description): the pipeline's accuracy on the first
   --rows rows, and how often its labels agree with attn's.
Prints one summary line; exits 1 when a check fails.
"""
import argparse
import csv
import json
import subprocess
import sys

import torch
from transformers import pipeline

TEXTS = [
    "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers are seeing green again.",
    "Nets get Carter from Raptors INDIANAPOLIS -- All-Star Vince Carter was traded to the New Jersey Nets.",
    "Google unveils a new search engine for scientific papers.",
    "Talks on Iran's nuclear programme resume in Geneva.",
]


def attn_predict(attn, run, texts):
    out = subprocess.run([attn, "predict", "--model", run], input="\n".join(texts) + "\n",
                         capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def hf_logits(pipe, texts):
    enc = pipe.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        return pipe.model(**enc).logits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--attn", default="target/release/attn")
    ap.add_argument("--test")
    ap.add_argument("--rows", type=int, default=400)
    args = ap.parse_args()
    config = json.load(open(f"{args.run}/config.json"))
    pooling = config.get("attn_pooling", "cls")
    failures = []

    try:
        pipe = pipeline("text-classification", model=args.run)
        standard = f"loads as {type(pipe.model).__name__}"
        if pooling != "cls":
            failures.append(f"a {pooling}-pooled head loaded without trust_remote_code")
    except ValueError as e:
        first = str(e).strip().splitlines()[0]
        standard = f"refused: {first[:90]}..."
        if pooling == "cls" or "trust_remote_code" not in str(e):
            failures.append(f"standard loading failed: {e}")
        pipe = pipeline("text-classification", model=args.run, trust_remote_code=True)

    ours = torch.tensor([p["logits"] for p in attn_predict(args.attn, args.run, TEXTS)])
    diff = (ours - hf_logits(pipe, TEXTS)).abs().max().item()
    if diff > 1e-4:
        failures.append(f"logits differ by {diff:.2e}")
    line = (f"{args.run}: pooling {pooling}; pipeline without trust_remote_code {standard}; "
            f"loaded as {type(pipe.model).__name__}: max abs logit difference {diff:.2e}")

    if args.test:
        with open(args.test, newline="") as f:
            rows = [r for _, r in zip(range(args.rows), csv.reader(f))]
        texts = [f"{r[1]} {r[2]}".replace("\n", " ").strip() for r in rows]
        theirs = [p["label"] for p in pipe(texts, truncation=True, max_length=128, batch_size=16)]
        attn = [p["label"] for p in attn_predict(args.attn, args.run, texts)]
        labels = json.load(open(f"{args.run}/labels.json"))
        truth = [labels["names"][labels["keys"].index(r[0])] for r in rows]
        accuracy = sum(t == y for t, y in zip(theirs, truth)) / len(rows)
        attn_accuracy = sum(a == y for a, y in zip(attn, truth)) / len(rows)
        agree = sum(t == a for t, a in zip(theirs, attn)) / len(rows)
        line += (f"; first {len(rows)} test rows: HF pipeline accuracy {accuracy:.4f}, "
                 f"attn {attn_accuracy:.4f}, labels agree {agree:.4f}")
        if agree < 0.995:
            failures.append(f"HF and attn agree on only {agree:.4f} of the rows")

    print(line)
    for f in failures:
        print(f"FAILED: {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
