#!/usr/bin/python3
"""Checks the launchers in deploy/: every Kubernetes manifest, the container build and the Slurm script.

    /usr/bin/python3 tests/deploy/check_manifests.py REPO_ROOT

Kubernetes (deploy/kubernetes/**.yaml, parsed with Debian's python3-yaml): images pinned to the project's
version, never `latest`; CPU and memory requests and limits; non-root, no privilege escalation, a read-only
root, ALL capabilities dropped, the runtime's seccomp profile; tokens, keys and passwords only from Secrets
(mounted files or secretKeyRef, never a literal and never a Secret with its data in the repository); a
coordinator's probes make the grpc.health.v1 call on its own listening port, over TLS when it serves TLS;
a worker's grace period covers its --drain-timeout-s; a GPU worker requests nvidia.com/gpu on GPU nodes.
Slurm (deploy/slurm/*.sbatch): `bash -n`, shellcheck, SIGTERM early enough for the drain, an exit when idle.
Prints one line per problem and exits 1 if there is any.
"""
import copy
import os
import re
import subprocess
import sys
import tempfile

import yaml

WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "Job"}
HEALTH_SERVICES = {"", "tscale.v1.TscaleService", "tscale.v1.WorkerService"}
SECRET_WORDS = re.compile(r"TOKEN|PASSWORD|SECRET|PASSWD|KEY", re.I)
# The fields a pod and a container may have (core/v1): a misspelt field, e.g. a probe, is dropped in silence by
# a lenient apply, so a name outside these is a problem here.
POD_FIELDS = {
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers", "dnsConfig", "dnsPolicy",
    "enableServiceLinks", "ephemeralContainers", "hostAliases", "hostIPC", "hostNetwork", "hostPID", "hostUsers",
    "hostname", "imagePullSecrets", "initContainers", "nodeName", "nodeSelector", "os", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "resourceClaims", "restartPolicy",
    "runtimeClassName", "schedulerName", "schedulingGates", "securityContext", "serviceAccount",
    "serviceAccountName", "setHostnameAsFQDN", "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds",
    "tolerations", "topologySpreadConstraints", "volumes"}
CONTAINER_FIELDS = {
    "args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle", "livenessProbe", "name", "ports",
    "readinessProbe", "resizePolicy", "resources", "restartPolicy", "securityContext", "startupProbe", "stdin",
    "stdinOnce", "terminationMessagePath", "terminationMessagePolicy", "tty", "volumeDevices", "volumeMounts",
    "workingDir"}
DRAIN_MARGIN_S = 60  # a worker's release and last delivery after the drain, before the kubelet's SIGKILL
SLURM_RELEASE_MARGIN_S = 60  # after the drain: the release and last delivery before the time limit's kill

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def flags(args):
    """--name=value and bare --name flags of a container's args, as a dict (a bare flag maps to True)."""
    out = {}
    for arg in args or []:
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            out[name] = value if eq else True
    return out


def project_version(root):
    text = open(os.path.join(root, "CMakeLists.txt")).read()
    return re.search(r"project\(tscale VERSION ([0-9.]+)", text).group(1)


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def secret_paths(pod):
    """Mount paths of the pod's Secret volumes, by container name."""
    secret_volumes = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
    return {c["name"]: [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in secret_volumes]
            for c in pod.get("containers", []) + pod.get("initContainers", [])}


def check_image(where, image, version):
    name, _, digest = image.partition("@")
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    if not tag and not digest:
        problem(where, f"image {image} has no tag or digest (an unpinned image is `latest`)")
    if tag == "latest":
        problem(where, f"image {image} is `latest`")
    if "/tscale/" in name and tag and tag != version:
        problem(where, f"image {image}: tscale's own images carry the project version {version}")


def check_security(where, pod, container):
    pod_sc, sc = pod.get("securityContext", {}), container.get("securityContext", {})
    if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
        problem(where, "runAsNonRoot is not true")
    if (sc.get("runAsUser", pod_sc.get("runAsUser")) or 0) == 0:
        problem(where, "no non-zero runAsUser (runAsNonRoot cannot check a named user)")
    if sc.get("allowPrivilegeEscalation") is not False:
        problem(where, "allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problem(where, "readOnlyRootFilesystem is not true")
    if sc.get("privileged"):
        problem(where, "privileged")
    caps = sc.get("capabilities", {})
    if "ALL" not in caps.get("drop", []) or caps.get("add"):
        problem(where, "capabilities must drop ALL and add none")
    seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problem(where, "no seccomp profile (RuntimeDefault)")


def check_resources(where, container):
    resources = container.get("resources", {})
    for side in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in resources.get(side, {}):
                problem(where, f"no {side}.{what}")


def check_secrets(where, container, mounts):
    for env in container.get("env", []):
        if env["name"].endswith("_FILE") and "value" in env:  # a path, e.g. POSTGRES_PASSWORD_FILE
            if not any(env["value"].startswith(path.rstrip("/") + "/") for path in mounts):
                problem(where, f"env {env['name']}={env['value']} is not in a mounted Secret")
        elif "value" in env and SECRET_WORDS.search(env["name"]):
            problem(where, f"env {env['name']} is a literal: take it from a Secret (secretKeyRef)")
        if "valueFrom" in env and SECRET_WORDS.search(env["name"]) and "secretKeyRef" not in env["valueFrom"]:
            problem(where, f"env {env['name']} does not come from a Secret")
    for name, value in flags(container.get("args")).items():
        if name in ("token", "password") or (SECRET_WORDS.search(name) and not name.endswith(("-file", "-cert",
                                                                                             "-key", "-ca"))):
            problem(where, f"--{name} carries a secret on the command line: use a file from a Secret")
        if name.endswith(("token-file", "tls-cert", "tls-key", "tls-ca")):
            if not any(str(value).startswith(path.rstrip("/") + "/") for path in mounts):
                problem(where, f"--{name}={value} is not in a mounted Secret")
        if name == "db" and re.match(r"^\w+://[^/@]*:[^/@]*@", str(value)):
            problem(where, "--db has a password in its URL: it would be in argv")


def listen_port(server_flags):
    return int(str(server_flags.get("listen", "127.0.0.1:50051")).rsplit(":", 1)[1])


def check_probe(where, probe, server_flags, container, mounts):
    port = listen_port(server_flags)
    container_ports = {p["containerPort"] for p in container.get("ports", [])}
    if port not in container_ports:
        problem(where, f"the listening port {port} is not a containerPort")
    if "grpc" in probe:
        if probe["grpc"].get("port") != port:
            problem(where, f"grpc probe on port {probe['grpc'].get('port')}, the server listens on {port}")
        if "tls-cert" in server_flags:
            problem(where, "the kubelet's grpc probe speaks plaintext, and this server serves TLS")
        if probe["grpc"].get("service", "") not in HEALTH_SERVICES:
            problem(where, f"grpc probe of unknown service {probe['grpc'].get('service')}")
        return
    command = probe.get("exec", {}).get("command", [])
    if not command or os.path.basename(command[0]) != "tscale-health-probe":
        problem(where, "not a grpc.health.v1 probe (grpc:, or exec of tscale-health-probe)")
        return
    probe_flags = flags(command[1:])
    if probe_flags.get("addr") != f"127.0.0.1:{port}":
        problem(where, f"probe --addr={probe_flags.get('addr')}, the server listens on port {port}")
    if probe_flags.get("service", "") not in HEALTH_SERVICES:
        problem(where, f"probe of unknown service {probe_flags.get('service')}")
    if "tls-cert" in server_flags:
        ca = str(probe_flags.get("tls-ca", ""))
        if not any(ca.startswith(path.rstrip("/") + "/") for path in mounts):
            problem(where, "the server serves TLS: the probe needs --tls-ca from a mounted Secret")
        if not probe_flags.get("server-name"):
            problem(where, "the probe dials 127.0.0.1: --server-name must be the certificate's name")


def check_server(where, container, mounts):
    server_flags = flags(container.get("args"))
    host = str(server_flags.get("listen", "127.0.0.1:50051")).rsplit(":", 1)[0]
    if not host.startswith("127.") and host != "localhost":
        for needed in ("allow-remote", "tls-cert", "tls-key", "client-token-file", "worker-token-file"):
            if needed not in server_flags:
                problem(where, f"listens off loopback without --{needed}")
        if "allow-insecure-remote" in server_flags:
            problem(where, "--allow-insecure-remote")
    for kind in ("readinessProbe", "livenessProbe"):
        if kind not in container:
            problem(where, f"no {kind}")
        else:
            check_probe(f"{where} {kind}", container[kind], server_flags, container, mounts)


def check_worker(where, doc, pod, container):
    worker_flags = flags(container.get("args"))
    drain = float(worker_flags.get("drain-timeout-s", 1800))  # the worker's default
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < drain + DRAIN_MARGIN_S:
        problem(where, f"terminationGracePeriodSeconds {grace} < --drain-timeout-s {drain:g} + {DRAIN_MARGIN_S}")
    if "tls-ca" not in worker_flags:
        problem(where, "the worker talks to the coordinator without TLS (--tls-ca)")
    if "token-file" not in worker_flags:
        problem(where, "the worker has no --token-file")
    device = worker_flags.get("device", "auto")
    gpus = {side: container.get("resources", {}).get(side, {}).get("nvidia.com/gpu") for side in ("requests",
                                                                                                   "limits")}
    wants_gpu = device in ("cuda", "auto") or "cuda" in str(doc["metadata"].get("labels", {}))
    if device == "mps":
        problem(where, "--device=mps: no Mac runs in Kubernetes")
    if wants_gpu:
        if not gpus["limits"] or int(gpus["limits"]) < 1:
            problem(where, f"--device={device}: a GPU worker must request nvidia.com/gpu in its limits")
        if not pod.get("nodeSelector") and "nodeAffinity" not in pod.get("affinity", {}):
            problem(where, "a GPU worker needs a nodeSelector or node affinity for GPU nodes")
    elif gpus["limits"] or gpus["requests"]:
        problem(where, f"--device={device} worker holds a GPU it does not use")


def check_manifest(path, version):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    if not docs:
        problem(os.path.relpath(path), "no Kubernetes object")
    check_docs(os.path.relpath(path), docs, version)


def check_docs(rel, docs, version):
    for doc in docs:
        where = f"{rel} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for key in ("apiVersion", "kind", "metadata"):
            if key not in doc:
                problem(where, f"no {key}")
        if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            problem(where, "a Secret with its values in the repository")
        if doc.get("kind") not in ("Namespace",) and doc.get("metadata", {}).get("namespace") != "tscale":
            problem(where, "not in the tscale namespace")
        if doc.get("kind") not in WORKLOADS:
            continue
        pod = pod_spec(doc)
        for field in sorted(set(pod) - POD_FIELDS):
            problem(where, f"unknown pod field {field!r}")
        if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
            problem(where, "shares a host namespace")
        if any("hostPath" in v for v in pod.get("volumes", [])):
            problem(where, "hostPath volume")
        if pod.get("automountServiceAccountToken") is not False:
            problem(where, "automountServiceAccountToken is not false (no tscale process calls the API)")
        mounts_by_container = secret_paths(pod)
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            cwhere = f"{where} container {container['name']}"
            for field in sorted(set(container) - CONTAINER_FIELDS):
                problem(cwhere, f"unknown container field {field!r}")
            args = container.get("args") or []
            for flag, value in zip(args, args[1:]):
                if flag.startswith("--") and "=" not in flag and not value.startswith("--"):
                    problem(cwhere, f"write {flag}={value}: the checks read flags as --name=value")
            check_image(cwhere, container.get("image", ""), version)
            check_resources(cwhere, container)
            check_security(cwhere, pod, container)
            mounts = mounts_by_container[container["name"]]
            check_secrets(cwhere, container, mounts)
            program = os.path.basename((container.get("command") or [""])[0])
            if program == "tscale-server":
                check_server(cwhere, container, mounts)
            elif program == "tscale-worker":
                check_worker(cwhere, doc, pod, container)
            elif "readinessProbe" not in container or "livenessProbe" not in container:
                problem(cwhere, "no readiness or liveness probe")


def check_services(paths):
    """Each Service selects the pods of a workload and targets a port they declare."""
    pods = []
    for path in paths:
        for doc in yaml.safe_load_all(open(path)):
            if doc and doc.get("kind") in WORKLOADS:
                template = doc["spec"]["template"]
                ports = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports", [])}
                ports |= {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
                pods.append((template["metadata"].get("labels", {}), ports))
    for path in paths:
        for doc in yaml.safe_load_all(open(path)):
            if not doc or doc.get("kind") != "Service":
                continue
            where = f"{os.path.relpath(path)} Service/{doc['metadata']['name']}"
            selector = doc["spec"].get("selector", {})
            targets = [labels_ports for labels_ports in pods if selector.items() <= labels_ports[0].items()]
            if not targets:
                problem(where, f"selects no pods ({selector})")
            for port in doc["spec"].get("ports", []):
                target = port.get("targetPort", port["port"])
                if targets and not all(target in ports for _, ports in targets):
                    problem(where, f"targetPort {target} is not a port of the pods it selects")


def check_container_build(root, paths):
    images = {c.get("image", "") for p in paths for d in yaml.safe_load_all(open(p)) if d and d.get("kind") in
              WORKLOADS for c in d["spec"]["template"]["spec"]["containers"]}
    if not any("/tscale/tscale:" in i for i in images):
        return
    dockerfile = os.path.join(root, "deploy", "container", "Dockerfile")
    if not os.path.exists(dockerfile):
        problem("deploy/container/Dockerfile", "missing, but the manifests name a tscale image")
        return
    text = open(dockerfile).read()
    for needed in ("FROM debian:12", "scripts/install-deps.sh", "scripts/build.sh", "tscale-health-probe",
                   "USER 10001"):
        if needed not in text:
            problem("deploy/container/Dockerfile", f"does not have {needed!r}")
    probe = os.path.join(root, "deploy", "container", "tscale-health-probe")
    result = subprocess.run(["/usr/bin/python3", "-m", "py_compile", probe], capture_output=True, text=True)
    if result.returncode != 0:
        problem("deploy/container/tscale-health-probe", result.stderr.strip())


def check_sbatch(path):
    rel = os.path.relpath(path)
    result = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
    if result.returncode != 0:
        problem(rel, f"bash -n: {result.stderr.strip()}")
    # Debian's shellcheck, installed by scripts/install-deps.sh: missing is a failure, not a skip.
    try:
        result = subprocess.run(["shellcheck", "--shell=bash", path], capture_output=True, text=True)
        if result.returncode != 0:
            problem(rel, "shellcheck:\n" + result.stdout.strip())
    except FileNotFoundError:
        problem(rel, "shellcheck is not installed (scripts/install-deps.sh installs it)")
    text = open(path).read()
    signal = re.search(r"^#SBATCH --signal=(B:)?TERM@(\d+)\s*$", text, re.M)
    drain = re.search(r"^readonly DRAIN_TIMEOUT_S=(\d+)\s*$", text, re.M)
    if not signal:
        problem(rel, "no `#SBATCH --signal=B:TERM@<seconds>`: the worker would be killed mid-job at the limit")
    elif not signal.group(1):
        problem(rel, "--signal without B: goes to job steps only, never to this script's worker")
    if not drain or '--drain-timeout-s "$DRAIN_TIMEOUT_S"' not in text:
        problem(rel, "the worker's --drain-timeout-s is not DRAIN_TIMEOUT_S")
    if signal and drain and int(signal.group(2)) < int(drain.group(1)) + SLURM_RELEASE_MARGIN_S:
        problem(rel, f"SIGTERM {signal.group(2)} s before the limit leaves less than the drain "
                     f"({drain.group(1)} s) + {SLURM_RELEASE_MARGIN_S} s")
    if not re.search(r"^trap .*kill -TERM .*\bTERM\b", text, re.M) and not re.search(r"^exec .*tscale-worker", text,
                                                                                        re.M):
        problem(rel, "SIGTERM is not passed on to the worker (trap or exec)")
    for needed in ("--idle-exit-s", "--max-jobs", "--id", "--state-dir"):
        if needed not in text:
            problem(rel, f"the worker is not given {needed}")


def self_test(root, version):
    """Each defect the checks exist for, planted in a copy of a real manifest or script, must be reported: a
    check that can never fail would pass the real files just as well."""
    global problems
    kube = os.path.join(root, "deploy", "kubernetes")
    coordinator = [d for d in yaml.safe_load_all(open(os.path.join(kube, "coordinator.yaml"))) if d]
    cuda = [d for d in yaml.safe_load_all(open(os.path.join(kube, "worker-cuda.yaml"))) if d]

    def pod(docs):
        return next(d for d in docs if d["kind"] in WORKLOADS)["spec"]["template"]["spec"]

    def first(docs):  # the first container: tscale-server or tscale-worker
        return pod(docs)["containers"][0]

    def set_arg(container, name, value):
        container["args"] = [a for a in container["args"] if not a.startswith(f"--{name}=")] + [f"--{name}={value}"]

    mutations = [
        (coordinator, lambda d: first(d).update(image="registry.example.org/tscale/tscale:latest"), "`latest`"),
        (coordinator, lambda d: first(d).update(image="registry.example.org/tscale/tscale"), "no tag or digest"),
        (coordinator, lambda d: first(d).update(image="registry.example.org/tscale/tscale:0.0.1"), "version"),
        (coordinator, lambda d: first(d).pop("readinessProbe"), "no readinessProbe"),
        (coordinator, lambda d: first(d).update(readinesProbe=first(d).pop("readinessProbe")), "'readinesProbe'"),
        (coordinator, lambda d: first(d)["livenessProbe"]["exec"]["command"].append("--addr=127.0.0.1:50052"),
         "probe --addr"),
        (coordinator, lambda d: first(d).update(livenessProbe={"grpc": {"port": 50051}}), "speaks plaintext"),
        (coordinator, lambda d: first(d)["readinessProbe"]["exec"]["command"].append("--service=nope"),
         "unknown service"),
        (coordinator, lambda d: first(d)["resources"].pop("limits"), "no limits.cpu"),
        (coordinator, lambda d: first(d)["securityContext"].update(readOnlyRootFilesystem=False),
         "readOnlyRootFilesystem"),
        (coordinator, lambda d: first(d)["securityContext"].pop("allowPrivilegeEscalation"),
         "allowPrivilegeEscalation"),
        (coordinator, lambda d: first(d)["securityContext"].update(capabilities={"drop": []}), "drop ALL"),
        (coordinator, lambda d: pod(d)["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
        (coordinator, lambda d: first(d).setdefault("env", []).append({"name": "TSCALE_CLIENT_TOKEN",
                                                                        "value": "s3cret"}), "is a literal"),
        (coordinator, lambda d: set_arg(first(d), "worker-token-file", "/var/lib/tscale/worker.token"),
         "not in a mounted Secret"),
        (coordinator, lambda d: set_arg(first(d), "db", "postgresql://tscale:pw@db:5432/tscale"),
         "password in its URL"),
        (coordinator, lambda d: first(d)["args"].remove("--allow-remote"), "without --allow-remote"),
        (coordinator, lambda d: d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": "tscale-worker-token", "namespace": "tscale"}, "stringData": {"token": "s3cret"}}),
         "Secret with its values"),
        (cuda, lambda d: pod(d).update(terminationGracePeriodSeconds=600), "terminationGracePeriodSeconds"),
        (cuda, lambda d: [first(d)["resources"][side].pop("nvidia.com/gpu") for side in ("requests", "limits")],
         "must request nvidia.com/gpu"),
        (cuda, lambda d: pod(d).pop("nodeSelector"), "nodeSelector"),
        (cuda, lambda d: first(d)["args"].remove("--tls-ca=/etc/tscale/ca/ca.crt"), "without TLS"),
    ]
    real, failed = problems, []
    for docs, mutate, expected in mutations:
        problems = []
        planted = copy.deepcopy(docs)
        mutate(planted)
        check_docs("self-test", planted, version)
        if not any(expected in p for p in problems):
            failed.append(f"self-test: a manifest with a planted defect ({expected!r}) passed: {problems}")

    sbatch = open(os.path.join(root, "deploy", "slurm", "tscale-worker.sbatch")).read()
    script_mutations = [
        (lambda t: t.replace("--signal=B:TERM@720", "--signal=B:TERM@600"), "leaves less than"),
        (lambda t: t.replace("--signal=B:TERM@", "--signal=TERM@"), "without B:"),
        (lambda t: re.sub(r"^trap .*$", "", t, flags=re.M), "not passed on"),
        (lambda t: t.replace("--idle-exit-s", "--idle"), "--idle-exit-s"),
        (lambda t: t + "\necho $undefined_thing\n", "shellcheck"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for mutate, expected in script_mutations:
            problems = []
            path = os.path.join(tmp, "planted.sbatch")
            with open(path, "w") as f:
                f.write(mutate(sbatch))
            check_sbatch(path)
            if not any(expected in p for p in problems):
                failed.append(f"self-test: an sbatch script with a planted defect ({expected!r}) passed: {problems}")
    problems = real + failed
    return len(mutations) + len(script_mutations)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    os.chdir(root)
    version = project_version(root)
    kube = os.path.join(root, "deploy", "kubernetes")
    manifests = sorted(os.path.join(d, f) for d, _, files in os.walk(kube) for f in files if f.endswith(".yaml"))
    if not manifests:
        problem("deploy/kubernetes", "no manifests")
    for path in manifests:
        check_manifest(path, version)
    check_services(manifests)
    check_container_build(root, manifests)
    slurm = os.path.join(root, "deploy", "slurm")
    scripts = sorted(os.path.join(slurm, f) for f in os.listdir(slurm) if f.endswith(".sbatch"))
    if not scripts:
        problem("deploy/slurm", "no sbatch script")
    for path in scripts:
        check_sbatch(path)
    planted = self_test(root, version)
    for line in problems:
        print(line)
    print(f"check_manifests: {len(manifests)} manifests, {len(scripts)} sbatch scripts, {planted} defects "
          f"planted and caught; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
