"""The classification job on Celery, as the teams we learn from ran it: the comparison
side of bench/run.py.

The job does what an mq-worker job does, with the usual Celery tools: claim the task row
(so a redelivery does not run it twice), read the meeting, call the same OpenAI-compatible
stub, check the answer, upsert the classification and finish the task in one
transaction, write the task's state to Redis. acks_late, publisher confirms, RabbitMQ as
the broker, no result backend (the task writes its own result, as ours does).

Settings come from the environment that bench/celery_bench.py sets: BENCH_AMQP_URL,
BENCH_QUEUE, BENCH_PG (a libpq conninfo with the schema in its search_path),
BENCH_REDIS_URL, BENCH_KEY_PREFIX, BENCH_LLM_URL, BENCH_POOL (prefork or gevent).
"""
import json
import os
import queue
import threading

import psycopg2
import psycopg2.extensions
import redis
import requests
from celery import Celery

POOL = os.environ.get("BENCH_POOL", "prefork")

app = Celery("mqbench", broker=os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue=os.environ.get("BENCH_QUEUE", "mqbench"),
    broker_transport_options={"confirm_publish": True},
    worker_hijack_root_logger=False,
)

if POOL == "gevent":
    # What psycogreen does: libpq waits become gevent waits, so one slow query does not
    # stall every greenlet of the process.
    from gevent.socket import wait_read, wait_write

    def _wait(conn, timeout=None):
        while True:
            state = conn.poll()
            if state == psycopg2.extensions.POLL_OK:
                return
            if state == psycopg2.extensions.POLL_READ:
                wait_read(conn.fileno(), timeout=timeout)
            elif state == psycopg2.extensions.POLL_WRITE:
                wait_write(conn.fileno(), timeout=timeout)
            else:
                raise psycopg2.OperationalError(f"bad poll state {state}")

    psycopg2.extensions.set_wait_callback(_wait)


class _Resources:
    """Per process: a few Postgres connections, one Redis client, one HTTP session."""

    def __init__(self):
        size = 20 if POOL == "gevent" else 1
        self.pg = queue.Queue()
        for _ in range(size):
            self.pg.put(psycopg2.connect(os.environ["BENCH_PG"]))
        self.redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=200)
        self.http.mount("http://", adapter)


_resources = None
_resources_lock = threading.Lock()  # a gevent lock once the gevent pool has patched threading


def resources():
    global _resources
    with _resources_lock:
        if _resources is None:
            _resources = _Resources()
    return _resources


REQUIRED = ("business_sector", "sentiment", "purchase_stage", "confidence_score", "summary")


@app.task(name="classify")
def classify(task_id, meeting_id):
    r = resources()
    conn = r.pg.get()
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE tasks SET status = 'running', attempts = attempts + 1, started_at = now() "
                        "WHERE id = %s AND status = 'queued' RETURNING meeting_id", (task_id,))
            if cur.fetchone() is None:
                conn.commit()
                return  # already running or done elsewhere
            cur.execute("SELECT transcript FROM meetings WHERE id = %s", (meeting_id,))
            transcript = cur.fetchone()[0]
        conn.commit()
    finally:
        r.pg.put(conn)
    reply = r.http.post(os.environ["BENCH_LLM_URL"], json={
        "model": "stub-model", "temperature": 0,
        "messages": [{"role": "system", "content": "Classify the sales meeting."},
                     {"role": "user", "content": transcript}],
        "response_format": {"type": "json_object"}}, timeout=60)
    reply.raise_for_status()
    answer = json.loads(reply.json()["choices"][0]["message"]["content"])
    missing = [k for k in REQUIRED if k not in answer]
    if missing:
        raise ValueError(f"answer misses {missing}")
    conn = r.pg.get()
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO classifications (meeting_id, result) VALUES (%s, %s) "
                        "ON CONFLICT (meeting_id) DO UPDATE SET result = EXCLUDED.result, updated_at = now()",
                        (meeting_id, json.dumps(answer)))
            cur.execute("UPDATE tasks SET status = 'succeeded', finished_at = now() WHERE id = %s", (task_id,))
        conn.commit()
    finally:
        r.pg.put(conn)
    r.redis.set(os.environ["BENCH_KEY_PREFIX"] + "task:" + task_id,
                json.dumps({"task_id": task_id, "status": "succeeded", "result": answer}), ex=86400)
