#!/usr/bin/env python3
"""tscale's training step on GPT-2 small at 128, 512 and 1024 tokens with and without activation checkpointing,
and in bf16 mixed precision at 512: one tscale-runner job each (a fresh process, as a worker runs it), printing
the median step, tokens/s, MFU, the peak RSS above the baseline, the measured and analytic activation bytes,
the state's computed and measured bytes, the attention FLOPs share and torchtitan's estimate over tscale's count.

Usage (from the repository root, with the runner built): /usr/bin/python3 bench/train_settings.py
           [--runner build/runner/tscale-runner] [--config models/openai-community__gpt2.json] [--threads 2]
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner_job import job_for, run_job  # noqa: E402


def mib(value):
    return int(value or 0) / 2**20


def report(seq, checkpointing, dtype, r):
    if "latency" not in r:  # not measured: exceeds_context, oom, error
        print(f"{seq:5d} {checkpointing:20s} {dtype:11s} {r['outcome']:12s} {r.get('message', '')}", flush=True)
        return
    t, m = r.get("train", {}), r["memory"]
    state = mib(t.get("parameterBytes")) + mib(t.get("gradientBytes")) + mib(t.get("optimizerStateBytes"))
    print(f"{seq:5d} {checkpointing:20s} {dtype:11s} {r['outcome']:12s} step {r['latency']['medianMs']:8.1f} ms  "
          f"tok/s {r['tokensPerSecond']:7.1f}  MFU {100 * r.get('peakFlopsFraction', 0):5.1f}%  "
          f"peak {mib(int(m['peakRssBytes']) - int(m['baselineRssBytes'])):7.0f} MiB  "
          f"act {mib(t.get('activationBytes')):6.0f} MiB  analytic {t.get('analyticActivationBytes', 0) / 2**20:6.0f} MiB  "
          f"state {state:5.0f} measured {mib(t.get('measuredStateBytes')):5.0f}  "
          f"attn {100 * t.get('attentionFlopsShare', 0):4.1f}%  "
          f"titan/tscale {t.get('torchtitanFlopsPerStep', 0) / r.get('flopsPerForward', 1):.2f} "
          f"{r.get('invalidReasons', '')}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runner", default="build/runner/tscale-runner")
    p.add_argument("--config", default="models/openai-community__gpt2.json")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    config_text = open(a.config).read()
    cells = [(seq, ck, "DTYPE_FP32") for seq in (128, 512, 1024) for ck in ("CHECKPOINTING_NONE", "CHECKPOINTING_LAYERS")]
    cells.append((512, "CHECKPOINTING_NONE", "DTYPE_BF16"))
    with tempfile.TemporaryDirectory() as workdir:
        cache = os.path.join(workdir, "cache")  # the peak probe's cache, shared by the jobs as a worker's is
        os.makedirs(cache)
        for seq, checkpointing, dtype in cells:
            job = job_for(config_text, seq, 3, a.threads, max_time_s=600, timeout_s=1800, batchSize=1,
                          workload="WORKLOAD_TRAIN", checkpointing=checkpointing, loss="TRAIN_LOSS_NEXT_TOKEN",
                          dtype=dtype)
            report(seq, checkpointing, dtype, run_job(a.runner, job, workdir, {"TSCALE_CACHE_DIR": cache},
                                                       require_ok=False))


if __name__ == "__main__":
    main()
