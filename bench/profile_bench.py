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
STATEMENTS = 12  # the busiest, in the report
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


class Statements:
    """Postgres's own account of the statements run meanwhile (pg_stat_statements): calls,
    rows, execution time and WAL of each. Tracking is on only for the sessions of this
    run's stack (Postgres starts with it off): the suite's other scenarios run without its
    cost. Turning it on takes the superuser, reached over the socket `scripts/dev bench`
    names; without it (or without the module loaded) the profile goes without this part
    and says why."""

    FIELD, RECORD = "\x1f", "\x1e"

    def __init__(self):
        self.host = os.environ.get("MQ_BENCH_PG_ADMIN_HOST", "")
        self.why_not = "" if self.host else "MQ_BENCH_PG_ADMIN_HOST is not set (run through scripts/dev bench)"

    def _sql(self, *commands):
        out = b.psql(commands, admin_host=self.host,
                     options=("-v", "ON_ERROR_STOP=1", "-qAt", "-F", self.FIELD, "-R", self.RECORD))
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip())
        return out.stdout

    def _track(self, on):
        """For the sessions our processes open from now on (Postgres starts with tracking off
        and computes no query ids, which tracking needs)."""
        role = '"' + os.environ.get("MQ_POSTGRES_USER", "mq").replace('"', '""') + '"'
        if on:
            self._sql(f"ALTER ROLE {role} SET compute_query_id = on",
                      f"ALTER ROLE {role} SET pg_stat_statements.track = 'top'")
        else:
            self._sql(f"ALTER ROLE {role} RESET pg_stat_statements.track", f"ALTER ROLE {role} RESET compute_query_id")

    def start(self):
        if self.why_not:
            return
        try:
            self._track(True)
            self.reset()
        except RuntimeError as e:
            self.why_not = f"pg_stat_statements is not available: {e} (scripts/dev down, then up, loads it)"

    def reset(self):
        """Forgets what came before: what follows is the measured interval's."""
        if not self.why_not:
            self._sql("SELECT pg_stat_statements_reset()")

    def read(self, jobs):
        if self.why_not:
            return []
        user = os.environ.get("MQ_POSTGRES_USER", "mq").replace("'", "''")
        out = self._sql(
            "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, rows, total_exec_time, wal_bytes "
            "FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
            f"WHERE r.rolname = '{user}' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY total_exec_time DESC")
        rows = [r.split(self.FIELD) for r in out.split(self.RECORD) if r.strip()]
        total = sum(float(r[3]) for r in rows) or 1.0
        # Per row only where there are rows (BEGIN, COMMIT and SET have none).
        return [{"statement": q.strip(), "calls": int(calls), "rows": int(n), "ms": float(ms), "share": float(ms) / total,
                 "us_per_job": float(ms) * 1000 / jobs,
                 "us_per_row": float(ms) * 1000 / int(n) if int(n) else None,
                 "wal_bytes_per_row": int(float(wal)) / int(n) if int(n) else None}
                for q, calls, n, ms, wal in rows]

    def stop(self):
        if self.host:
            try:
                self._track(False)
            except RuntimeError:
                pass  # Postgres is gone; scripts/dev turns tracking off again when it next starts it


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
    statements = Statements()
    statements.start()
    try:
        stack.start_api()
        stack.load_meetings(jobs)
        worker = stack.start_worker()
        named = {worker.pid: "mq-worker", stack.api.pid: "mq-api", stub.proc.pid: "mq-llm-stub"}
        perf = _start_perf(path)
        statements.reset()
        started = time.monotonic()
        body = stack.queue_unclassified()
        stack.wait_all_succeeded(body["batch_id"], jobs)
        seconds = time.monotonic() - started
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        by_statement = statements.read(jobs)
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
        statements.stop()
        stack.stop()
        stub.stop()
    total = sum(by_process.values())

    def row(n):
        return {"share": n / total, "cpu_ms_per_job": n * 1000 / RATE_HZ / jobs}

    return {"jobs": jobs, "seconds": seconds, "jobs_per_s": jobs / seconds, "samples": total,
            "by_process": [{"process": p, **row(n)} for p, n in by_process.most_common()],
            "by_object": [{"process": p, "object": o, **row(n)} for (p, o), n in by_object.most_common(25)],
            "top_functions": [{"process": p, "object": o, "function": f, **row(n)}
                              for (p, o, f), n in by_function.most_common(30)],
            "postgres_statements": by_statement[:STATEMENTS], "postgres_statements_missing": statements.why_not}


def statements_table(res):
    """What Postgres's time went to, statement by statement, beside its CPU in the samples."""
    rows = res.get("postgres_statements") or []
    if not rows:
        return [f"Not measured: {res.get('postgres_statements_missing') or 'no statements recorded'}."]
    cpu = next((p["cpu_ms_per_job"] for p in res["by_process"] if p["process"] == "postgres"), 0.0)
    executed = sum(r["us_per_job"] for r in rows)
    lines = [f"Postgres's own count (pg_stat_statements) of the statements our processes ran in the same interval, "
             f"the {len(rows)} busiest. Their execution took {executed:.1f} us per job by Postgres's clock, which "
             "also counts time spent waiting for a core; in the samples Postgres used "
             f"{1000 * cpu:.1f} us of CPU per job for everything (these, commits and their WAL flushes, parsing and "
             "binding, the WAL writer, the checkpointer, autovacuum).", "",
             "| statement | calls | rows | ms | us per row | us per job | share of execution | WAL bytes per row |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        text = r["statement"][:110].replace("|", "\\|")
        per_row = "—" if r["us_per_row"] is None else f"{r['us_per_row']:.1f}"
        wal = "—" if r["wal_bytes_per_row"] is None else f"{r['wal_bytes_per_row']:,.0f}"
        lines.append(f"| `{text}` | {r['calls']:,} | {r['rows']:,} | {r['ms']:,.1f} | {per_row} | "
                     f"{r['us_per_job']:.1f} | {100 * r['share']:.1f}% | {wal} |")
    return lines


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
    md += ["", "## Postgres by statement", ""] + statements_table(res)
    return b.save("profile", "profile", res, md + [""])
