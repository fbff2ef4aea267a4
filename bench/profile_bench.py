"""(j): where the machine's CPU goes while (b) runs.

perf samples both cores (the cpu-clock event, which virtual machines also have) from the
call to queue-unclassified until every result is in Postgres, and the samples are split by
process, by the object their code belongs to (binary, library, kernel) and by function.
(i) counts the worker's own instructions exactly; this shows every process beside it, the
services included, as the load runs, so the bottleneck named in a note is measured.
"""
import collections
import os
import re
import signal
import subprocess
import tempfile
import time

import benchlib as b

RATE_HZ = 499
SAMPLE = re.compile(r"^\s*(.*?)\s+(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")
SERVICES = {"postgres": "postgres", "beam.smp": "rabbitmq", "redis-server": "redis"}


def _process_name(pid, named):
    """What the suite calls process `pid`: one of ours, a service, idle, or the rest (the
    profiler, the suite's own polling, kernel threads)."""
    if pid in named:
        return named[pid]
    if pid == 0:
        return "idle"
    try:
        with open(f"/proc/{pid}/comm") as f:
            return SERVICES.get(f.read().strip(), "other processes")
    except OSError:
        return "other processes"


class PerfUnavailable(RuntimeError):
    """perf is missing or may not sample the whole machine here (a container without
    perf events, perf_event_paranoid for a non-root user)."""


def _start_perf(path):
    try:
        perf = subprocess.Popen(["perf", "record", "-a", "-F", str(RATE_HZ), "-o", path, "--", "sleep", "3600"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except FileNotFoundError as e:
        raise PerfUnavailable(str(e)) from e
    deadline = time.monotonic() + 30
    while not (os.path.exists(path) and os.path.getsize(path) > 0):  # the header: sampling has begun
        if perf.poll() is not None or time.monotonic() > deadline:
            perf.kill()
            raise PerfUnavailable(f"perf record did not start: {perf.stderr.read().decode(errors='replace')}")
        time.sleep(0.05)
    return perf


def _samples(path):
    """(pid, object, function) of every sample."""
    out = subprocess.run(["perf", "script", "-i", path, "-F", "comm,pid,ip,sym,dso"], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        m = SAMPLE.match(line)
        if m:
            yield int(m.group(2)), os.path.basename(m.group(4)), m.group(3) or "?"


def run(jobs, settings):
    stub = b.Stub(0)
    stack = b.Stack({**stub.settings(), **settings})
    path = os.path.join(tempfile.mkdtemp(prefix="mq-perf-"), "perf.data")
    perf = None
    try:
        stack.start_api()
        stack.load_meetings(jobs)
        worker = stack.start_worker()
        named = {worker.pid: "mq-worker", stack.api.pid: "mq-api", stub.proc.pid: "mq-llm-stub"}
        perf = _start_perf(path)
        started = time.monotonic()
        body = stack.queue_unclassified()
        stack.wait_all_succeeded(body["batch_id"], jobs)
        seconds = time.monotonic() - started
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        # Named while the processes still run: Postgres backends end with the stack.
        names, by_process, by_object, by_function = {}, collections.Counter(), collections.Counter(), \
            collections.Counter()
        for pid, obj, fn in _samples(path):
            if pid not in names:
                names[pid] = _process_name(pid, named)
            p = names[pid]
            by_process[p] += 1
            by_object[(p, obj)] += 1
            by_function[(p, obj, fn)] += 1
    finally:
        if perf and perf.poll() is None:
            perf.kill()
        stack.stop()
        stub.stop()
    total = sum(by_process.values())

    def row(n):
        return {"share": n / total, "cpu_ms_per_job": n * 1000 / RATE_HZ / jobs}

    return {"jobs": jobs, "seconds": seconds, "jobs_per_s": jobs / seconds, "samples": total,
            "by_process": [{"process": p, **row(n)} for p, n in by_process.most_common()],
            "by_object": [{"process": p, "object": o, **row(n)} for (p, o), n in by_object.most_common(25)],
            "top_functions": [{"process": p, "object": o, "function": f, **row(n)}
                              for (p, o, f), n in by_function.most_common(30)]}


def write(res):
    def table(rows, keys):
        lines = ["| " + " | ".join(keys) + " | share of both cores | CPU ms per job |",
                 "|" + "---|" * (len(keys) + 2)]
        for r in rows:
            cells = [r[k] if k == "process" else "`" + r[k][:100].replace("|", "\\|") + "`" for k in keys]
            lines.append(f"| {' | '.join(cells)} | {100 * r['share']:.1f}% | {r['cpu_ms_per_job']:.3f} |")
        return lines

    md = ["# (j) Where the machine's CPU goes during (b)", "",
          f"One replica classifies {res['jobs']:,} meetings with the LLM stub at 0 ms ({res['jobs_per_s']:,.0f} "
          f"jobs/s under the profiler) while perf samples both cores at {RATE_HZ} Hz, from queue-unclassified "
          f"until every result is in Postgres: {res['samples']:,} samples. `idle` is what no process used. "
          "Postgres, RabbitMQ and libcurl are stripped of their internal symbols, so part of their time shows as "
          "`[unknown]`; Redis's binary is named `redis-check-rdb`.", "",
          "## By process", ""]
    md += table(res["by_process"], ["process"])
    md += ["", "## By process and object", ""] + table(res["by_object"], ["process", "object"])
    md += ["", "## The 30 busiest functions", ""] + table(res["top_functions"], ["process", "object", "function"])
    return b.save("profile", "profile", res, md + [""])
