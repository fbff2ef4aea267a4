"""A/B: scenario (b) with the settings as they are (A) and with a change of them (B), in
alternating runs.

The machine is shared: the same build has measured 30% apart within an hour, so two
figures taken minutes apart cannot tell a change of a few percent, and a median of runs
taken one side after the other can point the wrong way. Here A and B run in pairs, in
the order A B, B A, A B ..., so a drift of the machine falls on both sides alike, and each
pair's ratio B/A is read beside the other pairs'. CPU per job (the machine's, Postgres's,
the replica's) moves less with the machine than jobs/s does; the idle share says how much
of both cores the run left unused.
"""
import os

import benchlib as b
import scenarios

# (row key, column heading, decimals)
FIELDS = (("jobs_per_s", "jobs/s", 0), ("machine_cpu_ms_per_job", "machine CPU ms/job", 3),
          ("postgres_cpu_ms_per_job", "postgres CPU ms/job", 3), ("worker_cpu_ms_per_job", "worker CPU ms/job", 3),
          ("idle_share", "idle share", 3))


def parse(spec):
    """"MQ_X=1,MQ_Y=2" as a dict of settings; fails on anything else."""
    out = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.startswith("MQ_"):
            raise SystemExit(f"--ab takes MQ_NAME=value[,MQ_NAME=value]: not {part!r}")
        out[key] = value
    if not out:
        raise SystemExit("--ab names no setting")
    return out


def _idle_share(row):
    """The share of both cores no process used while the batch ran."""
    busy_s = row["machine_cpu_ms_per_job"] * row["jobs"] / 1000
    return max(0.0, 1 - busy_s / (row["seconds"] * (os.cpu_count() or 1)))


def run(pairs, jobs, settings, variant, llm_ms=0, log=print):
    """`pairs` pairs of (b) runs (the LLM stub at `llm_ms`: (c) at 200), A with
    `settings`, B with `variant` over them."""
    out, speed_at_start = [], b.speed_ms()
    for i in range(pairs):
        pair = {}
        for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
            row = scenarios.end_to_end(llm_ms, jobs, 1, {**settings, **variant} if side == "B" else settings)
            row["idle_share"] = _idle_share(row)
            pair[side] = row
            log(f"A/B pair {i + 1}/{pairs}, {side}: {row['jobs_per_s']:,.0f} jobs/s")
        pair["first"] = "A" if i % 2 == 0 else "B"
        out.append(pair)
    return {"variant": variant, "jobs": jobs, "llm_ms": llm_ms, "settings": settings, "pairs": out,
            "speed_ms": {"start": speed_at_start, "end": b.speed_ms()}}


def _fmt(v, decimals):
    return f"{v:,.{decimals}f}"


def write(res):
    pairs = res["pairs"]
    ratios = [p["B"]["jobs_per_s"] / p["A"]["jobs_per_s"] for p in pairs]
    wins = sum(r > 1 for r in ratios)
    variant = ", ".join(f"`{k}={v}`" for k, v in res["variant"].items())
    scenario = "(b)" if res["llm_ms"] == 0 else "(c)" if res["llm_ms"] == 200 else "end to end"
    md = [f"# A/B: {scenario} as set (A) and with " + variant + " (B)", "",
          f"Each side classifies {res['jobs']:,} meetings with the LLM stub at {res['llm_ms']} ms, one replica, "
          "in pairs run "
          "A B, B A, A B ... (the machine drifts; both sides of a pair meet the same drift). Settings of both: "
          + ", ".join(f"{k}={v}" for k, v in sorted(res["settings"].items())) + ". Machine speed: a fixed "
          f"single-threaded loop took {res['speed_ms']['start']:.1f} ms at the start and "
          f"{res['speed_ms']['end']:.1f} ms at the end (as in suite.md).", "",
          f"**B/A jobs/s: median {b.median(ratios):.3f} (pairs {min(ratios):.3f}–{max(ratios):.3f}); "
          f"B faster in {wins} of {len(pairs)} pairs.**", "",
          "| | " + " | ".join(f"A {h} | B {h}" for _, h, _ in FIELDS) + " |",
          "|---|" + "---|---|" * len(FIELDS),
          "| median | " + " | ".join(f"{_fmt(b.median([p['A'][k] for p in pairs]), d)} | "
                                     f"{_fmt(b.median([p['B'][k] for p in pairs]), d)}" for k, _, d in FIELDS) + " |"]
    md += [f"| pair {i + 1} ({p['first']} first) | " + " | ".join(f"{_fmt(p['A'][k], d)} | {_fmt(p['B'][k], d)}"
                                                          for k, _, d in FIELDS) + " |"
           for i, p in enumerate(pairs)]
    return b.save("ab", "ab", res, md)
