#!/usr/bin/env python3
"""tscale's training step on GPT-2 small at 128, 512 and 1024 tokens with and without activation checkpointing,
and in bf16 mixed precision at 512: one tscale-runner job each (a fresh process, as a worker runs it), printing
the median step, tokens/s, MFU, the peak RSS above the baseline, the measured and analytic activation bytes,
the state's computed and measured bytes, the attention FLOPs share and torchtitan's estimate over tscale's count.

Usage (from the repository root, with the runner built): /usr/bin/python3 bench/train_settings.py
"""
import json, subprocess, sys, os
cfg = open('models/openai-community__gpt2.json').read()
def run(seq, ck, dtype="DTYPE_FP32"):
    job = {"jobId": "1", "modelId": "openai-community/gpt2", "modelConfigJson": cfg, "seqLen": seq, "batchSize": 1,
           "workload": "WORKLOAD_TRAIN", "checkpointing": ck, "loss": "TRAIN_LOSS_NEXT_TOKEN", "dtype": dtype,
           "measurement": {"warmupIters": 1, "minIters": 3, "minTimeS": 0, "maxIters": 3, "maxTimeS": 600,
                           "threads": 2, "seed": "1234", "timeoutS": 1800}}
    json.dump(job, open('/tmp/j.json', 'w'))
    subprocess.run(['build/runner/tscale-runner', '--job', '/tmp/j.json', '--result', '/tmp/r.json'], check=True,
                   stdout=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2", "TSCALE_CACHE_DIR": "/tmp/tscale-cache"})
    r = json.load(open('/tmp/r.json')); t = r.get("train", {}); m = r["memory"]
    mib = lambda x: int(x or 0) / 2**20
    print(f"{seq:5d} {ck:20s} {dtype:11s} {r['outcome']:12s} step {r['latency']['medianMs']:8.1f} ms  tok/s {r['tokensPerSecond']:7.1f}  "
          f"MFU {100*r.get('peakFlopsFraction',0):5.1f}%  peak {mib(int(m['peakRssBytes'])-int(m['baselineRssBytes'])):7.0f} MiB  "
          f"act {mib(t.get('activationBytes')):6.0f} MiB  analytic {t.get('analyticActivationBytes',0)/2**20:6.0f} MiB  "
          f"state {mib(t.get('parameterBytes'))+mib(t.get('gradientBytes'))+mib(t.get('optimizerStateBytes')):5.0f} measured {mib(t.get('measuredStateBytes')):5.0f}  "
          f"attn {100*t.get('attentionFlopsShare',0):4.1f}%  titan/tscale {t.get('torchtitanFlopsPerStep',0)/r.get('flopsPerForward',1):.2f} {r.get('invalidReasons','')}", flush=True)
os.makedirs('/tmp/tscale-cache', exist_ok=True)
for seq in (128, 512, 1024):
    for ck in ("CHECKPOINTING_NONE", "CHECKPOINTING_LAYERS"):
        run(seq, ck)
run(512, "CHECKPOINTING_NONE", "DTYPE_BF16")
