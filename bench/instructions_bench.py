"""(i): the worker's instructions per job, counted by callgrind over one batch at LLM 0 ms.

jobs/s and CPU time move with the shared machine (the same build has measured 30% apart
within an hour); an instruction count moves far less: four runs of one build in one hour
counted 267.3 k, 271.9 k, 273.7 k and 277.4 k per job (about 2% either side), as the jobs fall into
statements, pipelines and wake-ups a little differently with timing, and libcurl's search
for a free connection grows with the connections in its pool. Two commits compare by it
when they differ by more than about 4%, or by the medians of several runs each. Kernel
time is not counted.
"""
import collections
import glob
import os
import re
import subprocess
import tempfile
import time

import benchlib as b


def _self_costs(path):
    """Instructions spent in each object's own code (the binary, each library) in a
    callgrind output file."""
    names, owner, by_object = {}, {}, collections.Counter()
    fn = obj = None
    after_call = False
    for line in open(path):
        if line.startswith(("ob=", "cob=")):
            m = re.match(r"c?ob=\((\d+)\)(?:\s+(.*))?", line.strip())
            if m.group(2):
                names[m.group(1)] = os.path.basename(m.group(2))
            if line.startswith("ob="):
                obj = names.get(m.group(1), "?")
        elif line.startswith("fn="):
            fn = line
            owner[fn] = obj
        elif line.startswith("calls="):
            after_call = True  # the next cost line is the call's, not this function's own
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_call:
                after_call = False
            elif fn:
                parts = line.split()
                if len(parts) >= 2:
                    by_object[owner[fn]] += int(parts[1])
    return by_object


def run(jobs, settings):
    work = tempfile.mkdtemp(prefix="mq-callgrind-")
    wrapper = os.path.join(work, "mq-worker")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={work}/callgrind.%p --dump-instr=no "
                f"{os.path.join(b.BUILD, 'workers', 'mq-worker')} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    stub = b.Stub(0)
    # Under callgrind the replica runs some 30 times slower, and its jobs would outlive
    # worker.running_after_ms and be marked running, as at full speed they are not.
    stack = b.Stack({**stub.settings(), **settings, "MQ_WORKER_RUNNING_AFTER_MS": "60000"})
    try:
        stack.start_api()
        stack.load_meetings(jobs)
        worker = stack.start_worker(binary=wrapper)
        time.sleep(5)  # its connections made: the count starts with the batch
        subprocess.run(["callgrind_control", "-z", str(worker.pid)], capture_output=True, check=True)
        body = stack.queue_unclassified()
        stack.wait_all_succeeded(body["batch_id"], jobs, stall_seconds=300)
        subprocess.run(["callgrind_control", "-d", str(worker.pid)], capture_output=True, check=True)
    finally:
        stack.stop()
        stub.stop()
    dumps = sorted(glob.glob(os.path.join(work, "callgrind.*.1")))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump in {work}")
    by_object = _self_costs(dumps[-1])
    total = sum(by_object.values())
    return {"jobs": jobs, "instructions_per_job": total / jobs,
            "by_object": [{"object": o, "instructions_per_job": c / jobs}
                          for o, c in by_object.most_common() if c / jobs >= 100]}


def write(res):
    md = ["# (i) Worker instructions per job", "",
          f"One replica classifies {res['jobs']:,} meetings with the LLM stub at 0 ms, under valgrind's callgrind; "
          "the count covers the batch only (from queue-unclassified until every result is in Postgres), user "
          "space only. The same build has counted within about 2% either side of its median, whatever the machine "
          "was doing.", "",
          f"**{res['instructions_per_job'] / 1000:,.1f} k instructions per job**", "",
          "| object | k instructions per job | share |", "|---|---|---|"]
    for r in res["by_object"]:
        md.append(f"| `{r['object']}` | {r['instructions_per_job'] / 1000:,.1f} | "
                  f"{100 * r['instructions_per_job'] / res['instructions_per_job']:.1f}% |")
    return b.save("instructions", "instructions", res, md + [""])
