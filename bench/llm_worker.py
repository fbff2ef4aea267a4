#!/usr/bin/env python3
"""One worker replica against the LLM stub at several latencies.

For each latency: jobs/s through queue-unclassified until every result is in Postgres,
the most LLM calls the stub saw in flight at once, the worker's CPU per job and its peak
RSS. Medians of --runs runs. Writes bench/results/llm_worker.{md,json}.

  bench/llm_worker.py [--jobs 20000] [--latencies 0,200,1000] [--runs 3]
"""
import argparse
import sys

import benchlib as b


def one_run(latency_ms, jobs, settings):
    stub = b.Stub(latency_ms)
    stack = b.Stack({"MQ_LLM_PROVIDER": "openai", "MQ_LLM_BASE_URL": stub.base_url,
                     "MQ_LLM_MODEL": "stub-model", **settings})
    try:
        stack.start_api()
        stack.load_meetings(jobs)
        worker = stack.start_worker()
        cpu0 = b.cpu_seconds(worker.pid)
        seconds, batch = stack.run_batch()
        cpu = b.cpu_seconds(worker.pid) - cpu0
        if batch["succeeded"] != jobs:
            raise RuntimeError(f"only {batch['succeeded']} of {jobs} succeeded: {batch}")
        stats = stub.stats()
        return {"jobs_per_s": jobs / seconds, "seconds": seconds, "max_in_flight": stats["max_in_flight"],
                "connections": stats["connections"], "cpu_ms_per_job": cpu * 1000 / jobs,
                "peak_rss_mb": b.peak_rss_mb(worker.pid)}
    finally:
        stack.stop()
        stub.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--latencies", default="0,200,1000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prefetch", type=int, default=2000)
    args = ap.parse_args()
    settings = {"MQ_WORKER_PREFETCH": str(args.prefetch), "MQ_LLM_MAX_IN_FLIGHT": str(args.prefetch)}
    rows = []
    for latency in [int(x) for x in args.latencies.split(",")]:
        runs = []
        for i in range(args.runs):
            r = one_run(latency, args.jobs, settings)
            print(f"latency {latency} ms, run {i + 1}: {r['jobs_per_s']:.0f} jobs/s, "
                  f"{r['max_in_flight']} in flight, {r['cpu_ms_per_job']:.3f} ms CPU/job, "
                  f"{r['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
            runs.append(r)
        row = {"latency_ms": latency, "jobs": args.jobs, "runs": args.runs}
        for k in runs[0]:
            row[k] = b.median([r[k] for r in runs])
        rows.append(row)
    header = [("LLM latency (ms)", "latency_ms"), ("jobs", "jobs"), ("jobs/s (median)", "jobs_per_s"),
              ("calls in flight (max)", "max_in_flight"), ("worker CPU ms/job", "cpu_ms_per_job"),
              ("worker peak RSS (MB)", "peak_rss_mb"), ("runs", "runs")]
    meta = {"machine": b.machine(), "settings": {"replicas": 1, "prefetch": args.prefetch,
                                                 "llm.max_in_flight": args.prefetch, "provider": "openai (stub)",
                                                 "worker.threads": 2, "log": "warn"}}
    print(b.write_results("llm_worker", header, rows, meta))


if __name__ == "__main__":
    main()
