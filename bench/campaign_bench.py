"""(g) campaign sends: one campaign of `recipients` webhook messages, end to end.

Starts mq-api and one worker with the webhook channel pointed at mq-llm-stub (which
answers POST /hooks with 200 after `latency_ms`), adds the recipients, sends the
campaign, and times it from the send until the ledger has every message sent. Writes
bench/results/campaigns.{md,json}.
"""
import time

import benchlib as b


def run(recipients=10000, latency_ms=0):
    hooks = b.Stub(latency_ms, threads=2)
    stack = b.Stack(env={"MQ_CAMPAIGNS_WEBHOOK_URL": f"http://127.0.0.1:{hooks.port}/hooks"})
    try:
        stack.start_api()
        worker = stack.start_worker()
        status, c = b.http("POST", stack.url + "/api/v1/campaigns",
                           {"name": "bench", "channel": "webhook",
                            "template": "Hola {{first_name}}, tu plan {{plan}} vence pronto."}, stack.key)
        if status != 201:
            raise RuntimeError(f"creating the campaign failed: {status} {c}")
        cid = c["campaign_id"]
        for start in range(0, recipients, 5000):
            batch = [{"address": f"user{i}@example.com", "attributes": {"first_name": f"User {i}", "plan": "pro"}}
                     for i in range(start, min(recipients, start + 5000))]
            status, body = b.http("POST", f"{stack.url}/api/v1/campaigns/{cid}/recipients", {"recipients": batch},
                                  stack.key)
            if status != 201:
                raise RuntimeError(f"adding recipients failed: {status} {body}")
        cpu0 = b.cpu_seconds(worker.pid)
        t0 = time.monotonic()
        status, body = b.http("POST", f"{stack.url}/api/v1/campaigns/{cid}/send", key=stack.key)
        if status != 202:
            raise RuntimeError(f"sending failed: {status} {body}")
        while True:
            _, a = b.http("GET", f"{stack.url}/api/v1/campaigns/{cid}/analytics", key=stack.key)
            if a["status"] == "completed":
                break
            if time.monotonic() - t0 > 600:
                raise RuntimeError(f"the campaign did not complete: {a}")
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        cpu = b.cpu_seconds(worker.pid) - cpu0
        if a["sent"] != recipients:
            raise RuntimeError(f"not every message was sent: {a}")
        return {"recipients": recipients, "receiver_latency_ms": latency_ms, "seconds": round(seconds, 2),
                "messages_per_second": round(recipients / seconds), "worker_cpu_ms_per_message":
                round(cpu * 1000 / recipients, 3), "worker_peak_rss_mb": round(b.peak_rss_mb(worker.pid), 1)}
    finally:
        stack.stop()
        hooks.stop()


def write(rows):
    md = ["# (g) campaign sends", "",
          "One campaign, one worker replica, the webhook channel against mq-llm-stub; from POST .../send until "
          "the ledger has every message sent (fan-out, one send_message job each, ledger committed as sending "
          "before each POST and settled with its task after).", "",
          "| recipients | receiver latency | seconds | messages/s | worker CPU per message | worker peak RSS |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['recipients']:,} | {r['receiver_latency_ms']} ms | {r['seconds']} | "
                  f"{r['messages_per_second']:,} | {r['worker_cpu_ms_per_message']} ms | {r['worker_peak_rss_mb']} MB |")
    return b.save("campaigns", "campaigns", rows, md + [""])
