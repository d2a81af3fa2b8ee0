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

`serve_limited()` starts it in a subprocess and returns (process, base URL);
`tests.fakes.telegram_server.stop_server()` ends that process.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.telegram import FakeBotApi, Limits
from tests.fakes.telegram_server import FakeTelegramServer, serve_app, start_in_subprocess

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


def main(argv: list[str] | None = None) -> None:
    """Serve on 127.0.0.1:PORT (0 = any free port); print the base URL once listening."""
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
    # The fake must not stall on full collections of its start-up objects: a 20 ms pause here
    # would bunch requests together and count as the client's burst (6 sends at 300/s).
    serve_app(app, args.port, READY, args.log_level, freeze_gc=True)


def serve_limited(
    limits: Limits | None, port: int = 0, *, startup_timeout: float = 20.0
) -> tuple[subprocess.Popen[str], str]:
    """Start the limited server in its own process; (process, "http://127.0.0.1:PORT").

    `tests.fakes.telegram_server.stop_server()` ends it.
    """
    args = ["--port", str(port)]
    if limits is None:
        args.append("--no-limits")
    else:
        args += [
            "--per-second",
            str(limits.per_second),
            "--per-chat-interval",
            str(limits.per_chat_interval),
            "--group-per-minute",
            str(limits.group_per_minute),
        ]
    return start_in_subprocess(
        "tests.fakes.limited_server",
        args,
        READY,
        "limited fake Telegram server",
        startup_timeout=startup_timeout,
    )


if __name__ == "__main__":
    main()
