#!/usr/bin/env python3
"""Checks that HF transformers loads a model saved by `attn train` and computes the same logits.

Usage: python3 scripts/check_hf_load.py RUN_DIR [ATTN_BINARY]
Needs torch + transformers (not needed by CI). Prints the max abs logit difference between
`attn predict --model RUN_DIR` and HF's BertForSequenceClassification (for a head trained with
`--pooling mean`, HF's encoder output is mean-pooled by hand and fed to the saved classifier,
since HF's class always pools [CLS]).
"""
import json
import subprocess
import sys

import torch
from transformers import AutoTokenizer, BertForSequenceClassification

TEXTS = [
    "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers are seeing green again.",
    "Nets get Carter from Raptors INDIANAPOLIS -- All-Star Vince Carter was traded to the New Jersey Nets.",
    "Google unveils a new search engine for scientific papers.",
    "Talks on Iran's nuclear programme resume in Geneva.",
]


def main():
    run = sys.argv[1]
    attn = sys.argv[2] if len(sys.argv) > 2 else "target/release/attn"
    out = subprocess.run([attn, "predict", "--model", run, *TEXTS], capture_output=True, text=True, check=True)
    ours = torch.tensor([json.loads(line)["logits"] for line in out.stdout.splitlines()])
    config = json.load(open(f"{run}/config.json"))
    model = BertForSequenceClassification.from_pretrained(run).eval()
    tok = AutoTokenizer.from_pretrained(run)
    enc = tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        if config.get("attn_pooling") == "mean":
            hidden = model.bert(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            theirs = model.classifier((hidden * mask).sum(1) / mask.sum(1))
        else:
            theirs = model(**enc).logits
    diff = (ours - theirs).abs().max().item()
    labels = [config["id2label"][str(i)] for i in theirs.argmax(1).tolist()]
    print(f"HF transformers loaded {run}: pooling {config.get('attn_pooling', 'cls')}, "
          f"max abs logit difference {diff:.2e}, HF predictions {labels}")
    sys.exit(0 if diff <= 1e-4 else 1)


if __name__ == "__main__":
    main()
