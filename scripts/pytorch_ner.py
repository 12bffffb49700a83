#!/usr/bin/env python3
"""Named-entity recognition on WNUT 2017 with HF transformers' own token-classification recipe.

Usage:
  python3 scripts/pytorch_ner.py --model DIR [--train FILE] [--dev FILE] [--epochs 3] ...

Needs torch + transformers (not needed by CI). The reference that `attn train ner` is measured
against: what examples/pytorch/token-classification/run_ner.py does, as a plain PyTorch loop.

Data: CoNLL files, one token a line; the tag is the last whitespace-separated column and the token
the first; a blank or whitespace-only line (WNUT's train file uses a line holding a single TAB)
ends a sentence; -DOCSTART- lines are skipped. --train and --dev default to wnut17train.conll and
emerging.dev.conll in $WNUT17_DIR, else in ../shared/data/wnut17 relative to the repo root.

Label order (the rule `attn` follows too): "O" is id 0, then every other tag seen in the training
file in ascending code-point order (Python's sorted()): for WNUT 2017
O, B-corporation, B-creative-work, B-group, B-location, B-person, B-product, I-corporation, ...
A dev tag absent from that set is scored as gold but can never be predicted.

Model: AutoModelForTokenClassification from --model with num_labels/id2label/label2id set that
way: the encoder's weights, a fresh linear head (HF's init, normal(0, 0.02), zero bias, drawn after
torch.manual_seed(--seed)), dropout as the config has it (0.1).
Tokens: tokenizer(words, is_split_into_words=True, truncation=True, max_length=--max-len); the
first piece of each word carries the word's tag, the other pieces and [CLS]/[SEP] -100 (ignored).
--label-all-pieces labels every piece with its word's tag, B-X turned into I-X on continuation
pieces (run_ner's label_all_tokens). Batches are padded to their longest.
Training (Trainer's defaults): AdamW (torch.optim.AdamW, lr --lr 5e-5, betas 0.9/0.999, eps 1e-8,
weight decay 0), the lr decayed linearly to 0 over all steps without warm-up (stepped after each
optimizer step), the global gradient norm clipped at --max-grad-norm 1.0 (0 turns it off), batch
--batch-size 16, the training sentences reshuffled each epoch by a torch.Generator seeded with
--seed, mean cross-entropy over the labelled pieces of a batch.
Evaluation on --dev: each word's tag is the argmax of its first piece; a word with no piece (it
normalises to nothing, e.g. a lone U+FE0F, or its pieces were truncated away) is predicted "O".
Entities follow conlleval's rules (an I-X after O or after another type opens a new entity), and
precision/recall/F1 are micro-averaged over entities; token_accuracy is the share of dev words
whose predicted tag equals the gold tag.

Prints `epoch E: loss L` per epoch (mean batch loss), then `Entity F1: X` and one JSON line
{"f1", "precision", "recall", "token_accuracy", "train_seconds", "epoch_seconds", "epochs", "seed",
"torch", "transformers", ...}; train_seconds is the wall time of the training epochs alone.
"""
import argparse
import json
import math
import os
import random
import time

import torch
import transformers
from transformers import AutoModelForTokenClassification, AutoTokenizer, get_linear_schedule_with_warmup

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data_dir():
    return os.environ.get("WNUT17_DIR") or os.path.normpath(os.path.join(REPO, "..", "shared", "data", "wnut17"))


def read_conll(path):
    """Sentences as (words, tags) lists. Tag: last whitespace-separated column; word: the first."""
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts:
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
                continue
            if parts[0] == "-DOCSTART-":
                continue
            if len(parts) < 2:
                raise ValueError(f"{path}: a line without a tag: {line!r}")
            words.append(parts[0])
            tags.append(parts[-1])
    if words:
        sentences.append((words, tags))
    return sentences


def label_list(sentences):
    """"O" first, then the other tags in ascending code-point order."""
    seen = {t for _, tags in sentences for t in tags}
    return ["O"] + sorted(seen - {"O"})


def entities(tags):
    """conlleval's chunks of an IOB tag sequence as a set of (start, end, type), end exclusive."""
    out, start, kind = set(), 0, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, typ = tag.partition("-")
        if kind is not None and (prefix != "I" or typ != kind):
            out.add((start, i, kind))
            kind = None
        if prefix in ("B", "I") and kind is None:
            start, kind = i, typ
    return out


def score(gold, pred):
    """Micro entity precision/recall/F1 and word accuracy over lists of tag sequences."""
    correct = n_gold = n_pred = same = words = 0
    for g, p in zip(gold, pred):
        ge, pe = entities(g), entities(p)
        correct += len(ge & pe)
        n_gold += len(ge)
        n_pred += len(pe)
        same += sum(a == b for a, b in zip(g, p))
        words += len(g)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall,
            "token_accuracy": same / words if words else 0.0,
            "gold_entities": n_gold, "predicted_entities": n_pred, "correct_entities": correct}


def encode(tokenizer, sentences, label2id, max_len, label_all):
    """Per sentence: input_ids, labels (-100 where ignored), and each piece's word index (or None)."""
    b_to_i = {}
    for label in label2id:
        if label.startswith("B-") and "I-" + label[2:] in label2id:
            b_to_i[label] = "I-" + label[2:]
    examples = []
    for words, tags in sentences:
        enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_len)
        word_ids = enc.word_ids()
        labels, previous = [], None
        for w in word_ids:
            if w is None:
                labels.append(-100)
            elif w != previous:
                labels.append(label2id.get(tags[w], -100))
            elif label_all:
                tag = b_to_i.get(tags[w], tags[w])
                labels.append(label2id.get(tag, -100))
            else:
                labels.append(-100)
            previous = w
        examples.append({"input_ids": enc["input_ids"], "labels": labels, "word_ids": word_ids})
    return examples


def collate(batch, pad_id):
    n = max(len(e["input_ids"]) for e in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    labels = torch.full((len(batch), n), -100, dtype=torch.long)
    for i, e in enumerate(batch):
        k = len(e["input_ids"])
        ids[i, :k] = torch.tensor(e["input_ids"])
        mask[i, :k] = 1
        labels[i, :k] = torch.tensor(e["labels"])
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids), "labels": labels}


def predict(model, examples, n_words, id2label, pad_id, batch_size):
    """Word-level tags: the argmax at each word's first piece, "O" for a word without pieces."""
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(examples), batch_size):
            chunk = examples[s:s + batch_size]
            b = collate(chunk, pad_id)
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                           token_type_ids=b["token_type_ids"]).logits
            best = logits.argmax(-1).tolist()
            for e, row, n in zip(chunk, best, n_words[s:s + batch_size]):
                tags, previous = ["O"] * n, None
                for pos, w in enumerate(e["word_ids"]):
                    if w is not None and w != previous:
                        tags[w] = id2label[row[pos]]
                    previous = w
                out.append(tags)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="HF-layout BERT directory (e.g. all-MiniLM-L6-v2)")
    ap.add_argument("--train", default=None, help="default: wnut17train.conll in $WNUT17_DIR")
    ap.add_argument("--dev", default=None, help="default: emerging.dev.conll in $WNUT17_DIR")
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--label-all-pieces", action="store_true")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-grad-norm", type=float, default=1.0, help="0 turns clipping off")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", help="also save the fine-tuned model and tokenizer here")
    args = ap.parse_args()
    train_path = args.train or os.path.join(data_dir(), "wnut17train.conll")
    dev_path = args.dev or os.path.join(data_dir(), "emerging.dev.conll")

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)

    train = read_conll(train_path)
    dev = read_conll(dev_path)
    labels = label_list(train)
    label2id = {l: i for i, l in enumerate(labels)}
    id2label = {i: l for i, l in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForTokenClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=id2label, label2id=label2id)
    pad_id = tokenizer.pad_token_id
    train_ex = encode(tokenizer, train, label2id, args.max_len, args.label_all_pieces)
    dev_ex = encode(tokenizer, dev, label2id, args.max_len, False)

    steps_per_epoch = math.ceil(len(train_ex) / args.batch_size)
    total = steps_per_epoch * args.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=0, num_training_steps=total)
    gen = torch.Generator().manual_seed(args.seed)

    start = time.time()
    epoch_seconds = []
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.time()
        model.train()
        order = torch.randperm(len(train_ex), generator=gen).tolist()
        losses = []
        for s in range(0, len(order), args.batch_size):
            batch = collate([train_ex[i] for i in order[s:s + args.batch_size]], pad_id)
            loss = model(**batch).loss
            loss.backward()
            if args.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        epoch_seconds.append(round(time.time() - epoch_start, 1))
        print(f"epoch {epoch}: loss {sum(losses) / len(losses):.4f}", flush=True)
    train_seconds = time.time() - start

    pred = predict(model, dev_ex, [len(w) for w, _ in dev], id2label, pad_id, 64)
    result = score([t for _, t in dev], pred)
    no_pieces = sum(len(w) - len({x for x in e["word_ids"] if x is not None}) for (w, _), e in zip(dev, dev_ex))
    if args.out:
        model.save_pretrained(args.out, safe_serialization=True)
        tokenizer.save_pretrained(args.out)
    print(f"Entity F1: {result['f1']:.4f}")
    print(json.dumps({
        "f1": round(result["f1"], 4), "precision": round(result["precision"], 4),
        "recall": round(result["recall"], 4), "token_accuracy": round(result["token_accuracy"], 4),
        "train_seconds": round(train_seconds, 1), "epoch_seconds": epoch_seconds, "epochs": args.epochs, "seed": args.seed,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "lr": args.lr, "batch_size": args.batch_size, "max_len": args.max_len,
        "label_all_pieces": args.label_all_pieces, "max_grad_norm": args.max_grad_norm,
        "threads": args.threads, "gold_entities": result["gold_entities"],
        "predicted_entities": result["predicted_entities"], "correct_entities": result["correct_entities"],
        "dev_words_without_pieces": no_pieces,
    }))


if __name__ == "__main__":
    main()
