#!/usr/bin/env python3
"""Writes the token-classification (NER) fixture of the attn-transformer tests with PyTorch + HF
transformers.

Run from the repo root:  python3 scripts/make_ner_fixture.py
Needs: torch, transformers (not needed by CI: the outputs are committed). Reuses the vocabulary
and tokenizer.json of tests/fixtures/tiny-bert-cls (written by tests/fixtures/make_fixtures.py).

Writes crates/transformer/tests/fixtures/tiny-bert-ner/:
  config.json, model.safetensors  BertForTokenClassification (2 layers, hidden 32, 2 heads,
                     intermediate 37, 5 labels O, B-PER, I-PER, B-LOC, I-LOC in that id order, so
                     not the sorted order `attn train ner` gives its own labels), `bert.`- and
                     `classifier.`-prefixed names, no pooler; torch.manual_seed(0), then every
                     LayerNorm and bias moved by normal(0, 0.1) so that a swapped or missed tensor
                     shows, and the classifier's weight redrawn from normal(0, 0.5) so that the
                     tags vary from word to word
  vocab.txt, tokenizer.json  copied from tiny-bert-cls
  reference.json     for 3 texts given as word lists, HF's outputs in eval mode:
    labels           id2label as a list
    cases[i].words   the words; text: the words joined with single spaces
    input_ids, tokens  tokenizer(words, is_split_into_words=True); the same ids as for the text
    word_ids         the word (index into words) of each piece, null for [CLS]/[SEP]; a word that
                     normalises to nothing (a lone U+FE0F) has no piece
    logits           [pieces][labels], 7 significant digits
    tags             per word: the label of its first piece's argmax, "O" for a word without pieces
    text_word_ids, text_spans, text_tags  the same for the text as one string: its words are BERT's
                     pre-tokenized words (whitespace + punctuation split, CJK characters apart), so
                     "AT&T" is three words and "中国" two; spans are [start, end) code point offsets
                     into text (a word's first piece's start to its last piece's end)
"""
import json
import os
import shutil

import torch
from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "crates", "transformer", "tests", "fixtures")
SOURCE = os.path.join(FIXTURES, "tiny-bert-cls")
OUT = os.path.join(FIXTURES, "tiny-bert-ner")

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

CASES = [
    ["Zürich", "researchers", "study", "NASA", "space", "."],
    ["The", "president", "says", "Microsoft", "won", "in", "中国", "!"],
    ["Dubbz\ufeff", "\ufe0f", "watched\u200bwas", "AT&T", "stocks", "up", "4", "%"],
]


def sig(x, digits=7):
    return float(f"{float(x):.{digits}g}")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in ("vocab.txt", "tokenizer.json"):
        shutil.copy(os.path.join(SOURCE, name), OUT)
    tok = AutoTokenizer.from_pretrained(OUT)
    vocab_size = len(open(os.path.join(OUT, "vocab.txt"), encoding="utf-8").read().splitlines())
    assert vocab_size == tok.vocab_size, (vocab_size, tok.vocab_size)

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=64, type_vocab_size=2, num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)},
    )
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
        # A head large enough that the tags vary from word to word, not only with the bias.
        model.classifier.weight.normal_(0.0, 0.5)
    model.save_pretrained(OUT, safe_serialization=True)
    model = BertForTokenClassification.from_pretrained(OUT, attn_implementation="eager").eval()

    cases = []
    for words in CASES:
        text = " ".join(words)
        enc = tok(words, is_split_into_words=True)
        by_text = tok(text, return_offsets_mapping=True)
        assert by_text["input_ids"] == enc["input_ids"], words
        ids = torch.tensor([enc["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                           token_type_ids=torch.zeros_like(ids)).logits[0]
        best = logits.argmax(-1).tolist()

        def first_piece_tags(word_ids, n):
            tags, previous = ["O"] * n, None
            for pos, w in enumerate(word_ids):
                if w is not None and w != previous:
                    tags[w] = LABELS[best[pos]]
                previous = w
            return tags

        text_word_ids = by_text.word_ids()
        spans = {}
        for w, (a, b) in zip(text_word_ids, by_text["offset_mapping"]):
            if w is not None:
                spans[w] = [min(a, spans[w][0]), max(b, spans[w][1])] if w in spans else [a, b]
        cases.append({
            "words": words,
            "text": text,
            "input_ids": enc["input_ids"],
            "tokens": tok.convert_ids_to_tokens(enc["input_ids"]),
            "word_ids": enc.word_ids(),
            "logits": [[sig(x) for x in row] for row in logits.tolist()],
            "tags": first_piece_tags(enc.word_ids(), len(words)),
            "text_word_ids": text_word_ids,
            "text_spans": [spans[w] for w in range(len(spans))],
            "text_tags": first_piece_tags(text_word_ids, len(spans)),
        })
    with open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"labels": LABELS, "cases": cases}, f, ensure_ascii=False)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
