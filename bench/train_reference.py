#!/usr/bin/env python3
"""The reference tscale's training step is compared with: one GPT-2-style training step in PyTorch eager.

The model is bench/decode_reference.py's (pre-LN, learned positions, GELU-tanh MLP, LM head tied to the token
embedding) from a tscale model config, with seeded random weights drawn as tscale draws them (normal(0, 0.02),
zero biases, unit norm scales) and the config's `dropout` / `attention_dropout` (0 when absent). One step is the
loop a careful PyTorch user writes: optimizer.zero_grad(set_to_none=False) (as tscale: the gradients stay allocated, zeroed); the forward in train mode over
batch x seq_len seeded random token ids; next-token cross-entropy over every position but the last (the head
runs on hidden[:, :-1], as tscale's does; the loss is the same as HF's logits[:, :-1]) against ids[:, 1:]); loss.backward(); torch.optim.AdamW(lr 1e-4, betas (0.9, 0.999), eps 1e-8, weight decay 0.01)
.step(). The same batch every step, as tscale's job does. AdamW's state (exp_avg, exp_avg_sq) is allocated,
zeroed, before the first step, so no step pays for it; then warm-up steps run untimed and each timed step is
timed on its own (time.perf_counter).

Usage: /usr/bin/python3 train_reference.py CONFIG.json --seq-len 512 --threads 2 --steps 5 [--warmup 1]
Prints one JSON object: {"step_ms": [...], "loss": [...]}: step_ms the timed steps; loss every step run, warm-up
included, in order (as tscale's result.train.losses), so loss[0] is the fresh model's (about ln(vocab)).
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode_reference import Gpt, check_supported, init_like_tscale  # noqa: E402


def allocate_adamw_state(optimizer):
    """AdamW's per-parameter state as its first step would create it (torch 1.13 and 2.x: a scalar step
    count, exp_avg and exp_avg_sq zeros), so the first timed step allocates nothing; the arithmetic of every
    step is unchanged (the first step still starts from zero moments, step 0)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args()
    c = json.load(open(a.config))
    check_supported(c, "train_reference")
    if not 2 <= a.seq_len <= c["position_rows"]:
        sys.exit(f"train_reference: --seq-len must be in [2, {c['position_rows']}] (the position table)")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = init_like_tscale(Gpt(c)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    allocate_adamw_state(optimizer)
    ids = torch.randint(c["vocab"], (a.batch, a.seq_len))
    inputs, targets = ids, ids[:, 1:].reshape(-1)
    step_ms, losses = [], []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=False)
        logits = model.logits(inputs, drop_last=True)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets)
        loss.backward()
        optimizer.step()
        elapsed = (time.perf_counter() - t0) * 1e3
        losses.append(loss.item())
        if step >= a.warmup:
            step_ms.append(elapsed)
        del logits, loss
    if not all(math.isfinite(x) for x in losses):
        sys.exit(f"train_reference: a loss is not finite: {losses}")
    print(json.dumps({"step_ms": step_ms, "loss": losses}))


if __name__ == "__main__":
    main()
