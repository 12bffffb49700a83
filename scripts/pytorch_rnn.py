#!/usr/bin/env python3
"""PyTorch side of the RNN baseline: the model of `attn train rnn` trained on the same files.

Usage: python3 scripts/pytorch_rnn.py --run DIR [--data-dir DIR] [--epochs 8] [--batch 32]
           [--lr 2e-3] [--warmup 0.05] [--grad-clip 5] [--threads N] [--seed 42]
           [--lengths packed|padded]
Needs torch (not needed by CI). DIR is a finished `attn train rnn` run: its vocab.json (the same
words and ids, the same cut at max_len) and rnn.json (the same sizes) are used, so both sides
train the same model on the same ids. The data directory (default $AG_NEWS_DIR) holds AG News
train.csv and test.csv (class 1..4, title, description; text = title + " " + description),
tokenized as attn's basic_english: split on anything but letters, digits and ', lower-cased.
Model: embeddings, dropout, a bidirectional GRU (or LSTM) whose backward direction reads each row
right to left within its length (`--lengths packed`: pack_padded_sequence, the default; `padded`:
torch's GRU over the padded batch, faster but the backward direction then reads the padding),
Bahdanau additive attention from [final forward state; final backward state] over the states
(masked on padding), dropout, a linear layer over [query; context]. AdamW (no weight decay),
linear warmup then linear decay to 0, gradient norm clipped; batches reshuffled every epoch and
padded to each batch's longest (the batch order differs from attn's: another generator).
Prints one JSON line: {"train_s", "samples_per_s", "iterations", "test_accuracy", "eval_s"}.
"""
import argparse
import csv
import json
import os
import random
import re
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

def basic_english(text):
    """attn's basic_english: runs of letters, digits and apostrophes, lower-cased."""
    return [w.lower() for w in re.split(r"[^\w']|_", text) if w]


def read_rows(path, index, max_len):
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            text = " ".join(row[1:]).strip()
            ids = [index.get(w, 1) for w in basic_english(text)[:max_len]] or [1]
            rows.append((int(row[0]) - 1, ids))
    return rows


def collate(rows):
    lengths = torch.tensor([len(ids) for _, ids in rows])
    ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
    for r, (_, row) in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row)
    return ids, lengths, torch.tensor([label for label, _ in rows])


class AdditiveAttention(nn.Module):
    def __init__(self, d_query, d_key, d_hidden):
        super().__init__()
        self.query = nn.Linear(d_query, d_hidden, bias=False)
        self.key = nn.Linear(d_key, d_hidden)
        self.score = nn.Linear(d_hidden, 1, bias=False)

    def forward(self, query, keys, padding):
        energy = torch.tanh(self.query(query).unsqueeze(1) + self.key(keys))
        scores = self.score(energy).squeeze(2).masked_fill(padding, torch.finfo(torch.float32).min)
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1), weights


class RnnAttentionClassifier(nn.Module):
    def __init__(self, m, packed):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[m.get("cell", "gru")]
        self.packed = packed
        self.embedding = nn.Embedding(m["vocab_size"], m["embed_dim"])
        self.rnn = rnn(m["embed_dim"], m["hidden"], batch_first=True, bidirectional=True)
        state = 2 * m["hidden"]
        self.attention = AdditiveAttention(state, state, m["attention_dim"])
        self.dropout = nn.Dropout(m["dropout"])
        self.output = nn.Linear(2 * state, m["num_classes"])

    def forward(self, ids, lengths):
        x = self.dropout(self.embedding(ids))
        if self.packed:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            states, last = self.rnn(packed)
            states, _ = pad_packed_sequence(states, batch_first=True, total_length=ids.shape[1])
        else:
            states, last = self.rnn(x)
        h = last[0] if isinstance(last, tuple) else last
        query = torch.cat([h[0], h[1]], dim=1)
        padding = torch.arange(ids.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
        context, _ = self.attention(query, states, padding)
        return self.output(self.dropout(torch.cat([query, context], dim=1)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--data-dir", default=os.environ.get("AG_NEWS_DIR"))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=float, default=0.05)
    p.add_argument("--grad-clip", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--lengths", choices=["packed", "padded"], default="packed")
    args = p.parse_args()
    if not args.data_dir:
        p.error("--data-dir (or AG_NEWS_DIR) is needed")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    with open(os.path.join(args.run, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(args.run, "rnn.json"), encoding="utf-8") as f:
        config = json.load(f)["model"]
    index = {w: i for i, w in enumerate(vocab["words"])}
    train = read_rows(os.path.join(args.data_dir, "train.csv"), index, vocab["max_len"])
    test = read_rows(os.path.join(args.data_dir, "test.csv"), index, vocab["max_len"])

    model = RnnAttentionClassifier(config, args.lengths == "packed")
    # fused=True: one pass per step on the CPU too (the default loops op by op, ~4x slower here).
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, fused=True)
    per_epoch = (len(train) + args.batch - 1) // args.batch
    total = per_epoch * args.epochs
    warmup = max(1, round(args.warmup * total))

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / (total - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start, samples = time.perf_counter(), 0
    for _ in range(args.epochs):
        order = list(range(len(train)))
        random.shuffle(order)
        for i in range(0, len(order), args.batch):
            ids, lengths, labels = collate([train[j] for j in order[i : i + args.batch]])
            samples += len(labels)
            loss = loss_fn(model(ids, lengths), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            opt.step()
            sched.step()
    train_s = time.perf_counter() - start

    model.eval()
    start, correct = time.perf_counter(), 0
    with torch.inference_mode():
        for i in range(0, len(test), 256):
            ids, lengths, labels = collate(test[i : i + 256])
            correct += int((model(ids, lengths).argmax(1) == labels).sum())
    print(json.dumps({
        "train_s": round(train_s, 2),
        "samples_per_s": round(samples / train_s, 1),
        "iterations": total,
        "test_accuracy": round(correct / len(test), 4),
        "eval_s": round(time.perf_counter() - start, 2),
        "lengths": args.lengths,
        "threads": args.threads,
    }))


if __name__ == "__main__":
    main()
