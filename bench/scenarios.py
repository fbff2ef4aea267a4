"""Our side of the suite: each function runs one scenario once on a fresh stack (schema,
queue prefix and key prefix of its own) and returns one row of figures."""
import time

import benchlib as b


def _process_row(prefix, pid, cpu_before, jobs):
    return {f"{prefix}_cpu_ms_per_job": (b.cpu_seconds(pid) - cpu_before) * 1000 / max(jobs, 1),
            f"{prefix}_peak_rss_mb": b.peak_rss_mb(pid)}


def _poll_row(rate, r):
    """A polling load's result (b.Load.result()) as row columns."""
    ok = r["status"].get("200", 0)
    return {"poll_offered_rps": rate, "poll_rps": ok / r["duration_s"] if r["duration_s"] else 0.0,
            "poll_p50_ms": r["latency_ms"]["p50"], "poll_p99_ms": r["latency_ms"]["p99"],
            "poll_not_200": r["answered"] - ok + r["errors"]}


def ingress(rate, duration, settings):
    """(a) POST /api/v1/workers/classify/:id for fresh meetings at `rate` (0: as fast as
    answers come back), no workers: accepted/s and latency of durable acceptance."""
    stack = b.Stack(settings)
    try:
        stack.start_api()
        need = int((rate or 16000) * duration * 1.2) + 500
        ids = stack.load_meetings(need)
        meter = b.ServiceMeter()
        meter.start()
        api_cpu = b.cpu_seconds(stack.api.pid)
        r = b.Load(stack.url, [f"/api/v1/workers/classify/{i}" for i in ids], rate, duration,
                   key=stack.key, method="POST").result()
        accepted = r["status"].get("202", 0)
        row = {"offered_rps": rate, "accepted_per_s": accepted / r["duration_s"] if r["duration_s"] else 0.0,
               "p50_ms": r["latency_ms"]["p50"], "p99_ms": r["latency_ms"]["p99"],
               "max_ms": r["latency_ms"]["max"], "not_202": r["answered"] - accepted + r["errors"],
               "load_cpu_ms_per_job": r["cpu_s"] * 1000 / max(accepted, 1)}
        row.update(_process_row("api", stack.api.pid, api_cpu, accepted))
        row.update(b.services_per_job(meter, accepted))
        if rate:
            row.update(b.machine_floor(rate, duration))
        return row
    finally:
        stack.stop()


def end_to_end(latency_ms, jobs, replicas, settings, poll_rate=None, poll_duration=3.0, batch_share=None):
    """(b), (c), (e): every unclassified meeting through queue-unclassified until every
    result is in Postgres. With poll_rate, (d): GET /api/v1/tasks/:id over the batch's
    tasks at that rate (0: closed loop) while the batch runs; with batch_share, the batch
    side (replicas, stub, Postgres, RabbitMQ) runs at that fraction of the default CPU
    weight (b.CpuGroup)."""
    stub = b.Stub(latency_ms)
    stack = b.Stack({**stub.settings(), **settings})
    group = None
    try:
        stack.start_api()
        stack.load_meetings(jobs)
        workers = [stack.start_worker() for _ in range(replicas)]
        if batch_share:
            group = b.CpuGroup(batch_share)
            for pid in [p.pid for p in workers] + [stub.proc.pid] + b.processes_named("postgres") + \
                    b.processes_named("beam.smp"):
                group.add(pid)
        meter = b.ServiceMeter()
        meter.start()
        cpu = {p.pid: b.cpu_seconds(p.pid) for p in workers + [stack.api]}
        stub_cpu = b.cpu_seconds(stub.proc.pid)
        started = time.monotonic()
        body = stack.queue_unclassified()
        # Workers start on each chunk as it commits, so part of the batch is done by the
        # time the whole of it is accepted: the rate after that tells enqueueing from running.
        answered = time.monotonic() - started
        done_at_answer = stack.batch(body["batch_id"])["succeeded"]
        poll = None
        if poll_rate is not None:
            poll = b.Load(stack.url, [f"/api/v1/tasks/{t}" for t in body["task_ids"]], poll_rate,
                          poll_duration, key=stack.key)
        batch = stack.wait_all_succeeded(body["batch_id"], jobs)
        seconds = time.monotonic() - started
        row = {"latency_ms": latency_ms, "replicas": replicas, "jobs": jobs, "seconds": seconds,
               "jobs_per_s": jobs / seconds, "answered_s": answered,
               "after_answer_jobs_per_s": (jobs - done_at_answer) / max(seconds - answered, 1e-3),
               "max_in_flight": stub.stats()["max_in_flight"],
               "worker_cpu_ms_per_job": sum(b.cpu_seconds(p.pid) - cpu[p.pid] for p in workers) * 1000 / jobs,
               "worker_peak_rss_mb": max(b.peak_rss_mb(p.pid) for p in workers)}
        row.update(_process_row("api", stack.api.pid, cpu[stack.api.pid], jobs))
        row.update(_process_row("stub", stub.proc.pid, stub_cpu, jobs))
        row.update(b.services_per_job(meter, jobs))
        if poll:
            row.update(_poll_row(poll_rate, poll.result()))
        if batch_share:
            row["batch_cpu_share"] = batch_share
        return row
    finally:
        try:
            if group:
                group.close()
        finally:  # the stack stops even when the group cannot be removed
            stack.stop()
            stub.stop()


def polling_alone(rate, jobs, settings, duration=3.0):
    """(d) without the batch: GET /api/v1/tasks/:id over `jobs` finished tasks at `rate`
    (0: closed loop) once nothing else runs, to tell the API's own cost from the share of
    the two cores a running batch leaves it."""
    stub = b.Stub(0)
    stack = b.Stack({**stub.settings(), **settings})
    try:
        stack.start_api()
        stack.load_meetings(jobs)
        stack.start_worker()
        body = stack.queue_unclassified()
        stack.wait_batch(body["batch_id"])
        meter = b.ServiceMeter()
        meter.start()
        api_cpu = b.cpu_seconds(stack.api.pid)
        r = b.Load(stack.url, [f"/api/v1/tasks/{t}" for t in body["task_ids"]], rate, duration, key=stack.key).result()
        ok = r["status"].get("200", 0)
        row = dict(_poll_row(rate, r), load_cpu_ms_per_job=r["cpu_s"] * 1000 / max(ok, 1))
        row.update(_process_row("api", stack.api.pid, api_cpu, ok))
        row.update(b.services_per_job(meter, ok))
        if rate:
            row.update(b.machine_floor(rate, duration))
        return row
    finally:
        stack.stop()
        stub.stop()
