#!/usr/bin/env python3
"""A text classifier served the way most Python services serve one: FastAPI + uvicorn + HF
transformers' `pipeline`, each request run on its own in uvicorn's thread pool (no batching
across requests). `/predict` takes TEI's `{"inputs": "text" | ["text", ...]}` and answers TEI's
`[{"score", "label"}]` sorted by score; `/health` answers 200. The anchor of `cargo xtask
load-test` (needs `pip install fastapi uvicorn torch transformers`).

    python3 scripts/serve_pytorch.py --model RUN_DIR [--port 8081] [--threads 2] [--max-len 128]
"""

import argparse
from typing import List, Union

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--model", required=True, help="a HF text-classification directory")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8081)
parser.add_argument("--threads", type=int, default=2, help="torch's intra-op threads")
parser.add_argument("--max-len", type=int, default=128)
args = parser.parse_args()

torch.set_num_threads(args.threads)
classify = pipeline("text-classification", model=args.model, top_k=None, device="cpu")
app = FastAPI()


class Request(BaseModel):
    inputs: Union[str, List[str]]


@app.get("/health")
def health():
    return {}


@app.post("/predict")
def predict(request: Request):
    texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
    with torch.inference_mode():
        found = classify(texts, truncation=True, max_length=args.max_len)
    answers = [
        sorted(({"score": float(d["score"]), "label": d["label"]} for d in labels),
               key=lambda d: -d["score"])
        for labels in found
    ]
    return answers[0] if isinstance(request.inputs, str) else answers


uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
