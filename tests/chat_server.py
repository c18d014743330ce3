"""A tiny OpenAI-compatible chat server for tests (real HTTP on 127.0.0.1, no model): fast runs of the stages.

`reply` makes the answer a function of the prompt (a deterministic stand-in for greedy decoding). Run as
`python -m tests.chat_server --port P [--reply MODULE:FUNC]` it is a separate process a test can kill -9 and
start again on the same port."""

from __future__ import annotations

import argparse
import importlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _ChatHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # quiet: tests read results, not access logs
        pass

    def do_POST(self) -> None:
        api: ChatServer = self.server.api  # type: ignore[attr-defined]
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        except (ValueError, OSError):  # a client killed mid-request (the fault tests kill workers)
            return
        api.remember(body["messages"][-1]["content"])
        time.sleep(api.delay)
        data = json.dumps(api.completion(body)).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a killed worker)


class ChatServer:
    """/v1/chat/completions: answers every choice `content` ("{i}" becomes the choice index), except choice
    `fail_sample` (finish_reason content_filter); remembers every prompt it received; answers after `delay` s."""

    def __init__(self, delay: float = 0.0, fail_sample: int | None = None, content: str = "ok {i}",
                 reply: Callable[[str], str] | None = None, port: int = 0) -> None:
        self.delay, self.fail_sample, self.content, self.reply = delay, fail_sample, content, reply
        self.prompts: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _ChatHandler)
        self.server.api = self  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def remember(self, prompt: str) -> None:
        with self.lock:
            self.prompts.append(prompt)

    def received(self) -> list[str]:
        with self.lock:
            return list(self.prompts)

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        n = int(body.get("n") or 1)
        content = self.reply(body["messages"][-1]["content"]) if self.reply else self.content
        choices = [{"index": i, "message": {"role": "assistant", "content": content.replace("{i}", str(i))},
                    "finish_reason": "content_filter" if i == self.fail_sample else "stop"} for i in range(n)]
        return {"id": "c", "object": "chat.completion", "created": 0, "model": body["model"], "choices": choices,
                "usage": {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": 3 + n}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.chat_server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reply", default="", help="MODULE:FUNC, the answer as a function of the prompt")
    args = parser.parse_args()
    reply = None
    if args.reply:
        module, _, name = args.reply.partition(":")
        reply = getattr(importlib.import_module(module), name)
    server = ChatServer(reply=reply, port=args.port)
    print(server.base_url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
