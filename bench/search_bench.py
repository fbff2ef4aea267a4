"""(f) semantic search: POST /api/v1/documents/search over one tenant's chunks.

Loads `chunks` chunks with random `dims`-dimensional vectors straight into Postgres for a
fresh tenant (in documents of 100 chunks), then times searches from one client: the
first (which loads the tenant's vectors into mq-api) and `queries` more. Writes
bench/results/search.{md,json}.
"""
import io
import os
import random
import struct
import time

import psycopg2

import benchlib as b


def _load(stack, chunks, dims):
    conn = psycopg2.connect(host=os.environ["MQ_POSTGRES_HOST"], port=os.environ["MQ_POSTGRES_PORT"],
                            dbname=os.environ["MQ_POSTGRES_DBNAME"], user=os.environ["MQ_POSTGRES_USER"],
                            password=os.environ["MQ_POSTGRES_PASSWORD"],
                            options=f"-c search_path={stack.id}")
    cur = conn.cursor()
    cur.execute("SELECT id FROM tenants WHERE name = %s", (stack.id,))
    tenant = cur.fetchone()[0]
    rng = random.Random(7)
    per_doc = 100
    for d in range(0, chunks, per_doc):
        cur.execute("INSERT INTO documents (tenant_id, title, mime_type, size_bytes, content_hash, content, status, "
                    "total_chunks) VALUES (%s, %s, 'text/plain', 0, %s, '', 'completed', %s) RETURNING id",
                    (tenant, f"doc {d // per_doc}", f"hash-{d}", per_doc))
        doc = cur.fetchone()[0]
        buf = io.StringIO()
        for i in range(min(per_doc, chunks - d)):
            vec = struct.pack(f"<{dims}f", *(rng.gauss(0, 1) for _ in range(dims)))
            buf.write(f"{doc}\t{tenant}\t{i}\tchunk {d + i} of the benchmark corpus\t{i}\t{i * 500}\t"
                      f"{i * 500 + 500}\t\\\\x{vec.hex()}\n")
        buf.seek(0)
        cur.copy_expert("COPY document_chunks (document_id, tenant_id, chunk_index, content, page, start_offset, "
                        "end_offset, embedding) FROM STDIN", buf)
    conn.commit()
    conn.close()


def run(chunks=100000, dims=256, queries=200):
    stack = b.Stack(env={"MQ_LLM_EMBEDDING_DIMENSIONS": str(dims)})
    try:
        stack.start_api()
        t0 = time.monotonic()
        _load(stack, chunks, dims)
        load_s = time.monotonic() - t0
        words = ["precio", "envío", "devolución", "factura", "plan", "soporte", "contrato", "descuento"]
        rng = random.Random(3)

        def search():
            q = " ".join(rng.choice(words) for _ in range(6))
            start = time.perf_counter()
            status, body = b.http("POST", stack.url + "/api/v1/documents/search", {"query": q, "limit": 5},
                                  stack.key)
            took = (time.perf_counter() - start) * 1000
            if status != 200 or body["chunks_searched"] != chunks:
                raise RuntimeError(f"search failed: {status} {body}")
            return took

        first_ms = search()
        lat = sorted(search() for _ in range(queries))
        row = {"chunks": chunks, "dimensions": dims, "queries": queries, "load_seconds": round(load_s, 1),
               "first_search_ms": round(first_ms, 1), "p50_ms": round(lat[len(lat) // 2], 2),
               "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 2), "max_ms": round(lat[-1], 2),
               "api_peak_rss_mb": round(b.peak_rss_mb(stack.api.pid), 1)}
        return row
    finally:
        stack.stop()


def write(row):
    return b.save("search", "search", row, [
        "# (f) semantic search", "",
        f"One tenant with {row['chunks']:,} chunks of {row['dimensions']} dimensions; one client, sequential "
        f"requests over HTTP (urllib, a connection per request); the query embedded by the offline provider.", "",
        "| first search (loads the vectors) | p50 | p99 | max | mq-api peak RSS | target |",
        "|---|---|---|---|---|---|",
        f"| {row['first_search_ms']} ms | {row['p50_ms']} ms | {row['p99_ms']} ms | {row['max_ms']} ms | "
        f"{row['api_peak_rss_mb']} MB | < 50 ms |", ""])
