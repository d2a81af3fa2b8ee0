"""The fake Bot API with Telegram's limits enforced, in its own process, with send statistics.

`python -m tests.fakes.limited_server --per-second 30` serves a `FakeTelegramServer` whose
`FakeBotApi` refuses (429 + retry_after) what Telegram would refuse: more than `per_second`
sends in any sliding second, two sends to one private chat closer than `per_chat_interval`,
more than `group_per_minute` to one group. Besides `/bot<token>/<method>` it answers

* `GET /_fake/stats`: numbers derived from the send log (successful sends, sends per chat,
  429s, the first and last successful send on the server's monotonic clock, the most
  successful sends in any one-second window, successes inside a `retry_after` the server
  had just asked for, the server's CPU seconds);
* `POST /_fake/reset`: forget every send so far (the limits keep their state) and start
  watching this process's event-loop stalls (reported by the stats as `loop_lag_ms`).

`serve_limited()` starts it in a subprocess and returns (process, base URL); `stop_limited()`
ends that process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import select
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.telegram import FakeBotApi, Limits
from tests.fakes.telegram_server import FakeTelegramServer

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
READY = "limited fake-telegram listening on "


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps (sorted ascending) inside any half-open interval of `window` seconds."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def send_stats(api: FakeBotApi, *, per_chat: bool = True) -> dict[str, Any]:
    """What the send log says: successes, per-chat counts, 429s, timing of the successes."""
    ok = [(t, chat) for t, chat, status in api.send_log if status == 200]
    times = [t for t, _ in ok]
    counts = Counter(chat for _, chat in ok)
    failed = Counter(str(status) for _, _, status in api.send_log if status != 200)
    throttled = [t for t, _, status in api.send_log if status == 429]
    # Successes inside a retry_after the server had just asked for: Telegram would not like it.
    ignored, until = 0, float("-inf")
    for t, _, status in api.send_log:
        if status == 429:
            until = max(until, t + api.retry_after)
        elif status == 200 and t < until:
            ignored += 1
    stats: dict[str, Any] = {
        "sent": len(ok),
        "chats": len(counts),
        "http_429": api.http_429,
        "failed_by_status": dict(failed),
        "first_success": times[0] if times else None,
        "last_success": times[-1] if times else None,
        "max_in_1s": max_in_window(times),
        "http_429_times": throttled[:100],
        "sent_during_retry_after": ignored,
        "server_cpu_s": round(time.process_time(), 3),
        "limits": None if api.limits is None else vars(api.limits),
    }
    if per_chat:
        stats["per_chat"] = dict(counts)
    return stats


class LoopWatch:
    """How late this process's event loop wakes a short sleep: its stalls, in milliseconds."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.lags_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Start watching (in the running loop) unless already watching."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.every)
            self.lags_ms.append((time.perf_counter() - before - self.every) * 1000)

    def summary(self) -> dict[str, float]:
        """Median, 99th percentile and worst lag since the last reset."""
        lags = sorted(self.lags_ms) or [0.0]
        return {
            "p50": round(lags[len(lags) // 2], 2),
            "p99": round(lags[len(lags) * 99 // 100], 2),
            "max": round(lags[-1], 2),
        }


def build_app(limits: Limits | None) -> tuple[Starlette, FakeBotApi]:
    """A FakeTelegramServer app around a FakeBotApi with `limits`, plus the stats routes."""
    api = FakeBotApi(limits=limits)
    server = FakeTelegramServer(api)
    watch = LoopWatch()

    async def stats(request: Request) -> Response:
        per_chat = request.query_params.get("per_chat", "1") != "0"
        return JSONResponse({**send_stats(api, per_chat=per_chat), "loop_lag_ms": watch.summary()})

    async def reset(_request: Request) -> Response:
        watch.ensure_running()
        watch.lags_ms.clear()
        api.send_log.clear()
        api.sent.clear()
        api.calls.clear()
        api.http_429 = 0
        return JSONResponse({"ok": True})

    routes = [
        Route("/_fake/stats", stats, methods=["GET"]),
        Route("/_fake/reset", reset, methods=["POST"]),
        *server.app.routes,
    ]
    return Starlette(routes=routes), api


def _listening_socket(port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted sockets (no Nagle delay).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(1024)
    return sock


def main(argv: list[str] | None = None) -> None:
    """Serve on 127.0.0.1:PORT (0 = any free port); print the base URL once listening."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--per-second", type=float, default=30.0)
    parser.add_argument("--per-chat-interval", type=float, default=1.0)
    parser.add_argument("--group-per-minute", type=int, default=20)
    parser.add_argument("--no-limits", action="store_true", help="enforce no limits at all")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    limits = (
        None
        if args.no_limits
        else Limits(
            per_second=args.per_second,
            per_chat_interval=args.per_chat_interval,
            group_per_minute=args.group_per_minute,
        )
    )
    app, _api = build_app(limits)
    sock = _listening_socket(args.port)
    print(f"{READY}http://{HOST}:{sock.getsockname()[1]}", flush=True)
    sys.stdout = sys.stderr  # the parent stops reading stdout after the line above
    # The fake must not stall on full collections of its start-up objects: a 20 ms pause here
    # would bunch requests together and count as the client's burst (6 sends at 300/s).
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app, log_level=args.log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=3
    )
    uvicorn.Server(config).run(sockets=[sock])


def serve_limited(
    limits: Limits | None, port: int = 0, *, startup_timeout: float = 20.0
) -> tuple[subprocess.Popen[str], str]:
    """Start the limited server in its own process; (process, "http://127.0.0.1:PORT")."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "tests.fakes.limited_server", "--port", str(port)]
    if limits is None:
        command.append("--no-limits")
    else:
        command += [
            "--per-second",
            str(limits.per_second),
            "--per-chat-interval",
            str(limits.per_chat_interval),
            "--group-per-minute",
            str(limits.group_per_minute),
        ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], startup_timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith(READY):
        stop_limited(proc)
        raise RuntimeError(f"the limited fake Telegram server did not start: {line!r}")
    base_url = line[len(READY) :].strip()
    port_number = int(base_url.rsplit(":", 1)[1])
    deadline = time.monotonic() + startup_timeout
    while True:
        try:
            with socket.create_connection((HOST, port_number), timeout=1.0):
                break
        except OSError:
            if time.monotonic() > deadline:
                stop_limited(proc)
                raise
            time.sleep(0.05)
    return proc, base_url


def stop_limited(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """Stop a server started by `serve_limited` (SIGTERM, then SIGKILL if it lingers)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


if __name__ == "__main__":
    main()
