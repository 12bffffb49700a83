#!/usr/bin/env python3
"""The default `cargo xtask train-bert` run, in PyTorch + HF transformers, on the same batches.

Usage:
  attn data batches --iterations 500 --batch-size 8 --seed 42 > order.jsonl
  python3 scripts/pytorch_finetune.py --model DIR --order order.jsonl --out torch-metrics.jsonl [--eval]

Needs torch + transformers (not needed by CI); AG_NEWS_DIR (or --data-dir) gives train.csv and
test.csv. Mirrors `attn train bert`'s defaults: the pre-trained encoder with dropout 0, a fresh
linear head (normal(0, 0.02) weights, zero bias) on the attention-masked mean of the last hidden
state (--pooling cls: HF's [CLS] pooler), AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.01 on
every parameter, as burn's), lr 1.5e-4 with linear warm-up over 10 % of the iterations then linear
decay to 0 (`TrainConfig::lr_at`), each parameter's gradient norm clipped at 1.0 on its own (as
burn's `GradientClippingConfig::Norm`, not torch's global norm), texts cut at 128 tokens, each
batch padded to its longest; lr 2e-4 with layer-wise decay 0.8 (head and pooler at lr, the top
encoder layer at lr * 0.8, ... the embeddings at lr * 0.8^(layers + 1)), label smoothing 0.1, and
the model evaluated is the bias-corrected moving average of the weights (decay 0.99) as
`attn_train::Ema` keeps it. Writes one JSON line per report, like `metrics.jsonl`:
{"iteration", "loss", "train_accuracy", "lr", "samples_per_s"}, and with --eval prints
`Final accuracy: X` on the full test set.
"""
import argparse
import csv
import json
import os
import time

import torch
from transformers import AutoTokenizer, BertModel


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(int(r[0]) - 1, " ".join(r[1:])) for r in csv.reader(f)]


class Classifier(torch.nn.Module):
    def __init__(self, model_dir, dropout, pooling, classes=4):
        super().__init__()
        self.bert = BertModel.from_pretrained(
            model_dir, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout
        )
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(self.bert.config.hidden_size, classes)
        torch.nn.init.normal_(self.classifier.weight, std=self.bert.config.initializer_range)
        torch.nn.init.zeros_(self.classifier.bias)
        self.pooling = pooling

    def forward(self, ids, mask):
        out = self.bert(input_ids=ids, attention_mask=mask)
        if self.pooling == "cls":
            pooled = out.pooler_output
        else:
            m = mask.unsqueeze(-1).float()
            pooled = (out.last_hidden_state * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return self.classifier(self.dropout(pooled))


def depth_groups(model):
    """Parameter groups by depth below the head, as `Classify::grads_by_depth`."""
    layers = model.bert.encoder.layer
    groups = [(0, list(model.classifier.parameters()) + list(model.bert.pooler.parameters()))]
    for i, layer in enumerate(layers):
        groups.append((len(layers) - i, list(layer.parameters())))
    groups.append((len(layers) + 1, list(model.bert.embeddings.parameters())))
    return [{"params": params, "depth": depth} for depth, params in groups]


def lr_at(it, lr, warmup, total):
    warm = round(warmup * total)
    step = it + 1
    if step <= warm:
        return lr * step / warm
    return lr * min(max((total - step + 1) / max(total - warm, 1), 0.0), 1.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--order", required=True, help="output of `attn data batches`")
    p.add_argument("--data-dir", default=os.environ.get("AG_NEWS_DIR"))
    p.add_argument("--out", required=True)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--layer-decay", type=float, default=0.8)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--ema", type=float, default=0.99)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--pooling", choices=["mean", "cls"], default="mean")
    p.add_argument("--max-len", type=int, default=128)
    p.add_argument("--report-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--eval", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    tok = AutoTokenizer.from_pretrained(args.model)
    train = read_rows(os.path.join(args.data_dir, "train.csv"))
    order = [json.loads(line)["rows"] for line in open(args.order)]
    total = len(order)
    model = Classifier(args.model, args.dropout, args.pooling)
    model.train()
    optim = torch.optim.AdamW(depth_groups(model), lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
                              weight_decay=args.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    average = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss_sum, correct, seen, window = 0.0, 0, 0, time.perf_counter()
    with open(args.out, "w") as out:
        for it, rows in enumerate(order):
            batch = [train[i] for i in rows]
            enc = tok([t for _, t in batch], truncation=True, max_length=args.max_len,
                      padding="longest", return_tensors="pt")
            labels = torch.tensor([l for l, _ in batch])
            lr = lr_at(it, args.lr, args.warmup, total)
            for group in optim.param_groups:
                group["lr"] = lr * args.layer_decay ** group["depth"]
            logits = model(enc["input_ids"], enc["attention_mask"])
            loss = loss_fn(logits, labels)
            optim.zero_grad()
            loss.backward()
            if args.grad_clip > 0:
                for param in model.parameters():
                    if param.grad is not None:
                        torch.nn.utils.clip_grad_norm_([param], args.grad_clip)
            optim.step()
            if args.ema > 0:
                # Bias-corrected: step t of the average has weight (1 - d) / (1 - d^t).
                rate = (1 - args.ema) / (1 - args.ema ** (it + 1))
                with torch.no_grad():
                    for n, param in model.named_parameters():
                        average[n] += (param.detach() - average[n]) * rate
            loss_sum += loss.item() * len(batch)
            correct += int((logits.argmax(-1) == labels).sum())
            seen += len(batch)
            done = it + 1
            if done % args.report_every == 0 or done == total:
                report = {"iteration": done, "loss": loss_sum / seen, "train_accuracy": correct / seen,
                          "lr": lr, "samples_per_s": seen / (time.perf_counter() - window)}
                print(f"Loss = {report['loss']:.4f}, Accuracy = {report['train_accuracy']:.4f}  "
                      f"(iteration {done}/{total}, {report['samples_per_s']:.1f} samples/s)", flush=True)
                out.write(json.dumps(report) + "\n")
                loss_sum, correct, seen, window = 0.0, 0, 0, time.perf_counter()
    if args.eval:
        test = read_rows(os.path.join(args.data_dir, "test.csv"))
        test.sort(key=lambda r: len(r[1]))
        if args.ema > 0:
            with torch.no_grad():
                for n, param in model.named_parameters():
                    param.copy_(average[n])
        model.eval()
        hits = 0
        with torch.inference_mode():
            for i in range(0, len(test), 32):
                batch = test[i : i + 32]
                enc = tok([t for _, t in batch], truncation=True, max_length=args.max_len,
                          padding="longest", return_tensors="pt")
                pred = model(enc["input_ids"], enc["attention_mask"]).argmax(-1)
                hits += int((pred == torch.tensor([l for l, _ in batch])).sum())
        print(f"Final accuracy: {hits / len(test):.4f}")


if __name__ == "__main__":
    main()
