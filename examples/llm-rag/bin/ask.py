#!/usr/bin/env python3
"""One task of the LLM + RAG workflow: the four prompts over one book with one
model, on the GPU wfmpi gave the task (CUDA_VISIBLE_DEVICES).

usage: ask.py CONFIG BOOK MODEL_NAME OUT.json

Cuts the book into chunks, retrieves the chunks closest to each prompt
(TF-IDF, pure Python), asks the model named in CONFIG (backend fixture, vllm
or openai: config.yml) and writes the answers as JSON."""
import json
import math
import os
import re
import sys
import time
from collections import Counter

import yaml

PROMPTS = {
    "summary": ("Write a one-paragraph summary of this book.",
                "story plot events happen begins"),
    "protagonist": ("Who is the protagonist (main character) of this book? Answer with the name.",
                    "he she said her his young hero"),
    "antagonist": ("Who is the antagonist of this book? Answer with the name.",
                   "enemy against cruel proud hated villain man"),
    "time_period": ("In what time period is this book set? Answer with a year, decade or century.",
                    "year century age time war king date"),
}
SYSTEM = "You answer questions about a book using only the excerpts given in <context>."


def words(text):
    return re.findall(r"[a-z']+", text.lower())


def chunks_of(text, n):
    w = text.split()
    return [" ".join(w[i:i + n]) for i in range(0, len(w), n)] or [""]


def retrieve(chunks, query, k):
    """Top k chunks by TF-IDF cosine with the query, kept in book order."""
    docs = [Counter(words(c)) for c in chunks]
    df = Counter(t for d in docs for t in d)
    idf = {t: math.log((1 + len(docs)) / (1 + df[t])) + 1 for t in df}

    def vec(c):
        return {t: n * idf.get(t, 1.0) for t, n in c.items()}

    q = vec(Counter(words(query)))
    qn = math.sqrt(sum(v * v for v in q.values())) or 1.0
    scores = []
    for i, d in enumerate(docs):
        v = vec(d)
        dn = math.sqrt(sum(x * x for x in v.values())) or 1.0
        scores.append((sum(q[t] * v.get(t, 0.0) for t in q) / (qn * dn), -i))
    best = sorted(range(len(docs)), key=lambda i: scores[i], reverse=True)[:k]
    return [chunks[i] for i in sorted(best)]


def messages_for(title, question, context):
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Book: {title}\n<context>\n{context}\n</context>\n\n"
                                        f"Question: {question}"}]


class Fixture:
    def __init__(self, cfg, model):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import fixture_model
        self.m, self.name = fixture_model, model["name"]

    def ask(self, batch):
        return [self.m.complete(msgs, self.name) for msgs in batch]


class Vllm:
    """vLLM in this process, on the task's GPU(s). Untested here (no GPU)."""
    def __init__(self, cfg, model):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from vllm import LLM, SamplingParams  # noqa: needs the vllm package
        v, g = cfg.get("vllm", {}), cfg.get("generation", {})
        gpus = [x for x in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if x]
        self.llm = LLM(model=model["path"], dtype=v.get("dtype", "auto"),
                       gpu_memory_utilization=v.get("gpu_memory_utilization", 0.85),
                       max_model_len=v.get("max_model_len", 8192),
                       tensor_parallel_size=max(1, len(gpus)), seed=g.get("seed", 0))
        self.sp = SamplingParams(max_tokens=g.get("max_tokens", 256),
                                 temperature=g.get("temperature", 0.0), seed=g.get("seed", 0))

    def ask(self, batch):
        outs = self.llm.chat(batch, self.sp)
        return [o.outputs[0].text.strip() for o in outs]


class OpenAI:
    """An OpenAI-compatible server (vllm serve, ollama, llama.cpp) at base_url."""
    def __init__(self, cfg, model):
        import urllib.request
        self.urlopen, self.Request = urllib.request.urlopen, urllib.request.Request
        o, self.g = cfg.get("openai", {}), cfg.get("generation", {})
        self.url = o.get("base_url", "http://127.0.0.1:8000/v1").rstrip("/") + "/chat/completions"
        self.key = os.environ.get(o.get("api_key_env", "OPENAI_API_KEY"), "none")
        self.timeout, self.model = o.get("timeout_s", 300), model["path"]

    def ask(self, batch):
        out = []
        for msgs in batch:
            body = json.dumps({"model": self.model, "messages": msgs,
                               "max_tokens": self.g.get("max_tokens", 256),
                               "temperature": self.g.get("temperature", 0.0),
                               "seed": self.g.get("seed", 0)}).encode()
            req = self.Request(self.url, body, {"Content-Type": "application/json",
                                                "Authorization": "Bearer " + self.key})
            with self.urlopen(req, timeout=self.timeout) as r:
                out.append(json.load(r)["choices"][0]["message"]["content"].strip())
        return out


BACKENDS = {"fixture": Fixture, "vllm": Vllm, "openai": OpenAI}


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    cfg_path, book, model_name, out = argv[1:]
    with open(cfg_path) as f:
        cfg = yaml.safe_load(f)
    model = next((m for m in cfg["models"] if m["name"] == model_name), None)
    if model is None:
        sys.exit(f"ask.py: model {model_name!r} is not in {cfg_path}")
    backend = cfg.get("backend", "fixture")
    if backend not in BACKENDS:
        sys.exit(f"ask.py: unknown backend {backend!r} in {cfg_path} (fixture, vllm, openai)")
    text = open(book, encoding="utf-8").read()
    title = next((l.split(":", 1)[1].strip() for l in text.splitlines()
                  if l.lower().startswith("title:")), os.path.basename(book))
    # Our books start with "Title:/Author:/Source:" lines and a blank line;
    # Gutenberg files with their *** START OF ... *** marker are cut there.
    head, sep, body = text.partition("\n\n")
    if sep and re.match(r"(?i)title:", head):
        text = body
    start = re.search(r"\*\*\* ?START OF.*?\*\*\*", text)
    if start:
        text = text[start.end():]
    chunks = chunks_of(text, int(cfg.get("chunk_words", 120)))
    k = int(model.get("context_chunks", 4))
    t0 = time.time()
    engine = BACKENDS[backend](cfg, model)
    t1 = time.time()
    batch = [messages_for(title, q, "\n\n".join(retrieve(chunks, q + " " + hint, k)))
             for q, hint in PROMPTS.values()]
    answers = engine.ask(batch)
    t2 = time.time()
    rec = {"book": os.path.splitext(os.path.basename(book))[0], "title": title,
           "model": model_name, "backend": backend, "chunks": len(chunks), "context_chunks": k,
           "answers": dict(zip(PROMPTS, answers)), "load_s": round(t1 - t0, 3),
           "answer_s": round(t2 - t1, 3), "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
           "task": os.environ.get("WFMPI_TASK_ID", "")}
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, out)
    print(f"{rec['book']} x {model_name}: 4 answers in {rec['answer_s']} s ({backend})")


if __name__ == "__main__":
    main(sys.argv)
