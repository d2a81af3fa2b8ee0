"""The fake Telegram Bot API over real HTTP, with simulated residents chatting to the bot.

`FakeTelegramServer` wraps a `FakeBotApi` in a Starlette app that serves
`GET/POST /bot<token>/<method>` the way api.telegram.org does. python-telegram-bot 22's
`HTTPXRequest` sends `application/x-www-form-urlencoded` bodies (non-str values JSON-encoded)
and `multipart/form-data` when it uploads files; JSON bodies and query strings are accepted too.

`POST /_fake/run` with `{"residents": N, "messages": M, "script": [...]}` (optional
"first_chat_id", "answer_timeout") lets N residents (private chats first_chat_id, +1, …)
each send M messages, one at a time: a resident's next message goes
out only after the bot has answered the previous one (sendMessage/sendPhoto to that chat).
It answers `{"answers", "seconds", "latencies_ms", ...}` when every resident is done.

Run it in its own process with `serve_in_subprocess()` (or `python -m tests.fakes.telegram_server
--port P`); it listens on 127.0.0.1 only. `stop_server()` ends that process. `serve_app()` and
`start_in_subprocess()` do the same for other fake servers (tests/fakes/limited_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import gc
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.telegram import FakeBotApi

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
READY = "fake-telegram listening on "

# Methods whose success means "the bot answered this chat".
ANSWER_METHODS = frozenset({"sendMessage", "sendPhoto"})

# Parameters whose value is an object or array: form bodies carry them JSON-encoded.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "commands",
        "scope",
        "allowed_updates",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "media",
        "results",
    }
)

FIRST_CHAT_ID = 700_000_001


def _decode_fields(params: dict[str, Any]) -> dict[str, Any]:
    """JSON-decode the structured fields a form body carries as strings; scalars stay strings."""
    for key in JSON_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str):
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Fields of a multipart/form-data body; a file part becomes {"filename", "size"}."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        raw = part.get_payload(decode=True)
        payload = raw if isinstance(raw, bytes) else b""
        filename = part.get_filename()
        if filename is not None or part.get_content_type() == "application/octet-stream":
            params[str(name)] = {"filename": filename, "size": len(payload)}
        else:
            charset = part.get_content_charset() or "utf-8"
            params[str(name)] = payload.decode(charset)
    return params


async def parse_params(request: Request) -> dict[str, Any]:
    """The parameters of one Bot API call: query string plus a JSON, form or multipart body."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return _decode_fields(params)
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("a JSON body must be an object")
        params.update(decoded)
        return params
    if kind == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    else:
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return _decode_fields(params)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class FakeTelegramServer:
    """A `FakeBotApi` served over HTTP, plus residents who chat with the bot in this event loop."""

    def __init__(self, api: FakeBotApi | None = None) -> None:
        self.api = api or FakeBotApi()
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._unexpected = 0
        self._delivered = 0
        self._clients: set[tuple[str, int]] = set()
        self._errors: list[str] = []
        self._run_lock = asyncio.Lock()
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self.bot_call, methods=["GET", "POST"]),
                Route("/_fake/run", self.run_endpoint, methods=["POST"]),
                Route("/_fake/health", self.health, methods=["GET"]),
            ]
        )

    # ---- the Bot API side ----

    async def bot_call(self, request: Request) -> Response:
        """One Bot API call: check the token, parse the body, answer through FakeBotApi."""
        if request.client is not None:
            self._clients.add((request.client.host, request.client.port))
        token = request.path_params["token"]
        method = request.path_params["method"]
        if token != self.api.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        try:
            params = await parse_params(request)
        except ValueError as err:
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {err}"}
            return JSONResponse(body, status_code=400)
        if method == "getUpdates":
            outcome = await self._unless_disconnected(request, self.api.call(method, params))
            if outcome is None:  # the bot gave up on this long poll (it is stopping)
                return Response(status_code=499)
            status, body = outcome
            delivered = body.get("result")
            if status == 200 and isinstance(delivered, list):
                self._delivered += len(delivered)
        else:
            status, body = await self.api.call(method, params)
        if method in ANSWER_METHODS:
            self._answered(str(params.get("chat_id")), status, body)
        return JSONResponse(body, status_code=status)

    @staticmethod
    async def _unless_disconnected(
        request: Request, call: Coroutine[Any, Any, tuple[int, dict[str, Any]]]
    ) -> tuple[int, dict[str, Any]] | None:
        """Await a long poll, or cancel it (None) as soon as the client closes the connection."""

        async def disconnected() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        answer = asyncio.ensure_future(call)
        gone = asyncio.ensure_future(disconnected())
        try:
            await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (answer, gone):
                if not task.done():
                    task.cancel()
        if answer.done() and not answer.cancelled():
            return answer.result()
        return None

    def _answered(self, chat_id: str, status: int, body: dict[str, Any]) -> None:
        fut = self._waiting.pop(chat_id, None)
        if status != 200:
            self._errors.append(f"chat {chat_id}: {body.get('description')}")
        if fut is None or fut.done():
            self._unexpected += 1
            return
        fut.set_result(time.perf_counter())

    async def health(self, _request: Request) -> Response:
        """Liveness: the server answers."""
        return JSONResponse({"ok": True})

    # ---- the residents' side ----

    async def run_endpoint(self, request: Request) -> Response:
        """`POST /_fake/run`: run one whole simulation, answer with its measurements."""
        spec = await request.json()
        residents = int(spec.get("residents", 50))
        messages = int(spec.get("messages", 20))
        script = [str(s) for s in spec.get("script") or ["/start"]]
        timeout = float(spec.get("answer_timeout", 60))
        first_chat_id = int(spec.get("first_chat_id", FIRST_CHAT_ID))
        if residents < 1 or messages < 1:
            return JSONResponse({"error": "residents and messages must be >= 1"}, status_code=400)
        if self._run_lock.locked():
            return JSONResponse({"error": "a run is already going"}, status_code=409)
        async with self._run_lock:
            result = await self.simulate(
                residents, messages, script, answer_timeout=timeout, first_chat_id=first_chat_id
            )
        return JSONResponse(result)

    async def simulate(
        self,
        residents: int,
        messages: int,
        script: list[str],
        *,
        answer_timeout: float = 60.0,
        first_chat_id: int = FIRST_CHAT_ID,
    ) -> dict[str, Any]:
        """N residents, M messages each, every message sent once the previous one is answered."""
        # A fresh start: nothing left over from an earlier run or an earlier bot.
        self.api._pending.clear()
        self.api.sent.clear()
        self.api.calls.clear()
        self._waiting.clear()
        self._unexpected = 0
        self._errors = []
        self._delivered = 0
        self._clients = set()
        loop = asyncio.get_running_loop()

        async def resident(index: int) -> tuple[list[float], int]:
            chat_id = first_chat_id + index
            latencies: list[float] = []
            for k in range(messages):
                fut: asyncio.Future[float] = loop.create_future()
                self._waiting[str(chat_id)] = fut
                started = time.perf_counter()
                update = self.api.text_update(chat_id, script[k % len(script)], name=f"居民{index}")
                self.api.queue(update)
                try:
                    answered = await asyncio.wait_for(fut, answer_timeout)
                except TimeoutError:
                    self._waiting.pop(str(chat_id), None)
                    return latencies, messages - k
                latencies.append(answered - started)
            return latencies, 0

        cpu0, wall0 = time.process_time(), time.perf_counter()
        outcomes = await asyncio.gather(*(resident(i) for i in range(residents)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        latencies = [lat for lats, _ in outcomes for lat in lats]
        calls = Counter(method for method, _ in self.api.calls)
        return {
            "answers": len(latencies),
            "unanswered": sum(missing for _, missing in outcomes),
            "unexpected_answers": self._unexpected,
            "failed_calls": self._errors[:20],
            "seconds": round(wall, 6),
            "server_cpu_seconds": round(cpu, 6),
            "calls": dict(calls),
            "updates_delivered": self._delivered,
            "client_connections": len(self._clients),
            "latencies_ms": [_ms(lat) for lat in latencies],
        }


# ---- running it in its own process ----


def _listening_socket(port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol is explicit; without it Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(1024)
    return sock


def serve_app(
    app: Starlette, port: int, ready: str, log_level: str, *, freeze_gc: bool = False
) -> None:
    """Listen on 127.0.0.1:PORT (0 = any free port), print `ready` + the base URL, serve `app`.

    With `freeze_gc` the start-up objects are collected and frozen before serving, so that no
    full collection of them pauses the server later.
    """
    import uvicorn

    sock = _listening_socket(port)
    # The socket already listens: connections queue from now on, before uvicorn accepts them.
    print(f"{ready}http://{HOST}:{sock.getsockname()[1]}", flush=True)
    sys.stdout = sys.stderr  # the parent stops reading stdout after the line above
    if freeze_gc:
        gc.collect()
        gc.freeze()
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    """Serve on 127.0.0.1:PORT (0 = any free port); print the base URL once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    serve_app(FakeTelegramServer().app, args.port, READY, args.log_level)


def _read_ready_line(proc: subprocess.Popen[str], deadline: float, what: str) -> str:
    """The first line the server prints (stopping it and raising if none comes in time)."""
    assert proc.stdout is not None
    line = ""
    while not line.endswith("\n"):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(remaining, 0))
        if not ready:
            stop_server(proc)
            raise RuntimeError(f"the {what} did not start")
        chunk = proc.stdout.readline()
        if not chunk:
            stop_server(proc)
            raise RuntimeError(f"the {what} exited with code {proc.wait()}")
        line += chunk
    return line


def start_in_subprocess(
    module: str, args: list[str], ready: str, what: str, *, startup_timeout: float = 20.0
) -> tuple[subprocess.Popen[str], str]:
    """Run `python -m module *args` from the project root until it prints `ready` + its base
    URL (its socket listening); (process, "http://127.0.0.1:PORT"). `what` names it in errors.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + startup_timeout
    line = _read_ready_line(proc, deadline, what)
    if not line.startswith(ready):
        stop_server(proc)
        raise RuntimeError(f"unexpected output from the {what}: {line!r}")
    # The server prints the line only once its socket listens: connecting works from now on.
    return proc, line[len(ready) :].strip()


def serve_in_subprocess(
    port: int = 0, *, startup_timeout: float = 20.0
) -> tuple[subprocess.Popen[str], str]:
    """Start the server in its own OS process; (process, "http://127.0.0.1:PORT") once it listens."""
    return start_in_subprocess(
        "tests.fakes.telegram_server",
        ["--port", str(port)],
        READY,
        "fake Telegram server",
        startup_timeout=startup_timeout,
    )


def stop_server(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """Stop a server started by `start_in_subprocess` (SIGTERM, then SIGKILL if it lingers)."""
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
