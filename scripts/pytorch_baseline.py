#!/usr/bin/env python3
"""PyTorch + HF transformers side of `attn bench`: the same batches, one JSON line.

Usage: python3 scripts/pytorch_baseline.py train|infer --model DIR [--config bert-base]
           [--batch N] [--steps 20] [--warmup 3] [--max-len 128] [--threads N] [--seed 42]
           [--device cpu|cuda] [--amp bf16]
Needs torch + transformers (not needed by CI). Mirrors `attn bench`: with AG_NEWS_DIR set, the
train.csv rows in file order (title + " " + description, labels 1..4 -> 0..3), tokenized by the
model directory's tokenizer, cut at --max-len, padded to each batch's longest; without it, the
same synthetic batches (token counts 24..=72, ids in [1000, vocab)) drawn by a different generator.
Train steps: BertForSequenceClassification (the config's dropout), AdamW lr 2e-5, weight decay
0.01, eps 1e-8, gradient norm clipped at 1.0. Infer: eval mode under torch.inference_mode().
On --device cuda every phase ends with torch.cuda.synchronize() (as `attn bench` syncs its GPU
backends), and --amp bf16 runs the forward pass under torch.autocast (f32 master weights).
Prints {"median_step_s", "samples_per_s", "padded_tokens_per_s", "real_token_share",
"peak_rss_bytes", "steps"} (train adds forward_s, backward_s, optimizer_s).
"""
import argparse
import csv
import json
import os
import random
import resource
import statistics
import time

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

PRESETS = {
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "bert-large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    "minilm-l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
}


def batches(args, count, vocab):
    data_dir = os.environ.get("AG_NEWS_DIR")
    if data_dir:
        tok = AutoTokenizer.from_pretrained(args.model)
        rows = []
        with open(os.path.join(data_dir, "train.csv"), newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                rows.append((int(row[0]) - 1, " ".join(row[1:])))
                if len(rows) == count * args.batch:
                    break
        out = []
        for i in range(0, len(rows) - args.batch + 1, args.batch):
            chunk = rows[i : i + args.batch]
            enc = tok([t for _, t in chunk], truncation=True, max_length=args.max_len, padding="longest", return_tensors="pt")
            out.append((enc["input_ids"], enc["attention_mask"], torch.tensor([l for l, _ in chunk])))
        return out
    rng = random.Random(args.seed)
    out = []
    for _ in range(count):
        lens = [rng.randint(24, 72) for _ in range(args.batch)]
        longest = max(lens)
        ids = torch.zeros(args.batch, longest, dtype=torch.long)
        mask = torch.zeros(args.batch, longest, dtype=torch.long)
        for r, n in enumerate(lens):
            ids[r, :n] = torch.tensor([rng.randrange(1000, vocab) for _ in range(n)])
            mask[r, :n] = 1
        out.append((ids, mask, torch.tensor([rng.randrange(4) for _ in range(args.batch)])))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "infer"])
    p.add_argument("--model", required=True)
    p.add_argument("--config")
    p.add_argument("--batch", type=int)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--amp", choices=["bf16"])
    args = p.parse_args()
    args.batch = args.batch or (8 if args.mode == "train" else 32)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.config:
        config = BertConfig(vocab_size=30522, num_labels=4, **PRESETS[args.config])
        model = BertForSequenceClassification(config)
    else:
        model = BertForSequenceClassification.from_pretrained(args.model, num_labels=4)
    data = batches(args, args.warmup + args.steps, model.config.vocab_size)
    dev = torch.device(args.device)
    model.to(dev)
    data = [tuple(t.to(dev) for t in batch) for batch in data]

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def autocast():
        return torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.amp == "bf16")
    times, phases, used = [], [], []
    if args.mode == "train":
        model.train()
        optim = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, eps=1e-8)
    else:
        model.eval()
    for i in range(args.warmup + args.steps):
        ids, mask, labels = data[i % len(data)]
        t0 = time.perf_counter()
        if args.mode == "train":
            with autocast():
                out = model(input_ids=ids, attention_mask=mask, labels=labels)
            out.loss.item()
            t1 = time.perf_counter()
            optim.zero_grad()
            out.loss.backward()
            sync()
            t2 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sync()
            t3 = time.perf_counter()
            phase = (t1 - t0, t2 - t1, t3 - t2)
        else:
            with torch.inference_mode(), autocast():
                model(input_ids=ids, attention_mask=mask).logits.argmax(-1).tolist()
            phase = None
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            phases.append(phase)
            used.append((ids, mask))
    med = statistics.median(times)
    steps = len(times)
    rows = sum(ids.shape[0] for ids, _ in used)
    padded = sum(ids.numel() for ids, _ in used)
    real = sum(int(mask.sum()) for _, mask in used)
    report = {
        "median_step_s": med,
        "samples_per_s": rows / steps / med,
        "padded_tokens_per_s": padded / steps / med,
        "real_token_share": real / padded,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "steps": steps,
    }
    if args.device == "cuda":
        report["peak_device_bytes"] = torch.cuda.max_memory_allocated()
    if args.mode == "train":
        for k, name in enumerate(["forward_s", "backward_s", "optimizer_s"]):
            report[name] = statistics.median(ph[k] for ph in phases)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
