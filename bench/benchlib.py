"""Shared pieces of the benchmarks: the stack's processes, HTTP, /proc readings, output.

Benchmarks run against the real services that `scripts/dev up` (or `scripts/dev
services`) started, each scenario in a Postgres schema, queue prefix and key prefix of
its own, removed afterwards.
"""
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
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
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


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
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "commit": commit or "unknown",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


class Stack:
    """mq-api plus worker replicas in a fresh schema and prefixes of their own."""

    def __init__(self, env=None, log_dir=None):
        self.id = "b_" + secrets.token_hex(4)
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            "MQ_POSTGRES_SCHEMA": self.id, "MQ_AMQP_PREFIX": self.id,
            "MQ_REDIS_KEY_PREFIX": self.id + ":", "MQ_HTTP_PORT": str(self.port),
            "MQ_LOG_LEVEL": "warn",
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

    def start_worker(self, extra_env=None):
        self.workers.append(self._spawn(os.path.join(BUILD, "workers", "mq-worker"),
                                        f"worker-{len(self.workers) + 1}", extra_env))
        want = len(self.workers)
        for _ in range(400):
            status, stats = http("GET", self.url + "/api/v1/workers/stats", key=self.key)
            if status == 200 and sum(q["consumers"] for q in stats["queues"]
                                     if not q["name"].endswith(".dead")) >= want:
                return self.workers[-1]
            time.sleep(0.05)
        raise RuntimeError("worker did not start consuming")

    def load_meetings(self, n, chunk=5000):
        """n short meetings, in chunks that stay under the body limit."""
        made = 0
        while made < n:
            count = min(chunk, n - made)
            batch = [{"transcript": f"Cliente: somos una tienda online en Chile, reunión {made + i}.",
                      "client_name": f"Client {(made + i) % 500}", "seller_name": f"Seller {(made + i) % 20}"}
                     for i in range(count)]
            status, body = http("POST", self.url + "/api/v1/meetings", {"meetings": batch}, self.key)
            if status != 201:
                raise RuntimeError(f"loading meetings failed: {status} {body}")
            made += count

    def run_batch(self, poll=0.05, timeout=600):
        """queue-unclassified, then waits until nothing is pending; returns (seconds, batch)."""
        started = time.monotonic()
        status, body = http("POST", self.url + "/api/v1/classifications/queue-unclassified", key=self.key)
        if status != 202:
            raise RuntimeError(f"queue-unclassified failed: {status} {body}")
        batch_id = body["batch_id"]
        while True:
            status, batch = http("GET", f"{self.url}/api/v1/batches/{batch_id}", key=self.key)
            if status == 200 and batch["pending"] == 0:
                return time.monotonic() - started, batch
            if time.monotonic() - started > timeout:
                raise RuntimeError("batch did not finish in time")
            time.sleep(poll)

    def stop(self):
        for p in self.workers + ([self.api] if self.api else []):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers + ([self.api] if self.api else []):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["psql", "-h", self.env["MQ_POSTGRES_HOST"], "-p", self.env["MQ_POSTGRES_PORT"],
                        "-U", self.env["MQ_POSTGRES_USER"], "-d", self.env["MQ_POSTGRES_DBNAME"], "-qc",
                        f'DROP SCHEMA IF EXISTS "{self.id}" CASCADE'],
                       env=dict(self.env, PGPASSWORD=self.env["MQ_POSTGRES_PASSWORD"]), capture_output=True)


class Stub:
    """mq-llm-stub answering after a fixed latency."""

    def __init__(self, latency_ms, threads=1):
        self.proc = subprocess.Popen([os.path.join(BUILD, "bench", "mq-llm-stub"), "--latency-ms",
                                      str(latency_ms), "--threads", str(threads)],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stats(self):
        return http("GET", f"http://127.0.0.1:{self.port}/stats")[1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def write_results(name, header, rows, meta):
    """bench/results/<name>.json and .md: the rows, with the machine and settings."""
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, name + ".json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = ["| " + " | ".join(h for h, _ in header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r[k]) for _, k in header) + " |")
    m = meta["machine"]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB; commit {m['commit']}; "
              f"{m['date']}.", "Settings: " + ", ".join(f"{k}={v}" for k, v in meta["settings"].items()) + "."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, name + ".md"), "w") as f:
        f.write(text)
    return text


def fmt(v):
    if isinstance(v, float):
        return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
