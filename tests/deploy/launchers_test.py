#!/usr/bin/python3
"""The launchers in deploy/ run against a real tscale-server on loopback.

    /usr/bin/python3 tests/deploy/launchers_test.py REPO_ROOT TSCALE_SERVER TSCALE_WORKER

1. The coordinator manifest's own probe commands (deploy/kubernetes/coordinator.yaml) pass against a TLS
   coordinator with a certificate for the Service's name, and fail for plaintext (what the kubelet's `grpc:`
   probe would send), an unknown service and a stopped server.
2. deploy/slurm/tscale-worker.sbatch, run as Slurm would run it (its SLURM_* variables set by hand): the worker
   registers under the array task's id and leaves by itself when idle (exit 0, scratch removed); SIGTERM to
   the script drains the worker and the script exits 0; a GPU allocation whose runner sees no CUDA is refused
   (exit 2), and one whose runner does see CUDA starts a CUDA worker. A stand-in runner answers the device probe:
   no job runs, so no libtorch is needed.
Prints one line per failed check and exits 1 if there is any.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

import yaml

failures = []


def check(condition, what, detail=""):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)
        if detail:
            print("     " + detail.replace("\n", "\n     "))


def start_server(server_bin, root, tmp, name, extra):
    port_file = os.path.join(tmp, name + ".port")
    log = open(os.path.join(tmp, name + ".log"), "w")
    process = subprocess.Popen([server_bin, "--listen", "127.0.0.1:0", "--port-file", port_file, "--db",
                                os.path.join(tmp, name + ".db"), "--catalog", os.path.join(root, "models")] + extra,
                               stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):  # the sanitised build starts slowly
        if os.path.exists(port_file) and open(port_file).read().strip():
            return process, int(open(port_file).read())
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{name} did not start: " + open(os.path.join(tmp, name + ".log")).read())


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def make_certificates(tmp, name):
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ca_key, ca, key, csr, cert = (os.path.join(tmp, f) for f in ("ca.key", "ca.crt", "tls.key", "tls.csr", "tls.crt"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=tscale-test-ca",
            "-keyout", ca_key, "-out", ca)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", key, "-out", csr)
    ext = os.path.join(tmp, "san.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{name}\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2", "-out", cert,
            "-extfile", ext)
    return ca, cert, key


def probe_commands(root):
    """The exec probes of the coordinator Deployment, by kind."""
    docs = yaml.safe_load_all(open(os.path.join(root, "deploy", "kubernetes", "coordinator.yaml")))
    deployment = next(d for d in docs if d and d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {kind: container[kind]["exec"]["command"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}


def run_probe(root, command, port, ca):
    """The manifest's command with the in-cluster port and CA path replaced by this test's."""
    probe = os.path.join(root, "deploy", "container", "tscale-health-probe")
    args = []
    for arg in command[1:]:
        if arg.startswith("--addr="):
            arg = f"--addr=127.0.0.1:{port}"
        elif arg.startswith("--tls-ca="):
            arg = f"--tls-ca={ca}" if ca else None
        if arg is not None:
            args.append(arg)
    return subprocess.run(["/usr/bin/python3", probe, *args], capture_output=True, text=True, timeout=60)


def test_health_probe(root, server_bin, tmp):
    commands = probe_commands(root)
    name = next(a for a in commands["livenessProbe"] if a.startswith("--server-name=")).split("=", 1)[1]
    ca, cert, key = make_certificates(tmp, name)
    server, port = start_server(server_bin, root, tmp, "tls-server", ["--tls-cert", cert, "--tls-key", key])
    try:
        for kind, command in commands.items():
            result = run_probe(root, command, port, ca)
            check(result.returncode == 0, f"{kind} of coordinator.yaml passes against a TLS coordinator",
                  result.stdout + result.stderr)
        result = run_probe(root, commands["livenessProbe"], port, None)
        check(result.returncode == 1, "the same probe in plaintext (the kubelet's grpc: probe) fails", result.stderr)
        result = run_probe(root, commands["readinessProbe"] + ["--service=tscale.v1.NoSuchService"], port, ca)
        check(result.returncode == 1 and "NOT_FOUND" in result.stderr, "an unknown service fails", result.stderr)
    finally:
        stop(server)
    result = run_probe(root, commands["livenessProbe"], port, ca)
    check(result.returncode == 1, "the probe of a stopped coordinator fails", result.stderr)


def fake_runner(path, device_kind):
    """A stand-in tscale-runner that only answers --probe-device."""
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\n[ \"$1\" = --probe-device ] && echo '{{\"deviceKind\":\"{device_kind}\"}}'\nexit 0\n")
    os.chmod(path, 0o755)


def sbatch_env(bin_dir, scratch, port, task, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "CUDA_", "TSCALE_"))}
    env.update(TSCALE_SERVER=f"127.0.0.1:{port}", TSCALE_BIN=bin_dir, TSCALE_SCRATCH=scratch,
               SLURM_JOB_ID="4242", SLURM_ARRAY_JOB_ID="4242", SLURM_ARRAY_TASK_ID=str(task),
               SLURM_MEM_PER_NODE="2048", TSCALE_WORKER_ARGS="--claim-wait-s 0.5")
    env.update(extra)
    return env


def test_slurm_script(root, server_bin, worker_bin, tmp):
    script = os.path.join(root, "deploy", "slurm", "tscale-worker.sbatch")
    bin_dir, scratch = os.path.join(tmp, "bin"), os.path.join(tmp, "scratch")
    os.makedirs(bin_dir)
    os.makedirs(scratch)
    os.symlink(os.path.abspath(worker_bin), os.path.join(bin_dir, "tscale-worker"))
    server, port = start_server(server_bin, root, tmp, "server", [])
    try:
        # Idle: registers as the array task, leaves after the idle period, exit 0, scratch cleaned.
        fake_runner(os.path.join(bin_dir, "tscale-runner"), "DEVICE_KIND_CPU")
        started = time.monotonic()
        result = subprocess.run(["bash", script], env=sbatch_env(bin_dir, scratch, port, 3, TSCALE_IDLE_EXIT_S="1"),
                                capture_output=True, text=True, timeout=120)
        log = result.stdout + result.stderr
        check(result.returncode == 0, "an idle worker from the sbatch script exits 0", log)
        check(time.monotonic() - started < 60, "... within the idle period and one long poll (with slack)")
        check("registered with" in log and "as slurm-4242-3-r0" in log, "... registered as slurm-4242-3-r0", log)
        check("device: cpu" in log, "... as a CPU worker when no GPU is allocated", log)
        check("no job for 1 s (--idle-exit-s)" in log, "... and left because it was idle", log)
        check(os.listdir(scratch) == [], "... and its scratch state is removed", str(os.listdir(scratch)))

        # SIGTERM to the script (Slurm's --signal=B:TERM) reaches the worker, which drains and exits 0.
        out = open(os.path.join(tmp, "sigterm.log"), "w+")
        script_process = subprocess.Popen(["bash", script], env=sbatch_env(bin_dir, scratch, port, 4,
                                                                           TSCALE_IDLE_EXIT_S="0"),
                                          stdout=out, stderr=subprocess.STDOUT)
        for _ in range(600):
            if "registered with" in open(out.name).read():
                break
            time.sleep(0.05)
        check("registered with" in open(out.name).read(), "... the worker registered before the SIGTERM",
              open(out.name).read())
        script_process.send_signal(signal.SIGTERM)
        try:
            code = script_process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            script_process.kill()
            code = None
        log = open(out.name).read()
        check(code == 0, "SIGTERM to the sbatch script drains its worker and the script exits 0", log)
        check("signal 15: draining" in log, "... the worker itself got the SIGTERM", log)

        # A GPU allocation whose runner sees no CUDA device: refused before a CPU worker could take CPU jobs.
        result = subprocess.run(["bash", script], env=sbatch_env(bin_dir, scratch, port, 5, TSCALE_IDLE_EXIT_S="1",
                                                                 CUDA_VISIBLE_DEVICES="0"),
                                capture_output=True, text=True, timeout=120)
        check(result.returncode == 2 and "sees no CUDA device" in result.stderr,
              "a GPU allocation whose runner sees no CUDA exits 2", result.stdout + result.stderr)
        # ... and one whose runner does: a CUDA worker (it asks the runner itself, --device auto).
        fake_runner(os.path.join(bin_dir, "tscale-runner"), "DEVICE_KIND_CUDA")
        result = subprocess.run(["bash", script], env=sbatch_env(bin_dir, scratch, port, 6, TSCALE_IDLE_EXIT_S="1",
                                                                 CUDA_VISIBLE_DEVICES="0"),
                                capture_output=True, text=True, timeout=120)
        log = result.stdout + result.stderr
        check(result.returncode == 0 and "device: cuda" in log, "a GPU allocation starts a CUDA worker", log)
    finally:
        stop(server)


def main():
    root, server_bin, worker_bin = (os.path.abspath(a) for a in sys.argv[1:4])
    with tempfile.TemporaryDirectory(prefix="tscale-launchers-") as tmp:
        os.makedirs(os.path.join(tmp, "probe"))
        test_health_probe(root, server_bin, os.path.join(tmp, "probe"))
        os.makedirs(os.path.join(tmp, "slurm"))
        test_slurm_script(root, server_bin, worker_bin, os.path.join(tmp, "slurm"))
    print(f"launchers_test: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
