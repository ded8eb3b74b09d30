#!/usr/bin/env python3
"""A worker process of the "queue + worker processes" pattern, with redis-py.

Same protocol as the Rust example (examples/src/bin/order_worker.rs), so
both kinds can share one consumer group:

- read new orders with XREADGROUP ... STREAMS <stream> >, process, then XACK
  (at least once: a crash before the XACK leaves the entries pending);
- first, take over entries other workers left pending past --claim-idle-ms
  (XPENDING IDLE, then XCLAIM, which only succeeds if still idle);
- an entry delivered --max-deliveries times goes to <stream>:dead instead.

Processing records the order in the hash <stream>:processed.

    pip install redis
    python3 examples/python/order_worker.py --url redis://127.0.0.1:6379 --name py1
"""

import argparse
import time

import redis


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="redis://127.0.0.1:6379")
    p.add_argument("--stream", default="orders")
    p.add_argument("--group", default="workers")
    p.add_argument("--name", required=True)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--claim-idle-ms", type=int, default=2000)
    p.add_argument("--max-deliveries", type=int, default=5)
    p.add_argument("--idle-exit-ms", type=int, default=0, help="exit after this long with nothing to do (0: never)")
    return p.parse_args()


def process_and_ack(r, args, entries):
    """Processes a batch and acknowledges it in one pipeline."""
    if not entries:
        return
    pipe = r.pipeline(transaction=False)
    for entry_id, fields in entries:
        pipe.hincrby(f"{args.stream}:processed", fields.get(b"order", entry_id), 1)
    pipe.xack(args.stream, args.group, *[entry_id for entry_id, _ in entries])
    pipe.execute()


def reclaim(r, args):
    """Claims entries left pending past the idle time; dead-letters those delivered too often."""
    stale = r.xpending_range(args.stream, args.group, min="-", max="+", count=args.batch, idle=args.claim_idle_ms)
    for pending in stale:
        entry_id = pending["message_id"]
        if pending["times_delivered"] >= args.max_deliveries:
            r.xadd(f"{args.stream}:dead", {"id": entry_id, "by": args.name})
            r.xack(args.stream, args.group, entry_id)
            continue
        claimed = r.xclaim(args.stream, args.group, args.name, args.claim_idle_ms, [entry_id])
        process_and_ack(r, args, [(i, f) for i, f in claimed if f is not None])
    return bool(stale)


def main():
    args = parse_args()
    r = redis.Redis.from_url(args.url)
    try:
        r.xgroup_create(args.stream, args.group, id="0", mkstream=True)
    except redis.ResponseError as e:
        if not str(e).startswith("BUSYGROUP"):
            raise
    idle_since = time.monotonic()
    while True:
        worked = reclaim(r, args)
        reply = r.xreadgroup(args.group, args.name, {args.stream: ">"}, count=args.batch, block=1000)
        for _stream, entries in reply or []:
            worked = worked or bool(entries)
            process_and_ack(r, args, entries)
        if worked:
            idle_since = time.monotonic()
        elif args.idle_exit_ms and (time.monotonic() - idle_since) * 1000 >= args.idle_exit_ms:
            return


if __name__ == "__main__":
    main()
