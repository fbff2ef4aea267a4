"""Drives the Celery side of the comparison (celery_app.py) on the same RabbitMQ, Redis
and Postgres as ours, each run in a schema, queue and key prefix of its own."""
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid

import benchlib as b

HERE = os.path.dirname(os.path.abspath(__file__))

SCHEMA_SQL = """
CREATE TABLE meetings (id bigserial PRIMARY KEY, transcript text NOT NULL);
CREATE TABLE tasks (id uuid PRIMARY KEY, meeting_id bigint NOT NULL REFERENCES meetings(id),
  status text NOT NULL DEFAULT 'queued', attempts int NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz, finished_at timestamptz);
CREATE TABLE classifications (meeting_id bigint PRIMARY KEY REFERENCES meetings(id), result jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
"""


class CeleryRun:
    """One Celery deployment: a schema, a queue, workers of one pool kind."""

    def __init__(self, llm_url):
        import psycopg2
        self.id = "cb_" + secrets.token_hex(4)
        e = os.environ
        self.pg_base = (f"host={e['MQ_POSTGRES_HOST']} port={e['MQ_POSTGRES_PORT']} dbname={e['MQ_POSTGRES_DBNAME']} "
                        f"user={e['MQ_POSTGRES_USER']} password={e['MQ_POSTGRES_PASSWORD']}")
        self.env = dict(e)
        self.env.update({
            "BENCH_AMQP_URL": f"amqp://{e.get('MQ_AMQP_USER', 'guest')}:{e.get('MQ_AMQP_PASSWORD', 'guest')}"
                              f"@127.0.0.1:{e['MQ_AMQP_PORT']}//",
            "BENCH_QUEUE": self.id, "BENCH_PG": self.pg_base + f" options=-csearch_path={self.id}",
            "BENCH_REDIS_URL": f"redis://127.0.0.1:{e['MQ_REDIS_PORT']}/0", "BENCH_KEY_PREFIX": self.id + ":",
            "BENCH_LLM_URL": llm_url + "/chat/completions", "PYTHONPATH": HERE,
        })
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("BENCH_")})
        self.db = psycopg2.connect(self.pg_base)
        self.db.autocommit = True
        with self.db.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{self.id}"; SET search_path = "{self.id}";' + SCHEMA_SQL)
        self.workers = None
        self.pool = None

    def load_meetings(self, n):
        with self.db.cursor() as cur:
            cur.execute("INSERT INTO meetings (transcript) SELECT 'Cliente: somos una tienda online en Chile, '"
                        " || 'reunión ' || g FROM generate_series(1, %s) g RETURNING id", (n,))
            return [r[0] for r in cur.fetchall()]

    def start_workers(self, pool, concurrency):
        self.pool = pool
        env = dict(self.env, BENCH_POOL=pool)
        self.log = os.path.join(b.BUILD, "bench-logs", f"{self.id}-celery.log")
        log = open(self.log, "ab")
        self.workers = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "worker", f"--pool={pool}",
             f"--concurrency={concurrency}", "--loglevel=WARNING", "-Q", self.id,
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=HERE, env=env, stdout=log, stderr=log)
        # Ready once the queue has a consumer for each pool (prefork) or one (gevent).
        from celery_app import app
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with app.connection_for_write() as conn:
                try:
                    _, _, consumers = conn.default_channel.queue_declare(self.id, passive=True)
                    if consumers >= 1:
                        return
                except Exception:
                    pass
            time.sleep(0.2)
        raise RuntimeError("celery workers did not start")

    def enqueue(self, task_ids, meeting_ids):
        """apply_async with publisher confirms, one per job, as a producer would."""
        from celery_app import classify
        for t, m in zip(task_ids, meeting_ids):
            classify.apply_async((t, m), queue=self.id)

    def enqueue_rate(self, n):
        """Jobs/s that apply_async publishes with confirms (no HTTP, no database)."""
        ids = [str(uuid.uuid4()) for _ in range(n)]
        started = time.monotonic()
        self.enqueue(ids, [0] * n)
        return n / (time.monotonic() - started)

    def run_batch(self, meeting_ids, stall_seconds=60):
        """Every meeting through Celery until its result is in Postgres: (seconds, cpu, rss)."""
        task_ids = [str(uuid.uuid4()) for _ in meeting_ids]
        cpu0 = b.tree_cpu_seconds(self.workers.pid)
        started = time.monotonic()
        with self.db.cursor() as cur:
            cur.execute(f'SET search_path = "{self.id}"')
            cur.execute("INSERT INTO tasks (id, meeting_id) SELECT * FROM unnest(%s::uuid[], %s::bigint[])",
                        (task_ids, meeting_ids))
        self.enqueue(task_ids, meeting_ids)
        done, progress_at = 0, time.monotonic()
        while done < len(meeting_ids):
            with self.db.cursor() as cur:
                cur.execute("SELECT count(*) FROM tasks WHERE status = 'succeeded'")
                now_done = cur.fetchone()[0]
            if now_done > done:
                done, progress_at = now_done, time.monotonic()
            elif time.monotonic() - progress_at > stall_seconds:
                raise RuntimeError(f"celery: stuck at {done} of {len(meeting_ids)} (see {self.log})")
            time.sleep(0.05)
        seconds = time.monotonic() - started
        return seconds, b.tree_cpu_seconds(self.workers.pid) - cpu0, b.tree_peak_rss_mb(self.workers.pid)

    def stop(self):
        if self.workers and self.workers.poll() is None:
            self.workers.send_signal(signal.SIGTERM)
            try:
                self.workers.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.workers.kill()
                self.workers.wait()
        from celery_app import app
        try:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(self.id)
        except Exception:
            pass
        with self.db.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{self.id}" CASCADE')
        self.db.close()
        b.redis_delete_prefix(self.id + ":")


def enqueue_rate(jobs):
    """Jobs/s that Celery's apply_async publishes with confirms, one at a time."""
    run = CeleryRun("http://127.0.0.1:9")
    try:
        return {"enqueued_per_s": run.enqueue_rate(jobs), "jobs": jobs}
    finally:
        run.stop()


def end_to_end(latency_ms, jobs, pool, concurrency):
    """The classification job on Celery against the stub at latency_ms: one row."""
    stub = b.Stub(latency_ms)
    run = CeleryRun(stub.base_url)
    try:
        ids = run.load_meetings(jobs)
        run.start_workers(pool, concurrency)
        meter = b.ServiceMeter()
        meter.start()
        stub_cpu = b.cpu_seconds(stub.proc.pid)
        seconds, cpu, rss = run.run_batch(ids)
        services = b.services_per_job(meter, jobs)
        row = {"latency_ms": latency_ms, "pool": f"{pool} {concurrency}", "jobs": jobs, "seconds": seconds,
               "jobs_per_s": jobs / seconds, "max_in_flight": stub.stats()["max_in_flight"],
               "worker_cpu_ms_per_job": cpu * 1000 / jobs, "worker_peak_rss_mb": rss,
               "stub_cpu_ms_per_job": (b.cpu_seconds(stub.proc.pid) - stub_cpu) * 1000 / jobs}
        row.update(services)
        return row
    finally:
        run.stop()
        stub.stop()
