"""(h) KPI reads: every KPI endpoint over a year of one tenant's data, from rollups.

Seeds `meetings` synthetic meetings over 365 days (`mqctl seed-data`), classifies them
all (offline provider, one worker), rolls them up once (timed), then times `reads`
sequential GETs of each KPI endpoint for the whole year; last, times the incremental
rollup after `fresh` new meetings today. Writes bench/results/kpis.{md,json}.

Each API Postgres connection plans a KPI statement on its first read of it (a generic
plan, kept for the connection's life): the first `api.pg_connections` reads of an
endpoint are timed apart as its cold reads, and the percentiles cover the reads after.
"""
import os
import subprocess
import time

import benchlib as b

ENDPOINTS = ["/api/v1/kpis", "/api/v1/kpis/overview", "/api/v1/kpis/sellers/performance",
             "/api/v1/kpis/meetings/trends?group_by=week", "/api/v1/kpis/clients/engagement",
             "/api/v1/kpis/clients/analysis"]


def seed(stack, meetings, days):
    """`meetings` synthetic meetings of the stack's tenant over the last `days` days."""
    out = subprocess.run([os.path.join(b.BUILD, "cli", "mqctl"), "seed-data", "--tenant", stack.id,
                          "--meetings", str(meetings), "--days", str(days), "--seed", str(days)],
                         env=stack.env, check=True, capture_output=True, text=True).stdout
    if f"stored {meetings}" not in out:
        raise RuntimeError(f"seeding failed: {out}")


def rollup(stack):
    """Runs a rollup through the API; returns its seconds and its task."""
    t0 = time.monotonic()
    status, body = b.http("POST", stack.url + "/api/v1/analytics/rollups", {}, stack.key)
    if status != 202:
        raise RuntimeError(f"rollup refused: {status} {body}")
    while True:
        _, task = b.http("GET", f"{stack.url}/api/v1/tasks/{body['task_id']}", key=stack.key)
        if task["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.02)
    if task["status"] != "succeeded":
        raise RuntimeError(f"rollup failed: {task}")
    return time.monotonic() - t0, task


def timed_get(stack, path):
    """Milliseconds one GET of `path` took."""
    start = time.perf_counter()
    status, answer = b.http("GET", stack.url + path, key=stack.key)
    if status != 200:
        raise RuntimeError(f"{path}: {status} {answer}")
    return (time.perf_counter() - start) * 1000


def run(meetings=100000, reads=200, fresh=1000):
    stack = b.Stack()
    try:
        stack.start_api()
        stack.start_worker()
        seed(stack, meetings, 365)
        stack.wait_batch(stack.queue_unclassified()["batch_id"])
        rollup_s, task = rollup(stack)
        rows = []
        connections = int(stack.env.get("MQ_API_PG_CONNECTIONS", "4"))
        for path in ENDPOINTS:
            cold = [timed_get(stack, path) for _ in range(connections)]
            lat = sorted(timed_get(stack, path) for _ in range(reads))
            rows.append({"endpoint": path, "cold_max_ms": round(max(cold), 2), "p50_ms": round(lat[len(lat) // 2], 2),
                         "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 2), "max_ms": round(lat[-1], 2)})
        # What a scheduled run costs on a live tenant: a day's new meetings, then a rollup.
        seed(stack, fresh, 1)
        stack.wait_batch(stack.queue_unclassified()["batch_id"])
        incremental_s, incremental = rollup(stack)
        return {"meetings": meetings, "rollup_seconds": round(rollup_s, 2),
                "incremental_meetings": fresh, "incremental_seconds": round(incremental_s, 2),
                "incremental_days": incremental["result"]["days_recomputed"],
                "rollup_days": task["result"]["days_recomputed"], "rollup_rows": task["result"]["rows_written"],
                "reads": reads, "endpoints": rows}
    finally:
        stack.stop()


def write(res):
    md = ["# (h) KPI reads", "",
          f"One tenant, {res['meetings']:,} meetings over 365 days, classified by the offline provider; one rollup "
          f"(full, the first): {res['rollup_seconds']} s for {res['rollup_days']} days and {res['rollup_rows']:,} rows. "
          f"Then, per endpoint over the whole year, as many sequential GETs as the API has Postgres connections "
          f"(each plans the endpoint's statement on its first read: `cold`), and {res['reads']} more "
          f"(urllib, a connection per request). "
          f"Last, {res['incremental_meetings']:,} new meetings today and an incremental rollup: "
          f"{res['incremental_seconds']} s ({res['incremental_days']} days recomputed).", "",
          "| endpoint | cold, max | p50 | p99 | max | target |", "|---|---|---|---|---|---|"]
    for r in res["endpoints"]:
        md.append(f"| `{r['endpoint']}` | {r['cold_max_ms']} ms | {r['p50_ms']} ms | {r['p99_ms']} ms | "
                  f"{r['max_ms']} ms | < 20 ms |")
    return b.save("kpis", "kpis", res, md + [""])
