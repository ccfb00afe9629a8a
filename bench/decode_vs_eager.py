#!/usr/bin/env python3
"""tscale's decode against a greedy KV-cache loop in PyTorch eager (bench/decode_reference.py), in one run.

For each depth, a tscale-runner decode job (a fresh process, as a worker runs it) and the Python reference on the
same model config, threads and BLAS, alternating which goes first; prints the median TTFT and TPOT of each and
the ratios reference / tscale (>= 1.0: tscale is not slower).

Usage: /usr/bin/python3 bench/decode_vs_eager.py [--runner build/runner/tscale-runner] [--depths 128,512,1024]
           [--new-tokens 64] [--threads 2] [--rounds 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from runner_job import job_for, run_job  # noqa: E402


def tscale(runner, config_text, depth, new_tokens, threads, generations, workdir):
    job = job_for(config_text, depth, generations, threads, max_time_s=600, timeout_s=1800, batchSize=1,
                  extendContext=True, workload="WORKLOAD_DECODE", newTokens=new_tokens)
    d = run_job(runner, job, workdir)["decode"]
    return d["ttft"]["medianMs"], d["tpot"]["medianMs"]


def reference(python, config_path, depth, new_tokens, threads, generations):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([python, os.path.join(HERE, "decode_reference.py"), config_path, "--prompt",
                          str(depth), "--new-tokens", str(new_tokens), "--threads", str(threads), "--generations",
                          str(generations)], check=True, capture_output=True, text=True, env=env).stdout
    r = json.loads(out)
    return statistics.median(r["ttft_ms"]), statistics.median(r["step_ms"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runner", default="build/runner/tscale-runner")
    p.add_argument("--config", default="models/openai-community__gpt2.json")
    p.add_argument("--depths", default="128,512,1024")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--generations", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2, help="each round runs both, alternating which goes first")
    p.add_argument("--python", default="/usr/bin/python3", help="a Python with Debian's python3-torch")
    a = p.parse_args()
    config_text = open(a.config).read()
    print(f"{'depth':>6} {'round':>5} {'first':>9} | {'TTFT tscale':>11} {'TTFT eager':>10} {'ratio':>6} | "
          f"{'TPOT tscale':>11} {'TPOT eager':>10} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as workdir:
        for depth in [int(x) for x in a.depths.split(",")]:
            ttft_ratios, tpot_ratios = [], []
            for rnd in range(a.rounds):
                first_tscale = (rnd + depth // 128) % 2 == 0
                runs = {}
                for which in (["tscale", "eager"] if first_tscale else ["eager", "tscale"]):
                    runs[which] = (tscale(a.runner, config_text, depth, a.new_tokens, a.threads, a.generations, workdir)
                                   if which == "tscale" else
                                   reference(a.python, a.config, depth, a.new_tokens, a.threads, a.generations))
                (t_ttft, t_tpot), (e_ttft, e_tpot) = runs["tscale"], runs["eager"]
                ttft_ratios.append(e_ttft / t_ttft)
                tpot_ratios.append(e_tpot / t_tpot)
                print(f"{depth:>6} {rnd:>5} {'tscale' if first_tscale else 'eager':>9} | {t_ttft:>9.1f}ms "
                      f"{e_ttft:>8.1f}ms {e_ttft / t_ttft:>6.2f} | {t_tpot:>9.2f}ms {e_tpot:>8.2f}ms "
                      f"{e_tpot / t_tpot:>6.2f}")
            print(f"{depth:>6} median ratio (eager / tscale): TTFT {statistics.median(ttft_ratios):.2f}, "
                  f"TPOT {statistics.median(tpot_ratios):.2f}")


if __name__ == "__main__":
    main()
