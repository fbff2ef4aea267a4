#!/usr/bin/env python3
"""The main job, end to end, through the public API only.

Loads the sample meetings shipped in data/meetings, asks mq-api to classify every
unclassified meeting in one call, shows the batch's progress, then summarises the
classifications. Run by `scripts/dev demo`, which sets MQ_DEMO_URL, MQ_DEMO_KEY and
MQ_DEMO_TENANT.
"""
import collections
import glob
import json
import os
import sys
import time
import urllib.error
import urllib.request

URL = os.environ["MQ_DEMO_URL"]
KEY = os.environ["MQ_DEMO_KEY"]
TENANT = os.environ.get("MQ_DEMO_TENANT", "demo")


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + KEY)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


def bar(done, total, width=40):
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def main(sample_dir):
    meetings = []
    for path in sorted(glob.glob(os.path.join(sample_dir, "*.json"))):
        with open(path, encoding="utf-8") as f:
            meetings.extend(json.load(f)["meetings"])
    status, body, _ = call("POST", "/api/v1/meetings", {"meetings": meetings})
    if status != 201:
        sys.exit(f"loading meetings failed: {status} {body}")
    clients = {m["client"]["id"] for m in body["meetings"] if m["client"]}
    sellers = {m["seller"]["id"] for m in body["meetings"] if m["seller"]}
    print(f"loaded {len(body['meetings'])} meetings ({len(clients)} clients, {len(sellers)} sellers)")

    started = time.time()
    status, body, headers = call("POST", "/api/v1/classifications/queue-unclassified")
    if status not in (200, 202):
        sys.exit(f"queue-unclassified failed: {status} {body}")
    batch_id = body["batch_id"]
    print(f"queue-unclassified: {body['queued']} queued, {body['already_queued']} already queued"
          f" -> {headers.get('Location', '')}")
    again = call("POST", "/api/v1/classifications/queue-unclassified")[1]
    print(f"calling it again queues nothing twice: {again['queued']} queued,"
          f" {again['already_queued']} already queued")

    tty = sys.stdout.isatty()
    last_line = ""
    while batch_id:
        status, batch, _ = call("GET", f"/api/v1/batches/{batch_id}")
        done = batch["succeeded"] + batch["failed"]
        line = (f"{bar(done, batch['total'])} {done}/{batch['total']}  succeeded {batch['succeeded']}"
                f"  failed {batch['failed']}  pending {batch['pending']}")
        if tty:
            print("\r" + line, end="", flush=True)
        elif line != last_line:
            print(line, flush=True)
        last_line = line
        if batch["pending"] == 0:
            break
        if time.time() - started > 300:
            sys.exit("\nthe batch did not finish in 5 minutes; see .dev/log/")
        time.sleep(0.25)
    if tty:
        print()
    elapsed = time.time() - started

    status, page, _ = call("GET", "/api/v1/classifications?page_size=500")
    items = [i["classification"] for i in page["items"]]
    provider = page["items"][0]["provider"] if page["items"] else "?"
    print(f"\nclassified {len(items)} meetings in {elapsed:.1f} s with the '{provider}' provider\n")
    for field in ("business_sector", "sentiment", "purchase_stage"):
        counts = collections.Counter(i[field] for i in items)
        print(f"{field}:")
        for value, n in counts.most_common():
            print(f"  {value:<26} {n:>3}  {'#' * n}")
        print()

    first = page["items"][0]["meeting_id"] if page["items"] else 1
    print("Try next (tenant " + TENANT + "):")
    print(f"  export MQ_KEY={KEY}")
    print(f"  curl -s {URL}/api/v1/classifications/{first} -H \"Authorization: Bearer $MQ_KEY\"")
    print(f"  curl -s {URL}/api/v1/batches/{batch_id} -H \"Authorization: Bearer $MQ_KEY\"")
    print(f"  curl -s '{URL}/api/v1/meetings?classified=true&page_size=5' -H \"Authorization: Bearer $MQ_KEY\"")
    print(f"  curl -s -X POST {URL}/api/v1/workers/classify/{first} -H \"Authorization: Bearer $MQ_KEY\"")
    print(f"  curl -s {URL}/api/v1/workers/stats -H \"Authorization: Bearer $MQ_KEY\"")
    print(f"  {URL}/dashboard#key={KEY}   # the dashboard, in a browser")
    print(f"  curl -s {URL}/metrics; curl -s http://127.0.0.1:9464/metrics   # Prometheus: api, first worker")
    print(f"  curl -s -X POST '{URL}/api/v1/documents?title=README' -H \"Authorization: Bearer $MQ_KEY\" "
          "-H 'Content-Type: text/markdown' --data-binary @README.md")
    print(f"  curl -s -X POST {URL}/api/v1/documents/search -H \"Authorization: Bearer $MQ_KEY\" "
          "-H 'Content-Type: application/json' -d '{\"query\": \"how are dead letters replayed?\", \"limit\": 3}'")
    print(f"  curl -s {URL}/ready")
    print("  scripts/dev status | scripts/dev down")
    # The settings go on `demo`, the command that starts the workers (on `down` they would be lost).
    print("  scripts/dev down && MQ_LLM_PROVIDER=openai MQ_LLM_BASE_URL=http://127.0.0.1:11434/v1 "
          "MQ_LLM_MODEL=llama3.1 MQ_LLM_RESPONSE_FORMAT=json_object scripts/dev demo   # a real model (Ollama here)")


if __name__ == "__main__":
    main(sys.argv[1])
