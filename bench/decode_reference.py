#!/usr/bin/env python3
"""The reference tscale's decode is compared with: greedy generation with a KV cache in PyTorch eager.

A GPT-2-style decoder (pre-LN, learned positions, GELU-tanh MLP, tied LM head: the families tscale builds that
way) from a tscale model config, with seeded random weights, and the loop a careful PyTorch user writes: the
prompt in one forward that fills a cache preallocated for prompt + new tokens, then one token per step written
in place, the argmax fed back. Each generation is timed as tscale times it: the prefill up to the first token
(TTFT) and every later step (TPOT) on their own.

bench/train_reference.py imports the model from here (Gpt.logits: every position, no cache; dropout from the
config, active in train mode only; init_like_tscale).

Usage: decode_reference.py CONFIG.json --prompt 512 --new-tokens 64 --threads 2 --generations 5
Prints one JSON object: {"ttft_ms": [...], "step_ms": [...]}.
"""
import argparse
import json
import math
import sys
import time

import torch


def check_supported(c, who="decode_reference"):
    wanted = {"arch": "decoder", "position": "learned", "norm": "layernorm", "norm_placement": "pre",
              "activation": "gelu_tanh"}
    for key, value in wanted.items():
        if c.get(key, value) != value:
            sys.exit(f"{who}: {key} {c.get(key)!r} is not built here (only GPT-2-style decoders)")
    if not c.get("tied_head", True) or c.get("kv_heads", 0) or c.get("attention_window", 0):
        sys.exit(f"{who}: only tied heads, full multi-head attention and no windows are built here")


class Block(torch.nn.Module):
    # dropout: GPT-2's resid_pdrop, after the attention's output projection and after the MLP; attention_dropout:
    # its attn_pdrop, on the attention probabilities. Both act only in train mode (bench/train_reference.py).
    def __init__(self, d, heads, ffn, dropout=0.0, attention_dropout=0.0):
        super().__init__()
        self.heads, self.head_dim = heads, d // heads
        self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.q, self.k, self.v = (torch.nn.Linear(d, d) for _ in range(3))
        self.out = torch.nn.Linear(d, d)
        self.up, self.down = torch.nn.Linear(d, ffn), torch.nn.Linear(ffn, d)
        self.attn_drop, self.resid_drop = torch.nn.Dropout(attention_dropout), torch.nn.Dropout(dropout)

    def split(self, x):  # [b, n, d] -> [b, h, n, hd]
        return x.view(x.size(0), x.size(1), self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, cache_k=None, cache_v=None, start=0):
        b, n, d = x.shape
        h = self.ln1(x)
        q, k, v = self.split(self.q(h)), self.split(self.k(h)), self.split(self.v(h))
        if cache_k is None:  # training: no cache, the keys are this sequence's
            keys, values = k, v
        else:
            cache_k[:, :, start:start + n] = k
            cache_v[:, :, start:start + n] = v
            keys, values = cache_k[:, :, :start + n], cache_v[:, :, :start + n]
        scores = torch.matmul(q, keys.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if n > 1:  # the prompt: causal; a single new token sees every cached key
            mask = torch.ones(n, start + n, dtype=torch.bool).triu(start + 1)
            scores = scores.masked_fill(mask, float("-inf"))
        y = torch.matmul(self.attn_drop(torch.softmax(scores, dim=-1)), values)
        x = x + self.resid_drop(self.out(y.transpose(1, 2).reshape(b, n, d)))
        return x + self.resid_drop(self.down(torch.nn.functional.gelu(self.up(self.ln2(x)), approximate="tanh")))


class Gpt(torch.nn.Module):
    # The config's `dropout` (GPT-2's embd_pdrop and resid_pdrop) and `attention_dropout` (attn_pdrop), 0 when
    # absent; in eval mode (decode) they do nothing.
    def __init__(self, c):
        super().__init__()
        d = c["hidden"]
        dropout, attention_dropout = c.get("dropout", 0.0), c.get("attention_dropout", 0.0)
        self.tokens = torch.nn.Embedding(c["vocab"], d)
        self.positions = torch.nn.Embedding(c["position_rows"], d)
        self.drop = torch.nn.Dropout(dropout)
        self.blocks = torch.nn.ModuleList(Block(d, c["heads"], c["ffn"], dropout, attention_dropout)
                                          for _ in range(c["layers"]))
        self.final = torch.nn.LayerNorm(d)

    def body(self, ids, caches, start):
        # Past the table (GPT-2 at 1024 + 64 tokens) positions wrap, as tscale's --extend-context does.
        pos = torch.arange(start, start + ids.size(1)) % self.positions.num_embeddings
        x = self.drop(self.tokens(ids) + self.positions(pos))
        for i, block in enumerate(self.blocks):
            k, v = caches[i] if caches is not None else (None, None)
            x = block(x, k, v, start)
        return x

    def forward(self, ids, caches, start):
        h = self.final(self.body(ids, caches, start)[:, -1])
        return torch.matmul(h, self.tokens.weight.t())  # tied LM head, last position only

    def logits(self, ids, drop_last=False):
        """Training: the logits [b, n, vocab] of every position, no cache; drop_last leaves out the last position
        (next-token training predicts nothing from it), before the head, as tscale does."""
        hidden = self.final(self.body(ids, None, 0))
        if drop_last:
            hidden = hidden[:, :-1]
        return torch.matmul(hidden, self.tokens.weight.t())  # tied LM head


def init_like_tscale(model):
    """tscale's (and Hugging Face's) initialisation (runner/layers.h): normal(0, 0.02) weights and embeddings,
    zero biases, unit norm scales. PyTorch's defaults (N(0, 1) embeddings) make a fresh tied head's logits large
    and its loss far above ln(vocab); with these it starts near ln(vocab), as tscale's does."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                m.weight.normal_(0.0, 0.02)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
            elif isinstance(m, torch.nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--prompt", type=int, required=True)
    p.add_argument("--new-tokens", type=int, required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--generations", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    a = p.parse_args()
    c = json.load(open(a.config))
    check_supported(c)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1234)
    model = Gpt(c).eval()
    hd = c["hidden"] // c["heads"]
    capacity = a.prompt + a.new_tokens
    caches = [(torch.empty(a.batch, c["heads"], capacity, hd), torch.empty(a.batch, c["heads"], capacity, hd))
              for _ in range(c["layers"])]
    prompt = torch.randint(c["vocab"], (a.batch, a.prompt))
    ttft, steps = [], []
    with torch.inference_mode():
        for generation in range(a.warmup + a.generations):
            t0 = time.perf_counter()
            nxt = model(prompt, caches, 0).argmax(-1, keepdim=True)
            first = (time.perf_counter() - t0) * 1e3
            times = []
            for step in range(1, a.new_tokens):
                t0 = time.perf_counter()
                nxt = model(nxt, caches, a.prompt + step - 1).argmax(-1, keepdim=True)
                times.append((time.perf_counter() - t0) * 1e3)
            if generation >= a.warmup:
                ttft.append(first)
                steps.extend(times)
    print(json.dumps({"ttft_ms": ttft, "step_ms": steps}))


if __name__ == "__main__":
    main()
