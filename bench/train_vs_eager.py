#!/usr/bin/env python3
"""tscale's training step against the same step in PyTorch eager (bench/train_reference.py), in one run.

For each length, a tscale-runner train job (WORKLOAD_TRAIN, no checkpointing, next-token loss; a fresh process,
as a worker runs it) and the Python reference on the same model config, batch, threads and BLAS, alternating
which goes first; prints the median step time of each, the ratio reference / tscale (>= 1.0: tscale is not
slower) and both sides' first-step loss (a sanity column: different random weights, so not equal, but a fresh
model's is about ln(vocab), 10.8 for GPT-2).

Usage: /usr/bin/python3 bench/train_vs_eager.py [--runner build/runner/tscale-runner] [--lengths 128,512]
           [--threads 2] [--steps 3] [--rounds 2]
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


def tscale(runner, config_text, length, batch, threads, steps, workdir):
    job = job_for(config_text, length, steps, threads, max_time_s=1800, timeout_s=3600, batchSize=batch,
                  workload="WORKLOAD_TRAIN", checkpointing="CHECKPOINTING_NONE", loss="TRAIN_LOSS_NEXT_TOKEN")
    result = run_job(runner, job, workdir)
    losses = result.get("train", {}).get("losses", [])
    return result["latency"]["medianMs"], (losses[0] if losses else float("nan"))


def reference(python, config_path, length, batch, threads, steps):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([python, os.path.join(HERE, "train_reference.py"), config_path, "--seq-len", str(length),
                          "--batch", str(batch), "--threads", str(threads), "--steps", str(steps), "--warmup", "1"],
                         check=True, capture_output=True, text=True, env=env).stdout
    r = json.loads(out)
    return statistics.median(r["step_ms"]), r["loss"][0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runner", default="build/runner/tscale-runner")
    p.add_argument("--config", default="models/openai-community__gpt2.json")
    p.add_argument("--lengths", default="128,512")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="timed steps per side per round, after 1 warm-up step")
    p.add_argument("--rounds", type=int, default=2, help="each round runs both, alternating which goes first")
    p.add_argument("--python", default="/usr/bin/python3", help="a Python with Debian's python3-torch")
    p.add_argument("--reference-only", action="store_true",
                   help="run only the Python reference (checks it, e.g. before the runner has the train workload)")
    a = p.parse_args()
    config_text = open(a.config).read()
    if not a.reference_only and not os.access(a.runner, os.X_OK):
        sys.exit(f"train_vs_eager: no runner at {a.runner} (build it, pass --runner, or --reference-only)")
    print(f"{'length':>6} {'round':>5} {'first':>9} | {'step tscale':>11} {'step eager':>10} {'ratio':>6} | "
          f"{'loss0 tscale':>12} {'loss0 eager':>11}")
    with tempfile.TemporaryDirectory() as workdir:
        for length in [int(x) for x in a.lengths.split(",")]:
            ratios = []
            for rnd in range(a.rounds):
                first_tscale = (rnd + length // 128) % 2 == 0
                order = ["tscale", "eager"] if first_tscale else ["eager", "tscale"]
                if a.reference_only:
                    order = ["eager"]
                runs = {"tscale": (float("nan"), float("nan"))}
                for which in order:
                    runs[which] = (tscale(a.runner, config_text, length, a.batch, a.threads, a.steps, workdir)
                                   if which == "tscale" else
                                   reference(a.python, a.config, length, a.batch, a.threads, a.steps))
                (t_step, t_loss), (e_step, e_loss) = runs["tscale"], runs["eager"]
                ratio = e_step / t_step
                ratios.append(ratio)
                print(f"{length:>6} {rnd:>5} {order[0]:>9} | {t_step:>9.1f}ms {e_step:>8.1f}ms {ratio:>6.2f} | "
                      f"{t_loss:>12.3f} {e_loss:>11.3f}", flush=True)
            if not a.reference_only:
                print(f"{length:>6} median ratio (eager / tscale): step {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
