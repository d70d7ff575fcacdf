"""Burst client for bench/slack_ack.py (its own process, so its CPU is not the fake Slack API's).

Reads {"port", "requests": [[body, headers] or [body, headers, path], ...]} as JSON on stdin
(path: /slack/events unless given); opens every connection
first, then sends all requests at once (asyncio, one thread) and prints, per request, the
wall-clock send time and the round trip in seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def one(port: int, body: str, headers: dict[str, str], start: asyncio.Event,
              path: str = "/slack/events") -> tuple[int, float, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = body.encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raw = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(data)}\r\n"
           f"Connection: close\r\n\r\n").encode() + data
    await start.wait()
    sent_at = time.time()
    t0 = time.perf_counter()
    writer.write(raw)
    await writer.drain()
    status_line = await reader.readline()
    elapsed = time.perf_counter() - t0
    await reader.read()
    writer.close()
    return int(status_line.split()[1]), elapsed, sent_at


async def main() -> None:
    spec = json.load(sys.stdin)
    start = asyncio.Event()
    tasks = [asyncio.create_task(one(spec["port"], *r[:2], start, *r[2:])) for r in spec["requests"]]
    await asyncio.sleep(0.5)  # all connected
    start.set()
    results = await asyncio.gather(*tasks)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
