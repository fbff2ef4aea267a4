"""The suite's output: bench/results/suite.json, suite.md and gnuplot PNGs."""
import json
import os
import shutil
import subprocess

import benchlib as b


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 10 else f"{v:,.1f}" if v < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(header, rows):
    lines = ["| " + " | ".join(h for h, _ in header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)) for _, k in header) + " |")
    return lines


def ratio(ours, theirs):
    return f"{ours / theirs:,.1f}×" if ours and theirs else "—"


def _share(row):
    """A row's batch CPU share as a fraction ("1/8")."""
    share = row.get("batch_cpu_share")
    return f"1/{round(1 / share)}" if share else "—"


def runs(row, key, unit=""):
    """A figure's median with its runs' range: "6,697 (runs 6,536–7,012)"."""
    lo_hi = row.get("range", {}).get(key)
    shown = f"{fmt(row.get(key))}{unit}"
    if not lo_hi or row.get("runs", 1) < 2:
        return shown
    return f"{shown} (runs {fmt(lo_hi[0])}–{fmt(lo_hi[1])})"


def pick(rows, **match):
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return {}


PROCESS_COLUMNS = [("worker CPU ms/job", "worker_cpu_ms_per_job"), ("worker peak RSS MB", "worker_peak_rss_mb"),
                   ("api CPU ms/job", "api_cpu_ms_per_job"), ("api RSS MB", "api_peak_rss_mb"),
                   ("stub CPU ms/job", "stub_cpu_ms_per_job"), ("postgres CPU ms/job", "postgres_cpu_ms_per_job"),
                   ("rabbitmq CPU ms/job", "rabbitmq_cpu_ms_per_job"), ("redis CPU ms/job", "redis_cpu_ms_per_job"),
                   ("machine CPU ms/job", "machine_cpu_ms_per_job"), ("WAL KB/job", "wal_kb_per_job")]


def summary(res):
    ing, e2e, cel = res.get("ingress", []), res.get("e2e", []), res.get("celery", [])
    celery_enqueue = res.get("celery_enqueue", {})
    enq = celery_enqueue.get("enqueued_per_s")
    top = max(ing, key=lambda r: r["accepted_per_s"], default={})
    at5k = pick(ing, offered_rps=5000)
    b0 = pick(e2e, latency_ms=0, replicas=1)
    c200 = pick(e2e, latency_ms=200, replicas=1)
    cb = max((r for r in cel if r["latency_ms"] == 0), key=lambda r: r["jobs_per_s"], default={})
    cc = max((r for r in cel if r["latency_ms"] == 200), key=lambda r: r["jobs_per_s"], default={})
    polls = res.get("polling", [])
    p20 = pick(polls, poll_offered_rps=20000)
    pmax = max(polls, key=lambda r: r.get("poll_rps", 0), default={})
    alone = res.get("polling_alone", [])
    a20 = pick(alone, poll_offered_rps=20000)
    weighted = res.get("polling_weighted", [])
    w20 = pick(weighted, poll_offered_rps=20000)
    rows = [
        ["(a) durable single-job ingress", "≥ 10,000 accepted/s",
         runs(top, "accepted_per_s", "/s"),
         f"{runs(celery_enqueue, 'enqueued_per_s', '/s')} enqueue (no HTTP)", ratio(top.get("accepted_per_s"), enq)],
        ["(a) p99 at 5,000/s", "≤ 25 ms", f"{runs(at5k, 'p99_ms', ' ms')} (p50 {fmt(at5k.get('p50_ms'))}; "
         f"machine floor p99 {fmt(at5k.get('floor_p99_ms'))} ms)", "—", "—"],
        ["(b) end to end, LLM 0 ms", "≥ 8,000 jobs/s", runs(b0, "jobs_per_s", " jobs/s"),
         f"{runs(cb, 'jobs_per_s', ' jobs/s')} ({cb.get('pool', '—')})", ratio(b0.get("jobs_per_s"), cb.get("jobs_per_s"))],
        ["(c) end to end, LLM 200 ms, one replica", "≥ 3,000 jobs/s, RSS ≤ 200 MB",
         f"{runs(c200, 'jobs_per_s', ' jobs/s')}, {fmt(c200.get('worker_peak_rss_mb'))} MB",
         f"{runs(cc, 'jobs_per_s', ' jobs/s')}, {fmt(cc.get('worker_peak_rss_mb'))} MB ({cc.get('pool', '—')})",
         ratio(c200.get("jobs_per_s"), cc.get("jobs_per_s"))],
        ["(d) polling during (b), defaults", "≥ 20,000 req/s, p99 ≤ 10 ms",
         f"{fmt(p20.get('poll_rps'))} req/s at 20,000 offered, p99 {runs(p20, 'poll_p99_ms', ' ms')}; "
         f"batch meanwhile {fmt(p20.get('jobs_per_s'))} jobs/s; closed loop {fmt(pmax.get('poll_rps'))} req/s, "
         f"p99 {runs(pmax, 'poll_p99_ms', ' ms')}", "—", "—"],
        ["(d) polling during (b), batch side at "
         f"{_share(w20)} CPU weight", "(the same)",
         f"{fmt(w20.get('poll_rps'))} req/s at 20,000 offered, p99 {runs(w20, 'poll_p99_ms', ' ms')}; "
         f"batch meanwhile {fmt(w20.get('jobs_per_s'))} jobs/s", "—", "—"],
        ["(d) polling, nothing else running", "(the same)",
         f"{fmt(a20.get('poll_rps'))} req/s at 20,000 offered, p99 {runs(a20, 'poll_p99_ms', ' ms')} "
         f"(machine floor p99 {fmt(a20.get('floor_p99_ms'))} ms)", "—", "—"],
    ]
    for n in (2, 4):
        r = pick(e2e, latency_ms=200, replicas=n)
        if r:
            rows.append([f"(e) LLM 200 ms, {n} replicas", "—", f"{fmt(r['jobs_per_s'])} jobs/s", "—",
                         ratio(r["jobs_per_s"], c200.get("jobs_per_s")) + " of one replica"])
    lines = ["| scenario | target | ours (median) | Celery (median, same run) | ratio |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _speed_line(speed):
    """The machine's speed at the start and the end of the invocation, when measured."""
    if not speed:
        return []
    return [f"Machine speed: a fixed single-threaded loop took {fmt(speed['start'])} ms at the start and "
            f"{fmt(speed['end'])} ms at the end (best of 3, lower is faster): compare it across result files "
            "before comparing their figures."]


def markdown(res):
    m, s = res["meta"]["machine"], res["meta"]["settings"]
    out = ["# Benchmark suite", "",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB, Linux {m['kernel']}; "
           f"commit {m['commit']}; {m['date']}. Load generator, stub and every service on the same machine.",
           "Settings: " + ", ".join(f"{k}={v}" for k, v in s.items()) + ".",
           *_speed_line(res["meta"].get("speed_ms")),
           f"Every figure is the median of {s['runs']} runs; in the first table, the lowest and highest run follow it.", "", "## Against the targets", ""]
    out += summary(res)
    if res.get("ingress"):
        out += ["", "## (a) Single-job ingress: `POST /api/v1/workers/classify/:id`, no workers", "",
                "Offered 0 is a closed loop (each of 128 connections sends as soon as it has its answer). "
                "Latency runs from each request's due time to its answer (202 after the commit and the "
                "broker's confirm). The machine floor is the same open-loop load, run just after, against the "
                "stub's GET /stats (one thread, nothing behind it): the latency the machine itself adds then.", ""]
        out += table([("offered/s", "offered_rps"), ("accepted/s", "accepted_per_s"), ("p50 ms", "p50_ms"),
                      ("p99 ms", "p99_ms"), ("max ms", "max_ms"), ("machine floor p99 ms", "floor_p99_ms"),
                      ("not 202", "not_202"),
                      ("api CPU ms/job", "api_cpu_ms_per_job"), ("api RSS MB", "api_peak_rss_mb"),
                      ("postgres CPU ms/job", "postgres_cpu_ms_per_job"),
                      ("rabbitmq CPU ms/job", "rabbitmq_cpu_ms_per_job"),
                      ("generator CPU ms/job", "load_cpu_ms_per_job"),
                      ("machine CPU ms/job", "machine_cpu_ms_per_job"), ("WAL KB/job", "wal_kb_per_job")],
                     res["ingress"])
    if res.get("e2e") or res.get("celery"):
        out += ["", "## (b), (c), (e) End to end: meetings through `queue-unclassified` until every result is "
                "in Postgres", "",
                "Timed from the call to `queue-unclassified` until every result is in. The call commits and "
                "publishes the tasks in chunks (`api.enqueue_chunk`), and the worker starts on each chunk as "
                "it lands: `queue-unclassified answered` is when the whole batch was accepted, and the rate "
                "after the answer is the batch's speed with nothing left to enqueue.", ""]
        rows = [dict(r, side="ours", pool=f"{r['replicas']} replica(s)") for r in res.get("e2e", [])]
        rows += [dict(r, side="Celery") for r in res.get("celery", [])]
        out += table([("side", "side"), ("LLM ms", "latency_ms"), ("workers", "pool"), ("jobs", "jobs"),
                      ("jobs/s", "jobs_per_s"), ("queue-unclassified answered s", "answered_s"),
                      ("jobs/s after the answer", "after_answer_jobs_per_s"),
                      ("LLM calls in flight (max)", "max_in_flight")] + PROCESS_COLUMNS,
                     rows)
    if res.get("polling") or res.get("polling_weighted") or res.get("polling_alone"):
        out += ["", "## (d) Polling `GET /api/v1/tasks/:id`", "",
                "The batch's task ids, each polled in turn, open loop at the offered rate (0: closed loop): "
                "while the same 0 ms batch runs through one worker, and once a batch of 5,000 has finished "
                "and nothing else runs. While the batch runs, the CPU columns are per finished job; alone, per answer. "
                "In the weighted rows the batch side (the worker replica, the stub, Postgres and RabbitMQ) runs in "
                "a cgroup at that fraction of the default CPU weight, as ops weight batch workers below the API "
                "on a host they share (systemd CPUWeight=, a pod's CPU request), so the two cores serve polls "
                "first; in the other rows every process runs with the defaults: the replica at `worker.nice` 10, "
                "everything else at the default priority. Alone, the machine floor is as in (a).", ""]
        rows = [dict(r, during="(b) running") for r in res.get("polling", [])]
        rows += [dict(r, during=f"(b) running, batch side at {_share(r)} weight")
                 for r in res.get("polling_weighted", [])]
        rows += [dict(r, during="nothing else") for r in res.get("polling_alone", [])]
        out += table([("while", "during"), ("offered/s", "poll_offered_rps"), ("answered 200/s", "poll_rps"),
                      ("p50 ms", "poll_p50_ms"), ("p99 ms", "poll_p99_ms"), ("machine floor p99 ms", "floor_p99_ms"),
                      ("not 200", "poll_not_200"),
                      ("batch jobs/s meanwhile", "jobs_per_s"), ("api CPU ms/job", "api_cpu_ms_per_job"),
                      ("generator CPU ms/job", "load_cpu_ms_per_job"), ("machine CPU ms/job", "machine_cpu_ms_per_job")],
                     rows)
    if res.get("plots"):
        out += ["", "## Plots", ""] + [f"- `bench/results/{p}`" for p in res["plots"]]
    return "\n".join(out) + "\n"


def _plot(name, script, data):
    """Writes data files and runs gnuplot; returns the PNG's name or None without gnuplot."""
    if not shutil.which("gnuplot"):
        return None
    for fname, lines in data.items():
        with open(os.path.join(b.RESULTS, fname), "w") as f:
            f.write("\n".join(lines) + "\n")
    png = name + ".png"
    full = f"set terminal pngcairo size 900,540 noenhanced\nset output '{png}'\nset grid\n" + script
    proc = subprocess.run(["gnuplot"], input=full, text=True, cwd=b.RESULTS, capture_output=True)
    return png if proc.returncode == 0 else None


def _rate_plot(name, title, rows, x, y, p50, p99):
    """Answered/s and latency percentiles against offered load."""
    return _plot(name, (
        f"set title '{title}'\n"
        "set xlabel 'offered requests/s'\nset ylabel 'answered/s'\nset y2label 'latency ms'\n"
        "set y2tics\nset ytics nomirror\nset key left top\n"
        f"plot '{name}.dat' u 1:2 w lp lw 2 t 'answered/s', '' u 1:1 w l dt 2 t 'offered', "
        "'' u 1:3 axes x1y2 w lp t 'p50 ms', '' u 1:4 axes x1y2 w lp t 'p99 ms'\n"),
        {f"{name}.dat": [f"{r[x]} {r[y]:.1f} {r[p50]:.2f} {r[p99]:.2f}" for r in rows]})


def plots(res):
    made = []
    ing = sorted((r for r in res.get("ingress", []) if r["offered_rps"]), key=lambda r: r["offered_rps"])
    if ing:
        made.append(_rate_plot("ingress", "(a) single-job ingress: accepted (202) against offered load", ing,
                               "offered_rps", "accepted_per_s", "p50_ms", "p99_ms"))
    even = {r["poll_offered_rps"]: r for r in res.get("polling", []) if r["poll_offered_rps"]}
    weighted = {r["poll_offered_rps"]: r for r in res.get("polling_weighted", []) if r["poll_offered_rps"]}
    if even or weighted:
        share = _share(next(iter(weighted.values()), {}))

        def cols(r):
            return f"{r['poll_rps']:.1f} {r['poll_p50_ms']:.2f} {r['poll_p99_ms']:.2f}" if r else "NaN NaN NaN"

        made.append(_plot("polling", (
            "set title '(d) polling GET /api/v1/tasks/:id during a batch'\n"
            "set xlabel 'offered requests/s'\nset ylabel 'answered/s'\nset y2label 'p99 latency ms (log)'\n"
            "set y2tics\nset ytics nomirror\nset logscale y2\n"
            "set key left top box opaque\n"
            "plot 'polling.dat' u 1:1 w l dt 2 lc 'gray' t 'offered', "
            "'' u 1:2 w lp lw 2 lc 'red' t 'answered/s, defaults', "
            f"'' u 1:5 w lp lw 2 lc 'blue' t 'answered/s, batch at {share} weight', "
            "'' u 1:4 axes x1y2 w lp dt 3 lc 'red' t 'p99 ms, defaults', "
            f"'' u 1:7 axes x1y2 w lp dt 3 lc 'blue' t 'p99 ms, batch at {share} weight'\n"),
            {"polling.dat": [f"{x} {cols(even.get(x))} {cols(weighted.get(x))}"
                             for x in sorted(set(even) | set(weighted))]}))
    bars = [(f"ours {r['replicas']}r {r['latency_ms']}ms", r["jobs_per_s"]) for r in res.get("e2e", [])]
    bars += [(f"Celery {r['pool']} {r['latency_ms']}ms", r["jobs_per_s"]) for r in res.get("celery", [])]
    if bars:
        made.append(_plot("end_to_end", (
            "set title '(b) (c) (e) end-to-end classification jobs/s'\nset style fill solid 0.6\n"
            "set boxwidth 0.7\nset ylabel 'jobs/s'\nset xtics rotate by -30\nunset key\nset logscale y\n"
            "plot 'end_to_end.dat' u 0:2:xtic(1) w boxes\n"),
            {"end_to_end.dat": [f'"{label}" {v:.1f}' for label, v in bars]}))
    return [p for p in made if p]


def write(res):
    os.makedirs(b.RESULTS, exist_ok=True)
    res["plots"] = plots(res)
    with open(os.path.join(b.RESULTS, "suite.json"), "w") as f:
        json.dump(res, f, indent=1)
    text = markdown(res)
    with open(os.path.join(b.RESULTS, "suite.md"), "w") as f:
        f.write(text)
    return text
