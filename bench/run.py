#!/usr/bin/env python3
"""The benchmark suite: our stack and the same job on Celery, in one invocation.

  scripts/dev bench [--runs 3] [--jobs 20000] [--celery-jobs 5000] [--only a,b,c,d,e,f,g,h,i,j,celery]
                    [--rates 1000,2500,5000,7500,10000,12500] [--poll-rates 5000,10000,20000,0]
                    [--worker-threads 1] [--merge] [--quick]
  scripts/dev bench --ab MQ_NAME=value[,MQ_NAME=value] [--ab-llm-ms 0] [--runs 3] [--jobs 20000]

(a) single-job ingress at rising rates, (b) 20,000 jobs end to end with the LLM stub at
0 ms, (c) the same at 200 ms and 1 s, (d) polling while (b) runs and with nothing else running, (e) (c) with 1, 2 and 4
worker replicas; Celery's enqueue rate and its prefork and gevent pools on (b) and (c); (f) semantic
search over 100,000 chunks (bench/results/search.{md,json}); (g) campaign sends, (h) KPI reads,
(i) the worker's instructions per job under callgrind and (j) where the machine's CPU goes during
(b), under perf, each in results/ under its own name. Every
figure of the suite is the median of --runs runs. Writes bench/results/suite.{md,json} and PNG
plots. --ab instead compares (b) (or (c), --ab-llm-ms 200) with a change of settings in
alternating pairs (results/ab.{md,json}).
"""
import argparse
import json
import os
import sys

import benchlib as b
import report
import scenarios


def median_row(runs):
    """The runs' medians, with each figure's lowest and highest run under "range": the
    machine is shared, and a median says nothing of how far runs strayed."""
    row = dict(runs[0])
    spread = {}
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            values = [r[k] for r in runs]
            row[k] = b.median(values)
            spread[k] = [min(values), max(values)]
    row["runs"] = len(runs)
    row["range"] = spread
    return row


def repeat(label, runs, fn, *args):
    got = []
    for i in range(runs):
        r = fn(*args)
        shown = {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()
                 if k in ("accepted_per_s", "p99_ms", "jobs_per_s", "worker_peak_rss_mb", "poll_rps", "poll_p99_ms",
                          "enqueued_per_s")}
        print(f"{label}, run {i + 1}/{runs}: {shown}", file=sys.stderr, flush=True)
        got.append(r)
    return median_row(got)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--celery-jobs", type=int, default=5000)
    ap.add_argument("--rates", default="1000,2500,5000,7500,10000,12500,0")
    ap.add_argument("--poll-rates", default="5000,10000,20000,0")
    ap.add_argument("--ingress-seconds", type=float, default=3.0)
    ap.add_argument("--prefetch", type=int, default=2000)
    ap.add_argument("--worker-threads", type=int, default=1,
                    help="CAF scheduler threads per replica: on two cores shared with every other process, one "
                         "thread wakes less and ran 8%% more jobs/s than two in alternating runs")
    ap.add_argument("--batch-weight", type=int, default=8,
                    help="(d) is measured again with the batch side (replicas, stub, Postgres, RabbitMQ) in a "
                         "cgroup at 1/N of the default CPU weight, as ops weight batch workers below the API on a "
                         "shared host; 0: not")
    ap.add_argument("--only", default="a,b,c,d,e,f,g,h,i,j,celery")
    ap.add_argument("--merge", action="store_true",
                    help="keep the figures of results/suite.json that this invocation does not measure")
    ap.add_argument("--quick", action="store_true", help="one run of small sizes, to check the suite works")
    ap.add_argument("--ab", metavar="MQ_NAME=value[,...]",
                    help="instead of the suite: (b) with the settings as they are and with these, in --runs "
                         "alternating pairs (results/ab.{md,json})")
    ap.add_argument("--ab-llm-ms", type=int, default=0, help="the stub's latency for --ab: 0 is (b), 200 is (c)")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.jobs, args.celery_jobs = 1, 2000, 300
        args.rates, args.poll_rates, args.ingress_seconds = "2000,0", "5000", 1.0
    only = set(args.only.split(","))
    settings = {"MQ_WORKER_PREFETCH": str(args.prefetch), "MQ_LLM_MAX_IN_FLIGHT": str(args.prefetch),
                "MQ_WORKER_THREADS": str(args.worker_threads)}
    if args.ab:
        import ab_bench
        variant = ab_bench.parse(args.ab)
        print(ab_bench.write(ab_bench.run(args.runs, args.jobs, settings, variant, args.ab_llm_ms,
                                          lambda line: print(line, file=sys.stderr, flush=True))))
        return
    speed_at_start = b.speed_ms()
    res = {"meta": {"machine": b.machine(), "settings": {
        "runs": args.runs, "jobs": args.jobs, "celery_jobs": args.celery_jobs, "prefetch": args.prefetch,
        "llm.max_in_flight": args.prefetch, "worker.threads": args.worker_threads,
        "provider": "openai (mq-llm-stub)", "log": "warn",
        "load_connections": 128, "ingress_seconds": args.ingress_seconds, "batch_cpu_weight": f"1/{args.batch_weight}" if args.batch_weight else "default"}}}

    if "a" in only:
        res["ingress"] = [repeat(f"(a) ingress at {r or 'max'}/s", args.runs, scenarios.ingress, r,
                                 args.ingress_seconds, {})
                          for r in (int(x) for x in args.rates.split(","))]
    if "celery" in only:
        import celery_bench
        res["celery_enqueue"] = repeat("Celery enqueue", args.runs, celery_bench.enqueue_rate, 3000)
    e2e = res.setdefault("e2e", [])
    if "b" in only:
        e2e.append(repeat("(b) 0 ms, 1 replica", args.runs, scenarios.end_to_end, 0, args.jobs, 1, settings))
    if "c" in only or "e" in only:
        e2e.append(repeat("(c) 200 ms, 1 replica", args.runs, scenarios.end_to_end, 200, args.jobs, 1, settings))
    if "c" in only:
        e2e.append(repeat("(c) 1 s, 1 replica", args.runs, scenarios.end_to_end, 1000, args.jobs, 1, settings))
    if "e" in only:
        for n in (2, 4):
            e2e.append(repeat(f"(e) 200 ms, {n} replicas", args.runs, scenarios.end_to_end, 200, args.jobs, n,
                              settings))
    if "d" in only:
        res["polling"] = [repeat(f"(d) polling at {r or 'max'}/s", args.runs, scenarios.end_to_end, 0, args.jobs,
                                 1, settings, r)
                          for r in (int(x) for x in args.poll_rates.split(","))]
        if args.batch_weight:
            res["polling_weighted"] = [
                repeat(f"(d) polling at {r or 'max'}/s, batch side at 1/{args.batch_weight} CPU weight", args.runs,
                       scenarios.end_to_end, 0, args.jobs, 1, settings, r, 3.0, 1 / args.batch_weight)
                for r in (int(x) for x in args.poll_rates.split(","))]
        res["polling_alone"] = [repeat(f"(d) polling at {r or 'max'}/s, nothing else running", args.runs,
                                       scenarios.polling_alone, r, min(args.jobs, 5000), settings)
                                for r in (int(x) for x in args.poll_rates.split(","))]
    if "celery" in only:
        import celery_bench
        res["celery"] = [repeat(f"Celery {pool} {n}, {lat} ms", args.runs, celery_bench.end_to_end, lat,
                                args.celery_jobs, pool, n)
                         for lat, pool, n in ((0, "prefork", 2), (0, "gevent", 100), (200, "gevent", 100),
                                              (200, "prefork", 32))]
    if "f" in only:
        import search_bench
        print(search_bench.write(search_bench.run(10000 if args.quick else 100000)))
    if "g" in only:
        import campaign_bench
        n = 2000 if args.quick else 10000
        print(campaign_bench.write([campaign_bench.run(n, 0), campaign_bench.run(n, 50)]))
    if "h" in only:
        import kpi_bench
        print(kpi_bench.write(kpi_bench.run(10000 if args.quick else 100000)))
    if "i" in only:
        import instructions_bench
        print(instructions_bench.write(instructions_bench.run(1000 if args.quick else 3000, settings)))
    if "j" in only:
        import profile_bench
        try:
            print(profile_bench.write(profile_bench.run(2000 if args.quick else 3 * args.jobs, settings)))
        except profile_bench.PerfUnavailable as e:  # the rest of the suite still stands
            print(f"(j) skipped: {e}", file=sys.stderr)
    if only <= {"f", "g", "h", "i", "j"}:
        return
    res["meta"]["speed_ms"] = {"start": speed_at_start, "end": b.speed_ms()}
    if args.merge:
        res = merge(res)
    print(report.write(res))


def merge(res):
    """The previous suite.json with this invocation's figures in place of its own."""
    try:
        with open(os.path.join(b.RESULTS, "suite.json")) as f:
            old = json.load(f)
    except OSError:
        return res
    for k, v in res.items():
        if k == "e2e":
            mine = {(r["latency_ms"], r["replicas"]) for r in v}
            old[k] = sorted([r for r in old.get(k, []) if (r["latency_ms"], r["replicas"]) not in mine] + v,
                            key=lambda r: (r["latency_ms"], r["replicas"]))
        elif v or k not in old:
            old[k] = v
    return old


if __name__ == "__main__":
    main()
