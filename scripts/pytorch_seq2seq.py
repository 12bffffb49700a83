#!/usr/bin/env python3
"""PyTorch side of the translator: the model of `attn train seq2seq` trained on the same tokens.

Usage: python3 scripts/pytorch_seq2seq.py --run DIR [--data-dir DIR] [--src de] [--tgt en]
           [--iterations 100] [--batch 64] [--lr 2e-3] [--warmup 0.1] [--grad-clip 1]
           [--threads N] [--seed 42] [--all-rows]
Needs torch (not needed by CI), and the tokenizers package for a subword run. DIR is a finished (or
started) `attn train seq2seq` run: its source_vocab.json and target_vocab.json (the same tokens and
ids, the same cut at max_len), with subwords its source_subwords.json and target_subwords.json (the
same byte-pair pieces, `##` marking a word's continuation) and seq2seq.json (the same sizes) are
used, so both sides train the same model on the same ids. The
data directory (default $MULTI30K_DIR) holds Multi30k's train.{src,tgt}; sentences are tokenized as
attn's translation_tokens: lowercased runs of letters and digits (an apostrophe inside a word kept),
every other visible character on its own.
Model (written the efficient way, as attn runs it): embeddings with dropout, a bidirectional GRU
over the packed source, the decoder's first state tanh(W [final forward; final backward]), the
attention keys U h_i + b computed once per sentence, and at each decoder step e_i = tanh(W s + U
h_i), score_i = v . e_i masked on padding, the context, a GRU step on [previous word; context],
then (with a maxout width) a maxout layer over [state; context; previous word] and the word
scores, on the real target positions only. The rows are sorted longest target first and each
decoder step runs only the rows still decoding, as attn does (`--all-rows`: every row at every
step, the way most PyTorch decoders are written). Teacher forcing 1, AdamW (eps 1e-8, weight decay
0.01), linear warmup then linear decay to 0 over --iterations, gradient norm clipped.
Prints one JSON line: {"train_s", "samples_per_s", "iterations", "loss"}.
"""
import argparse
import json
import os
import random
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def translation_tokens(text):
    """attn's translation_tokens."""
    tokens, word = [], ""
    for i, c in enumerate(text):
        inner = c == "'" and word and i + 1 < len(text) and text[i + 1].isalnum()
        if c.isalnum() or inner:
            word += c.lower()
            continue
        if word:
            tokens.append(word)
            word = ""
        if not c.isspace():
            tokens.append(c.lower())
    if word:
        tokens.append(word)
    return tokens


def load_subwords(path):
    """attn's Subwords::split over the words of a sentence: the BPE pieces of each word, an
    unknown piece inside a word kept a continuation."""
    from tokenizers.models import BPE

    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    bpe = BPE(saved["vocab"], [tuple(m) for m in saved["merges"]], unk_token="<unk>",
              continuing_subword_prefix="##", fuse_unk=True)

    def split(words):
        pieces = []
        for word in words:
            tokens = [t.value for t in bpe.tokenize(word)] or ["<unk>"]
            pieces += [tokens[0]] + ["##<unk>" if t == "<unk>" else t for t in tokens[1:]]
        return pieces

    return split


def load_vocab(path):
    with open(path, encoding="utf-8") as f:
        v = json.load(f)
    return {w: i for i, w in enumerate(v["words"])}, v["max_len"]


class Seq2Seq(nn.Module):
    def __init__(self, c):
        super().__init__()
        e, he, hd, a = c["embed_dim"], c["encoder_hidden"], c["decoder_hidden"], c["attention_dim"]
        self.src_emb = nn.Embedding(c["source_vocab"], e)
        self.tgt_emb = nn.Embedding(c["target_vocab"], e)
        self.encoder = nn.GRU(e, he, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * he, hd)
        self.query = nn.Linear(hd, a, bias=False)
        self.key = nn.Linear(2 * he, a)
        self.score = nn.Linear(a, 1, bias=False)
        self.decoder = nn.GRUCell(e + 2 * he, hd)
        features = hd + 2 * he + e
        self.maxout = c.get("maxout", 0)
        self.readout = nn.Linear(features, 2 * self.maxout) if self.maxout else None
        self.output = nn.Linear(self.maxout or features, c["target_vocab"])
        self.dropout = nn.Dropout(c["dropout"])
        self.attention = c["attention"]

    def forward(self, src, lengths, inputs, active, shrink):
        x = self.dropout(self.src_emb(src))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        states, final = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True)
        summary = torch.cat([final[0], final[1]], 1)
        s = torch.tanh(self.bridge(summary))
        keys = self.key(states)
        pad = torch.arange(states.shape[1])[None, :] >= lengths[:, None]
        words = self.dropout(self.tgt_emb(inputs))
        features = []
        for t, n in enumerate(active):
            if shrink and n < s.shape[0]:
                # The rows still decoding (a prefix: longest target first), as attn steps them.
                s, keys, states, pad, summary = s[:n], keys[:n], states[:n], pad[:n], summary[:n]
            if self.attention:
                energy = torch.tanh(self.query(s)[:, None, :] + keys)
                scores = self.score(energy).squeeze(2).masked_fill(pad, float("-inf"))
                alpha = torch.softmax(scores, 1)
                context = torch.bmm(alpha[:, None, :], states).squeeze(1)
            else:
                context = summary
            w = words[: s.shape[0], t]
            s = self.decoder(torch.cat([w, context], 1), s)
            features.append(torch.cat([s, context, w], 1)[:n])
        f = torch.cat(features, 0)
        if self.readout is not None:
            f = self.readout(f).view(f.shape[0], -1, 2).max(2).values
        return self.output(f)


def collate(pairs):
    """Rows longest target first; the labels step by step, each step's rows still decoding."""
    pairs = sorted(pairs, key=lambda p: -len(p[1]))
    lengths = torch.tensor([len(s) for s, _ in pairs])
    src = torch.zeros(len(pairs), int(lengths.max()), dtype=torch.long)
    steps = [max(len(t) - 1, 1) for _, t in pairs]
    inputs = torch.zeros(len(pairs), max(steps), dtype=torch.long)
    for r, (s, t) in enumerate(pairs):
        src[r, : len(s)] = torch.tensor(s)
        inputs[r, : len(t) - 1] = torch.tensor(t[:-1])
    active = [sum(1 for n in steps if n > t) for t in range(max(steps))]
    labels = [pairs[r][1][t + 1] for t, n in enumerate(active) for r in range(n)]
    return src, lengths, inputs, active, torch.tensor(labels)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--data-dir", default=os.environ.get("MULTI30K_DIR"))
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--all-rows", action="store_true",
                   help="step every row at every decoder step (the finished ones' padding too)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    with open(os.path.join(a.run, "seq2seq.json"), encoding="utf-8") as f:
        saved = json.load(f)
    config = saved["model"]
    src_split = tgt_split = lambda words: words
    if saved["settings"].get("subwords", 0):
        src_split = load_subwords(os.path.join(a.run, "source_subwords.json"))
        tgt_split = load_subwords(os.path.join(a.run, "target_subwords.json"))
    src_index, src_max = load_vocab(os.path.join(a.run, "source_vocab.json"))
    tgt_index, tgt_max = load_vocab(os.path.join(a.run, "target_vocab.json"))

    def read(lang):
        with open(os.path.join(a.data_dir, f"train.{lang}"), encoding="utf-8") as f:
            return [line.strip() for line in f]

    pairs = []
    for s, t in zip(read(a.src), read(a.tgt)):
        sid = [src_index.get(w, 1) for w in src_split(translation_tokens(s))[:src_max]] or [1]
        tid = [2] + [tgt_index.get(w, 1) for w in tgt_split(translation_tokens(t))[:tgt_max]] + [3]
        pairs.append((sid, tid))
    model = Seq2Seq(config)
    optim = torch.optim.AdamW(model.parameters(), lr=a.lr, eps=1e-8, weight_decay=0.01)
    warm = max(1, int(a.warmup * a.iterations))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda i: (i + 1) / warm if i < warm else max(0.0, (a.iterations - i) / (a.iterations - warm))
    )
    order = list(range(len(pairs)))
    random.shuffle(order)
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    for it in range(a.iterations):
        rows = [pairs[order[(it * a.batch + j) % len(pairs)]] for j in range(a.batch)]
        src, lengths, inputs, active, labels = collate(rows)
        loss = loss_fn(model(src, lengths, inputs, active, not a.all_rows), labels)
        optim.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        optim.step()
        schedule.step()
    train_s = time.perf_counter() - started
    print(json.dumps({
        "train_s": train_s,
        "samples_per_s": a.iterations * a.batch / train_s,
        "iterations": a.iterations,
        "loss": loss.item(),
    }))


if __name__ == "__main__":
    main()
