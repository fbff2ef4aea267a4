"""Shared pieces of the benchmarks: the stack's processes, HTTP, /proc readings, output.

Benchmarks run against the real services that `scripts/dev up` (or `scripts/dev
services`) started, each scenario in a Postgres schema, queue prefix and key prefix of
its own, removed afterwards.
"""
import errno
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("MQ_BUILD_DIR", os.path.join(ROOT, "build"))
RESULTS = os.path.join(ROOT, "bench", "results")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, key=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def cpu_seconds(pid):
    """User + system CPU time of a process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid):
    """Every live descendant of pid."""
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(p))
            except OSError:
                continue
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def tree_cpu_seconds(pid):
    """CPU of a process, its live descendants and the ones it has reaped."""
    total = 0.0
    for p in [pid] + children(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            if p == pid:
                total += (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        except OSError:
            continue
    return total


def tree_peak_rss_mb(pid):
    """Sum of the peak RSS of a process and its live descendants (prefork pools)."""
    return sum(peak_rss_mb(p) for p in [pid] + children(pid))


def processes_named(name):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == name:
                        out.append(int(p))
            except OSError:
                continue
    return out


def machine_busy_seconds():
    """CPU seconds every core of the machine spent busy (steal included) since boot."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def psql(commands, env=None, admin_host=None, options=("-qAt",)):
    """Runs each of `commands` through psql in one session, as the stack's user from its
    settings (`env`, else this process's), or with `admin_host` as the superuser over that
    socket directory; returns the finished process (stdout as text)."""
    e = env or os.environ
    if admin_host:
        who = ["-h", admin_host, "-U", "postgres"]
    else:
        who = ["-h", e.get("MQ_POSTGRES_HOST", "127.0.0.1"), "-U", e.get("MQ_POSTGRES_USER", "mq")]
    args = ["psql", *who, "-p", e.get("MQ_POSTGRES_PORT", "5432"), "-d", e.get("MQ_POSTGRES_DBNAME", "mq"), *options]
    for c in commands:
        args += ["-c", c]
    return subprocess.run(args, env=dict(e, PGPASSWORD=e.get("MQ_POSTGRES_PASSWORD", "")), capture_output=True,
                          text=True)


def wal_bytes():
    """Bytes of WAL Postgres has written since it was created: its current position."""
    out = psql(["SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"])
    return int(out.stdout.strip() or 0)


class ServiceMeter:
    """CPU the shared services spend between start() and stop(), their peak RSS, the
    machine's busy CPU and the WAL Postgres writes meanwhile. The last two do not
    depend on how fast the machine is that minute: they show work saved or added."""

    NAMES = {"postgres": "postgres", "rabbitmq": "beam.smp", "redis": "redis-server"}

    def __init__(self):
        self.before = {}

    def _read(self):
        out = {k: sum(cpu_seconds(p) for p in processes_named(n) if os.path.exists(f"/proc/{p}"))
               for k, n in self.NAMES.items()}
        out["machine"] = machine_busy_seconds()
        out["wal"] = wal_bytes()
        return out

    def start(self):
        self.before = self._read()

    def stop(self):
        after = self._read()
        out = {}
        for k, n in self.NAMES.items():
            pids = processes_named(n)
            out[k] = {"cpu_s": round(after[k] - self.before.get(k, 0.0), 2),
                      "peak_rss_mb": round(max([peak_rss_mb(p) for p in pids] or [0.0]), 1)}
        out["machine_cpu_s"] = after["machine"] - self.before.get("machine", 0.0)
        out["wal_bytes"] = after["wal"] - self.before.get("wal", 0)
        return out


def services_per_job(meter, jobs):
    """ServiceMeter.stop() as row columns: <service>_cpu_ms_per_job, <service>_peak_rss_mb,
    machine_cpu_ms_per_job (every process, the load generator too) and wal_kb_per_job."""
    out = {}
    m = meter.stop()
    out["machine_cpu_ms_per_job"] = m.pop("machine_cpu_s") * 1000 / max(jobs, 1)
    out["wal_kb_per_job"] = m.pop("wal_bytes") / 1024 / max(jobs, 1)
    for name, v in m.items():
        out[f"{name}_cpu_ms_per_job"] = v["cpu_s"] * 1000 / max(jobs, 1)
        out[f"{name}_peak_rss_mb"] = v["peak_rss_mb"]
    return out


def redis_delete_prefix(prefix):
    port = os.environ.get("MQ_REDIS_PORT", "6379")
    keys = subprocess.run(["redis-cli", "-p", port, "--scan", "--pattern", prefix + "*"],
                          capture_output=True, text=True).stdout.split()
    for i in range(0, len(keys), 1000):
        subprocess.run(["redis-cli", "-p", port, "DEL", *keys[i:i + 1000]], capture_output=True)


def speed_ms():
    """How fast this machine runs a fixed single-threaded loop right now, in ms (best of 3;
    lower is faster). The machine is shared and its speed drifts by the hour: compare this
    across result files before comparing their figures."""
    best = None
    for _ in range(3):
        t = time.perf_counter()
        sum(i * i % 7 for i in range(1_000_000))
        ms = (time.perf_counter() - t) * 1000
        best = ms if best is None else min(best, ms)
    return round(best, 1)


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    # The suite's own results, written as it goes, do not make the commit dirty.
    if commit and subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--",
                                  ".", ":!bench/results"], capture_output=True, text=True).stdout.strip():
        commit += "-dirty"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "commit": commit or "unknown",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


class CpuGroup:
    """A cgroup whose processes get `share` times the default CPU weight. The suite puts
    the batch side (worker replicas, the stub, Postgres, RabbitMQ) in one at a fraction,
    as ops give batch workers a low CPU weight (systemd CPUWeight=, a pod's small CPU
    request) on a host they share with the API, so that the two cores serve polls first.
    cgroup v2 (cpu.weight) or v1 (cpu.shares); root only."""

    def __init__(self, share):
        name = "mq-bench-" + secrets.token_hex(3)
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.root = "/sys/fs/cgroup"
            with open(os.path.join(self.root, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")
            knob, value = "cpu.weight", max(1, round(100 * share))
        elif os.path.exists("/sys/fs/cgroup/cpu/cpu.shares"):
            self.root = "/sys/fs/cgroup/cpu"
            knob, value = "cpu.shares", max(2, round(1024 * share))
        else:
            raise RuntimeError("no cgroup cpu controller to weight the batch side with")
        self.dir = os.path.join(self.root, name)
        os.mkdir(self.dir)
        with open(os.path.join(self.dir, knob), "w") as f:
            f.write(str(value))

    def add(self, pid):
        """Moves a process (all its threads; children it forks later follow it) in."""
        with open(os.path.join(self.dir, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def close(self):
        """Moves every process back to the root group and removes the group. A process
        may fork into the group meanwhile (Postgres starts a backend per connection and
        autovacuum workers), so it moves and tries again until the group is empty."""
        for attempt in range(100):
            with open(os.path.join(self.dir, "cgroup.procs")) as f:
                left = f.read().split()
            for pid in left:
                try:
                    with open(os.path.join(self.root, "cgroup.procs"), "w") as f:
                        f.write(pid)
                except OSError:
                    pass  # gone meanwhile
            try:
                os.rmdir(self.dir)
                return
            except OSError as e:
                if e.errno != errno.EBUSY or attempt == 99:
                    raise
                time.sleep(0.05)  # a fork still joining the group


class Stack:
    """mq-api plus worker replicas in a fresh schema and prefixes of their own."""

    def __init__(self, env=None, log_dir=None):
        self.id = "b_" + secrets.token_hex(4)
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            "MQ_POSTGRES_SCHEMA": self.id, "MQ_AMQP_PREFIX": self.id,
            "MQ_REDIS_KEY_PREFIX": self.id + ":", "MQ_HTTP_PORT": str(self.port),
            "MQ_LOG_LEVEL": "warn", "MQ_ANALYTICS_ROLLUP_EVERY_SECONDS": "0", "MQ_WORKER_METRICS_PORT": "0",
        })
        self.env.update(env or {})
        self.log_dir = log_dir or os.path.join(BUILD, "bench-logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = []
        self.api = None
        self.key = None

    def _spawn(self, binary, name, extra_env=None):
        env = dict(self.env)
        env.update(extra_env or {})
        log = open(os.path.join(self.log_dir, f"{self.id}-{name}.log"), "ab")
        return subprocess.Popen([binary], env=env, stdout=log, stderr=log)

    def start_api(self):
        subprocess.run([os.path.join(BUILD, "cli", "mqctl"), "migrate"], env=self.env, check=True,
                       capture_output=True)
        self.api = self._spawn(os.path.join(BUILD, "api", "mq-api"), "api")
        for _ in range(200):
            try:
                if http("GET", self.url + "/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("mq-api did not become ready")
        out = subprocess.run([os.path.join(BUILD, "cli", "mqctl"), "tenant", "create", self.id],
                             env=self.env, check=True, capture_output=True, text=True).stdout
        self.key = out.strip().splitlines()[-1]

    def start_worker(self, extra_env=None, binary=None):
        """Starts a replica (`binary`; else the setting MQ_BENCH_WORKER, another build's
        mq-worker, for `--ab` to weigh a change of code; else this build's) and waits until
        it consumes."""
        binary = binary or self.env.get("MQ_BENCH_WORKER") or os.path.join(BUILD, "workers", "mq-worker")
        self.workers.append(self._spawn(binary,
                                        f"worker-{len(self.workers) + 1}", extra_env))
        want = len(self.workers)
        for _ in range(400):
            status, stats = http("GET", self.url + "/api/v1/workers/stats", key=self.key)
            if status == 200 and sum(q["consumers"] for q in stats["queues"]
                                     if q["name"].endswith(".classify_meeting")) >= want:
                return self.workers[-1]
            time.sleep(0.05)
        raise RuntimeError("worker did not start consuming")

    def load_meetings(self, n, chunk=5000):
        """n short meetings, in chunks that stay under the body limit; returns their ids."""
        ids = []
        while len(ids) < n:
            made = len(ids)
            count = min(chunk, n - made)
            batch = [{"transcript": f"Cliente: somos una tienda online en Chile, reunión {made + i}.",
                      "client_name": f"Client {(made + i) % 500}", "seller_name": f"Seller {(made + i) % 20}"}
                     for i in range(count)]
            status, body = http("POST", self.url + "/api/v1/meetings", {"meetings": batch}, self.key)
            if status != 201:
                raise RuntimeError(f"loading meetings failed: {status} {body}")
            ids += [m["id"] for m in body["meetings"]]
        return ids

    def queue_unclassified(self):
        """Accepts every unclassified meeting as one batch; returns the answer."""
        status, body = http("POST", self.url + "/api/v1/classifications/queue-unclassified", key=self.key)
        if status != 202:
            raise RuntimeError(f"queue-unclassified failed: {status} {body}")
        return body

    def batch(self, batch_id):
        """The batch as GET /api/v1/batches/:id answers it."""
        status, body = http("GET", f"{self.url}/api/v1/batches/{batch_id}", key=self.key)
        if status != 200:
            raise RuntimeError(f"reading batch {batch_id} failed: {status} {body}")
        return body

    def wait_batch(self, batch_id, poll=0.05, stall_seconds=60):
        """Waits until nothing of the batch is pending; returns it. Fails after
        stall_seconds without progress."""
        left, progress_at = None, time.monotonic()
        while True:
            status, batch = http("GET", f"{self.url}/api/v1/batches/{batch_id}", key=self.key)
            if status == 200 and batch["pending"] == 0:
                return batch
            if status == 200 and batch["pending"] != left:
                left, progress_at = batch["pending"], time.monotonic()
            elif time.monotonic() - progress_at > stall_seconds:
                raise RuntimeError(f"batch stuck with {left} pending (logs in {self.log_dir})")
            time.sleep(poll)

    def wait_all_succeeded(self, batch_id, jobs, stall_seconds=60):
        """wait_batch, then fails unless all `jobs` of the batch succeeded; returns it."""
        batch = self.wait_batch(batch_id, stall_seconds=stall_seconds)
        if batch["succeeded"] != jobs:
            raise RuntimeError(f"only {batch['succeeded']} of {jobs} succeeded: {batch}")
        return batch

    def stop(self):
        """Stops the processes and removes the schema, the queues and the keys."""
        for p in self.workers + ([self.api] if self.api else []):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers + ([self.api] if self.api else []):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        # Settings may be missing (run.py started without `scripts/dev env`): the clean-up
        # then fails quietly instead of leaving the caller's stub running.
        psql([f'DROP SCHEMA IF EXISTS "{self.id}" CASCADE'], env=self.env)
        subprocess.run([os.path.join(BUILD, "cli", "mqctl"), "topology", "delete"], env=self.env,
                       capture_output=True)
        redis_delete_prefix(self.id + ":")


class Stub:
    """mq-llm-stub answering after a fixed latency."""

    def __init__(self, latency_ms, threads=1):
        self.proc = subprocess.Popen([os.path.join(BUILD, "bench", "mq-llm-stub"), "--latency-ms",
                                      str(latency_ms), "--threads", str(threads)],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def settings(self):
        """What points a stack's workers at this stub, as the OpenAI provider."""
        return {"MQ_LLM_PROVIDER": "openai", "MQ_LLM_BASE_URL": self.base_url, "MQ_LLM_MODEL": "stub-model"}

    def stats(self):
        return http("GET", f"http://127.0.0.1:{self.port}/stats")[1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


class Load:
    """mq-load over a list of paths: open loop at a rate, or closed loop with rate 0."""

    def __init__(self, url, paths, rate, duration, key=None, method="GET", connections=128):
        fd, self.paths_file = tempfile.mkstemp(prefix="mq-load-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(paths) + "\n")
        cmd = [os.path.join(BUILD, "bench", "mq-load"), "--url", url, "--paths", self.paths_file,
               "--method", method, "--rate", str(rate), "--duration", str(duration),
               "--connections", str(connections)]
        if key:
            cmd += ["--header", "Authorization: Bearer " + key]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def result(self):
        """Waits for the run; its JSON plus the generator's own CPU seconds."""
        out = self.proc.stdout.read()
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        os.unlink(self.paths_file)
        if self.proc.returncode != 0:
            raise RuntimeError(f"mq-load exited with {self.proc.returncode}")
        r = json.loads(out)
        r["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
        return r


def machine_floor(rate, duration, connections=128):
    """The latency this machine itself adds at `rate` right now: the same open-loop load
    against the stub's GET /stats (one thread, nothing behind it), run just after a
    measurement. Its p99 is what any server here would show; a p99 close to it is the
    machine's (a shared VM stalls now and then for tens of milliseconds), not ours."""
    stub = Stub(0)
    try:
        r = Load(f"http://127.0.0.1:{stub.port}", ["/stats"], rate, duration, connections=connections).result()
        return {"floor_p50_ms": r["latency_ms"]["p50"], "floor_p99_ms": r["latency_ms"]["p99"]}
    finally:
        stub.stop()


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def save(name, key, data, md_lines):
    """Writes results/<name>.json ({"meta": the machine, key: data}) and results/<name>.md
    (md_lines, after a line naming the machine); returns the Markdown."""
    meta = machine()
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, name + ".json"), "w") as f:
        json.dump({"meta": meta, key: data}, f, indent=2)
    md = "\n".join(md_lines[:2] + [f"Machine: {meta}", ""] + md_lines[2:])
    with open(os.path.join(RESULTS, name + ".md"), "w") as f:
        f.write(md)
    return md
