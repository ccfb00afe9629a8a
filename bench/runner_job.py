"""One tscale-runner job from a bench script, as a worker runs it: a fresh process, the job and its result as
JSON files (the runner's --job / --result protocol, docs/runner-protocol.md), a clean environment with the
threads set. Shared by decode_vs_eager.py, train_vs_eager.py and train_settings.py."""
import json
import os
import subprocess
import sys


def job_for(config_text, seq_len, runs, threads, max_time_s, timeout_s, **fields):
    """A JobSpec (proto JSON names) for the model config `config_text` at `seq_len`: one warm-up, then exactly
    `runs` timed steps; `fields` adds the workload's own (workload, newTokens, checkpointing, dtype, ...)."""
    job = {"jobId": "1", "modelId": json.loads(config_text)["id"], "modelConfigJson": config_text, "seqLen": seq_len,
           "measurement": {"warmupIters": 1, "minIters": runs, "minTimeS": 0, "maxIters": runs,
                           "maxTimeS": max_time_s, "threads": threads, "seed": "1234", "timeoutS": timeout_s}}
    job.update(fields)
    return job


def run_job(runner, job, workdir, env=None, require_ok=True):
    """Runs `job` in a fresh tscale-runner and returns its result (proto JSON). `env` adds to PATH and
    OMP_NUM_THREADS (the job's threads). With require_ok, a job that did not end ok stops the script."""
    job_path, result_path = os.path.join(workdir, "job.json"), os.path.join(workdir, "result.json")
    with open(job_path, "w") as f:
        json.dump(job, f)
    run_env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": str(job["measurement"]["threads"])}
    run_env.update(env or {})
    subprocess.run([runner, "--job", job_path, "--result", result_path], check=True, env=run_env,
                   stdout=subprocess.DEVNULL)
    with open(result_path) as f:
        result = json.load(f)
    if require_ok and result.get("outcome") != "OUTCOME_OK":
        sys.exit(f"tscale job failed: {result.get('outcome')} {result.get('message', '')}")
    return result
