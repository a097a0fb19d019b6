#!/usr/bin/env python3
"""One member of the ensemble: train a small MLP (numpy) on a synthetic
two-class dataset (two interleaved spirals, noise) and write its metrics.

usage: train.py --hidden H --lr LR --epochs E --seed S --out metrics.json
The dataset is fixed (data seed 0) for every member; --seed sets the weights'
initialisation and batch order. Uses the GPU wfmpi gave the task only if CuPy
is importable there (numpy API); otherwise numpy on the task's cores."""
import argparse
import json
import os
import time

try:
    if os.environ.get("CUDA_VISIBLE_DEVICES", "") not in ("",):
        import cupy as xp  # noqa: optional, on GPU nodes
        DEVICE = "gpu"
    else:
        raise ImportError
except ImportError:
    import numpy as xp
    DEVICE = "cpu"
import numpy as np


def spirals(n, noise, seed):
    r = np.random.default_rng(seed)
    t = np.sqrt(r.random(n)) * 3 * np.pi
    cls = r.integers(0, 2, n)
    x = np.stack([t * np.cos(t + np.pi * cls), t * np.sin(t + np.pi * cls)], 1) / (3 * np.pi)
    return (x + r.normal(0, noise, x.shape)).astype(np.float32), cls.astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    t0 = time.time()
    x, y = spirals(a.samples, 0.05, 0)
    split = int(0.8 * len(x))
    xtr, ytr, xte, yte = (xp.asarray(v) for v in (x[:split], y[:split], x[split:], y[split:]))
    r = np.random.default_rng(a.seed)
    w1 = xp.asarray(r.normal(0, 1 / np.sqrt(2), (2, a.hidden)).astype(np.float32))
    b1 = xp.zeros(a.hidden, dtype=xp.float32)
    w2 = xp.asarray(r.normal(0, 1 / np.sqrt(a.hidden), (a.hidden, 1)).astype(np.float32))
    b2 = xp.zeros(1, dtype=xp.float32)
    batch = 64
    for _ in range(a.epochs):
        order = r.permutation(split)
        for i in range(0, split, batch):
            idx = xp.asarray(order[i:i + batch])
            xb, yb = xtr[idx], ytr[idx][:, None]
            h = xp.tanh(xb @ w1 + b1)
            p = 1 / (1 + xp.exp(-(h @ w2 + b2)))
            g = (p - yb) / len(xb)
            gw2, gb2 = h.T @ g, g.sum(0)
            gh = (g @ w2.T) * (1 - h * h)
            gw1, gb1 = xb.T @ gh, gh.sum(0)
            w1 -= a.lr * gw1; b1 -= a.lr * gb1; w2 -= a.lr * gw2; b2 -= a.lr * gb2

    def evaluate(xs, ys):
        p = 1 / (1 + xp.exp(-(xp.tanh(xs @ w1 + b1) @ w2 + b2)))[:, 0]
        eps = 1e-7
        loss = -xp.mean(ys * xp.log(p + eps) + (1 - ys) * xp.log(1 - p + eps))
        return float(loss), float(xp.mean((p > 0.5) == (ys > 0.5)))

    tr_loss, tr_acc = evaluate(xtr, ytr)
    te_loss, te_acc = evaluate(xte, yte)
    rec = {"task": os.environ.get("WFMPI_TASK_ID", ""), "hidden": a.hidden, "lr": a.lr,
           "epochs": a.epochs, "seed": a.seed, "train_loss": round(tr_loss, 4),
           "train_acc": round(tr_acc, 4), "test_loss": round(te_loss, 4),
           "test_acc": round(te_acc, 4), "train_s": round(time.time() - t0, 3), "device": DEVICE,
           "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
           # where wfmpi ran this member (its task environment)
           "attempt": os.environ.get("WFMPI_ATTEMPT", ""), "rank": os.environ.get("WFMPI_RANK", ""),
           "node": os.environ.get("WFMPI_NODE", "")}
    with open(a.out + ".tmp", "w") as f:
        json.dump(rec, f)
    os.replace(a.out + ".tmp", a.out)
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
