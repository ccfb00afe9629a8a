#!/usr/bin/env python3
"""Lists a sweep's results from Python over tscale's gRPC API (Debian: python3-grpcio, protobuf-compiler).

    examples/python/list_results.py --server 127.0.0.1:50051 --sweep 1 [--token-file F] [--csv]

The message classes are generated on the fly from proto/tscale/v1/tscale.proto with protoc, and the method
is called by its full gRPC name, so nothing but the .proto file is needed: no generated service stubs.
Columns: job, model, length, state, outcome, workload (forward or decode), median_ms, tokens_per_s, peak_MiB.
Exit codes follow tscale-client: 0 ok, 1 server unreachable or failed, 2 refused (bad sweep id, token).
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import grpc

PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")


def load_messages(workdir):
    """Compiles tscale.proto to Python in `workdir` and imports it."""
    subprocess.run(["protoc", f"--proto_path={PROTO_ROOT}", f"--python_out={workdir}", "tscale/v1/tscale.proto"],
                   check=True)
    sys.path.insert(0, workdir)
    from tscale.v1 import tscale_pb2  # noqa: E402 (generated just above)
    return tscale_pb2


def workload_name(pb, workload):
    """"forward" or "decode"; a job stored before the workload axis (UNSPECIFIED) is a forward job."""
    if workload == pb.WORKLOAD_UNSPECIFIED:
        return "forward"
    return pb.Workload.Name(workload).removeprefix("WORKLOAD_").lower()


def table(pb, response):
    """The header and one row of strings per job. The workload follows the outcome; a decode job's median_ms and
    tokens_per_s time a whole generation (prefill plus new tokens), as in `tscale-client results`."""
    header = ["job", "model", "length", "state", "outcome", "workload", "median_ms", "tokens_per_s", "peak_MiB"]
    rows = []
    for job in response.jobs:
        r = job.result
        finished = job.state == pb.JOB_STATE_FINISHED
        rows.append([str(job.spec.job_id), job.spec.model_id, str(job.spec.seq_len),
                     pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower(),
                     pb.Outcome.Name(r.outcome).removeprefix("OUTCOME_").lower() if finished else "",
                     workload_name(pb, job.spec.workload),
                     f"{r.latency.median_ms:.2f}" if r.latency.count else "",
                     f"{r.tokens_per_second:.0f}" if r.latency.count else "",
                     f"{r.memory.peak_rss_bytes / 2**20:.1f}" if r.memory.peak_rss_bytes else ""])
    return header, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("TSCALE_SERVER", "127.0.0.1:50051"))
    parser.add_argument("--sweep", type=int, required=True, help="sweep id")
    parser.add_argument("--token-file", help="client bearer token file (or env TSCALE_TOKEN)")
    parser.add_argument("--csv", action="store_true", help="CSV instead of an aligned table")
    args = parser.parse_args()
    token = os.environ.get("TSCALE_TOKEN", "")
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()

    with tempfile.TemporaryDirectory() as workdir:
        pb = load_messages(workdir)
        with grpc.insecure_channel(args.server) as channel:
            list_results = channel.unary_unary("/tscale.v1.TscaleService/ListResults",
                                               request_serializer=pb.ListResultsRequest.SerializeToString,
                                               response_deserializer=pb.ListResultsResponse.FromString)
            metadata = [("authorization", "Bearer " + token)] if token else None
            try:
                response = list_results(pb.ListResultsRequest(sweep_id=args.sweep), metadata=metadata, timeout=30)
            except grpc.RpcError as e:
                print(f"list_results.py: {e.code().name}: {e.details()}", file=sys.stderr)
                return 1 if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else 2

        header, rows = table(pb, response)
    if args.csv:
        csv.writer(sys.stdout).writerows([header] + rows)
    else:
        widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
