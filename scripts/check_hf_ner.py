#!/usr/bin/env python3
"""Checks that HF transformers' standard loading of an NER model saved by `attn` tags what
`attn predict` tags.

Usage:
  python3 scripts/check_hf_ner.py --model RUN_DIR [--dev FILE] [--attn BIN] [--limit N] [--hf-only]

Needs torch + transformers (not needed by CI). RUN_DIR is HF's BertForTokenClassification layout:
config.json (model_type bert, architectures ["BertForTokenClassification"], id2label/label2id),
model.safetensors (bert.* and classifier.* names), tokenizer files. The texts are the sentences
of --dev (a CoNLL file; default emerging.dev.conll in $WNUT17_DIR or ../shared/data/wnut17),
each one's tokens joined with single spaces.

0. AutoModelForTokenClassification.from_pretrained(RUN_DIR, output_loading_info=True) must load
   as BertForTokenClassification with no missing, unexpected or mismatched tensor (HF would
   otherwise draw a fresh head and only warn).
(a) `pipeline("token-classification", model=RUN_DIR, aggregation_strategy="first")`, without
   trust_remote_code, on every text: its entities (entity_group, start, end, score).
(b) `attn predict --model RUN_DIR -- TEXT...` (about --chunk texts per process); stdout holds one
   JSON line per text: {"entities": [{"text", "type", "start", "end", "score"}], "tokens": [words],
   "tags": [tag per word]}, words being BERT's pre-tokenized words (whitespace + punctuation split
   of the normalised text; a token that normalises to nothing, e.g. a lone U+FE0F, is no word) and
   start/end character (code point) offsets into the text, end exclusive.
(c) HF's tags at the model level, as the pipeline's "first" strategy takes them: the tokenizer
   with return_offsets_mapping, word_ids() for the words, each word's tag the argmax of its first
   piece (texts cut at --max-len pieces; a word cut away is "O"); a word's span runs from its first
   piece's start to its last piece's end. Entities from these tags by conlleval's rules, with the
   pipeline's score (mean over the entity's words of the first piece's top probability).
Compares (c) with attn's tags word by word, and the entity lists (type, start, end) of (a) with
those of (b) and with those of (c) (a self-check of the HF side: the pipeline decides what a word
is from its offsets, which can differ from word_ids() where normalisation changes a piece's
length). Prints the shares of agreeing words and entities and a few disagreements; exits 1 when
fewer than 99.5 % of the words agree, or when step 0 fails. --hf-only skips (b).
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from transformers import AutoModelForTokenClassification, pipeline

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_ner import data_dir, entities, read_conll  # noqa: E402

WORD_THRESHOLD = 0.995


def check_loading(run):
    """Problems with HF's standard loading of RUN (an empty list when it loads cleanly)."""
    problems = []
    config = json.load(open(os.path.join(run, "config.json"), encoding="utf-8"))
    if config.get("model_type") != "bert":
        problems.append(f"config model_type is {config.get('model_type')!r}, not 'bert'")
    if config.get("architectures") != ["BertForTokenClassification"]:
        problems.append(f"config architectures is {config.get('architectures')!r}")
    model, info = AutoModelForTokenClassification.from_pretrained(run, output_loading_info=True)
    if type(model).__name__ != "BertForTokenClassification":
        problems.append(f"loads as {type(model).__name__}")
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(key):
            problems.append(f"{key}: {sorted(map(str, info[key]))[:8]}")
    return problems


def hf_word_tags(tokenizer, model, texts, max_len, batch_size=32):
    """Per text: the word spans [(start, end)], the tags and the first-piece top probabilities."""
    id2label = model.config.id2label
    out = []
    model.eval()
    for s in range(0, len(texts), batch_size):
        batch = texts[s:s + batch_size]
        full = tokenizer(batch, return_offsets_mapping=True)  # every word, however long the text
        enc = tokenizer(batch, return_offsets_mapping=True, truncation=True, max_length=max_len,
                        padding=True, return_tensors="pt")
        inputs = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        with torch.no_grad():
            probs = model(**inputs).logits.float().softmax(-1)
        top, best = probs.max(-1)
        for i in range(len(batch)):
            spans = {}
            for w, (a, b) in zip(full.word_ids(i), full["offset_mapping"][i]):
                if w is not None:
                    spans[w] = (min(a, spans[w][0]), max(b, spans[w][1])) if w in spans else (a, b)
            n = len(spans)
            assert sorted(spans) == list(range(n)), "word ids are not 0..n-1"
            tags, scores, previous = ["O"] * n, [None] * n, None
            for pos, w in enumerate(enc.word_ids(i)):
                if w is not None and w != previous:
                    tags[w] = id2label[int(best[i, pos])]
                    scores[w] = float(top[i, pos])
                previous = w
            out.append({"spans": [spans[w] for w in range(n)], "tags": tags, "scores": scores})
    return out


def word_entities(words):
    """conlleval entities of (c)'s word tags as {(type, start, end): score}."""
    found = {}
    for a, b, kind in entities(words["tags"]):
        scores = [x for x in words["scores"][a:b] if x is not None]
        score = sum(scores) / len(scores) if scores else 0.0
        found[(kind, words["spans"][a][0], words["spans"][b - 1][1])] = score
    return found


def attn_predict(attn, run, texts, chunk):
    out = []
    for s in range(0, len(texts), chunk):
        part = texts[s:s + chunk]
        proc = subprocess.run([attn, "predict", "--model", run, "--", *part],
                              capture_output=True, text=True, encoding="utf-8")
        if proc.returncode != 0:
            sys.exit(f"attn predict failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        lines = [json.loads(l) for l in proc.stdout.splitlines() if l.lstrip().startswith("{")]
        if len(lines) != len(part):
            sys.exit(f"attn predict printed {len(lines)} JSON lines for {len(part)} texts")
        out.extend(lines)
    return out


def compare_sets(pairs):
    """Shares of agreement of per-text entity sets: |A & B| / |A | B| summed over texts."""
    same = union = only_a = only_b = 0
    for a, b in pairs:
        same += len(a & b)
        union += len(a | b)
        only_a += len(a - b)
        only_b += len(b - a)
    return (same / union if union else 1.0), same, only_a, only_b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="run directory saved by attn (HF layout)")
    ap.add_argument("--dev", default=None, help="CoNLL file; default emerging.dev.conll in $WNUT17_DIR")
    ap.add_argument("--attn", default="target/release/attn")
    ap.add_argument("--hf-only", action="store_true", help="skip attn: check the HF parts (a) and (c)")
    ap.add_argument("--max-len", type=int, default=128, help="pieces per text in (c), specials included")
    ap.add_argument("--limit", type=int, help="only the first N sentences")
    ap.add_argument("--chunk", type=int, default=200, help="texts per attn process")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--show", type=int, default=5, help="disagreements to print of each kind")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = read_conll(args.dev or os.path.join(data_dir(), "emerging.dev.conll"))
    if args.limit:
        dev = dev[:args.limit]
    texts = [" ".join(words) for words, _ in dev]

    problems = check_loading(args.model)
    for p in problems:
        print(f"loading: {p}")

    pipe = pipeline("token-classification", model=args.model, aggregation_strategy="first")
    print(f"{args.model}: pipeline loads {type(pipe.model).__name__} with {type(pipe.tokenizer).__name__}; "
          f"{len(texts)} texts, {pipe.model.config.num_labels} labels")
    pipe_out = pipe(texts, batch_size=32)
    pipe_ents = [{(e["entity_group"], int(e["start"]), int(e["end"])): float(e["score"]) for e in ents}
                 for ents in pipe_out]
    hf = hf_word_tags(pipe.tokenizer, pipe.model, texts, args.max_len)
    hf_ents = [word_entities(w) for w in hf]
    n_words = sum(len(w["tags"]) for w in hf)
    share, same, only_pipe, only_words = compare_sets([(set(p), set(h)) for p, h in zip(pipe_ents, hf_ents)])
    print(f"(c) vs (a): {n_words} words, {sum(map(len, pipe_ents))} pipeline entities; entities agree "
          f"{share:.2%} ({same} same, {only_pipe} only in the pipeline, {only_words} only from word tags)")
    shown = 0
    for text, p, h in zip(texts, pipe_ents, hf_ents):
        if set(p) != set(h) and shown < args.show:
            shown += 1
            print(f"  pipeline {sorted(set(p) - set(h))} vs word tags {sorted(set(h) - set(p))} in {text!r}")

    if args.hf_only:
        print("--hf-only: attn skipped")
        sys.exit(1 if problems else 0)

    ours = attn_predict(args.attn, args.model, texts, args.chunk)
    agree = total = length_mismatch = text_mismatch = 0
    word_diffs, length_diffs = [], []
    normalize = pipe.tokenizer.backend_tokenizer.normalizer
    norm = (lambda s: normalize.normalize_str(s)) if normalize is not None else (lambda s: s)
    for text, h, o in zip(texts, hf, ours):
        total += len(h["tags"])
        if len(o.get("tags", [])) != len(h["tags"]) or len(o.get("tokens", [])) != len(h["tags"]):
            length_mismatch += 1
            length_diffs.append((text, [text[a:b] for a, b in h["spans"]], o.get("tokens")))
            continue
        for (a, b), tag, word, their in zip(h["spans"], h["tags"], o["tokens"], o["tags"]):
            if norm(word) != norm(text[a:b]):
                text_mismatch += 1
            if tag == their:
                agree += 1
            else:
                word_diffs.append((text, text[a:b], tag, their))
    word_share = agree / total if total else 1.0
    attn_ents = [{(e["type"], int(e["start"]), int(e["end"])): float(e.get("score", 0.0))
                  for e in o.get("entities", [])} for o in ours]
    e_share, e_same, only_pipe, only_attn = compare_sets([(set(p), set(a)) for p, a in zip(pipe_ents, attn_ents)])
    score_diff = max((abs(p[k] - a[k]) for p, a in zip(pipe_ents, attn_ents) for k in set(p) & set(a)), default=0.0)

    for text, word, tag, their in word_diffs[:args.show]:
        print(f"  word {word!r}: HF {tag}, attn {their} in {text!r}")
    for text, words, tokens in length_diffs[:args.show]:
        print(f"  words differ: HF {words} vs attn {tokens} in {text!r}")
    shown = 0
    for text, p, a in zip(texts, pipe_ents, attn_ents):
        if set(p) != set(a) and shown < args.show:
            shown += 1
            print(f"  pipeline {sorted(set(p) - set(a))} vs attn {sorted(set(a) - set(p))} in {text!r}")
    print(f"(c) vs (b): words agree {word_share:.2%} ({agree}/{total}); {length_mismatch} texts split into "
          f"other words; {text_mismatch} words whose text differs")
    print(f"(a) vs (b): entities agree {e_share:.2%} ({e_same} same, {only_pipe} only in the pipeline, "
          f"{only_attn} only in attn); max score difference of shared entities {score_diff:.2e}")
    ok = word_share >= WORD_THRESHOLD and not problems
    print(f"{'OK' if ok else 'FAIL'}: {word_share:.2%} of words agree (threshold {WORD_THRESHOLD:.1%})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
