"""A small fault-injecting HTTP proxy on 127.0.0.1, in front of a real local server.

Requests are numbered from 1 in arrival order; `script(number, body)` says what happens to each: pass it on,
answer it with an error status (and headers such as `Retry-After`), delay it past the client's timeout, cut the
body short, send a body that is not JSON, drop the connection, or rewrite the server's answer. When the server
behind it is down, the proxy drops the client's connection, as the dead server would. It records every request
(number, path, fault, Authorization header) for the test to check.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    kind: str = "pass"  # pass | status | delay | truncate | cut_json | drop | rewrite
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None


PASS = Fault()
Script = Callable[[int, dict[str, Any]], Fault]


@dataclass
class Seen:
    number: int
    path: str
    fault: str
    auth: str
    outcome: str = ""


class FaultProxy:
    def __init__(self, upstream_port: int, script: Script | None = None) -> None:
        self.upstream_port = upstream_port
        self.script: Script = script or (lambda n, body: PASS)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def faults(self) -> list[str]:
        with self.lock:
            return [s.fault for s in self.seen]

    # -- one request ----------------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        with self.lock:
            seen = Seen(len(self.seen) + 1, h.path, "", h.headers.get("Authorization", ""))
            self.seen.append(seen)
        fault = self.script(seen.number, body)
        seen.fault = fault.kind if fault.kind != "status" else f"status {fault.status}"
        h.close_connection = True
        if fault.kind == "drop":
            return _hang_up(h)
        if fault.kind == "status":
            payload = json.dumps({"error": {"message": f"injected {fault.status}", "type": "injected"}}).encode()
            return _send(h, fault.status, payload, fault.headers)
        if fault.kind == "delay":
            time.sleep(fault.seconds)
        try:
            status, headers, data = self.forward(h, raw)
        except OSError:
            seen.outcome = "upstream down"
            return _hang_up(h)
        seen.outcome = str(status)
        if fault.kind == "truncate":  # the promised length, half the bytes, then the connection closes
            return _send(h, status, data[: len(data) // 2], headers, length=len(data))
        if fault.kind == "cut_json":  # a whole HTTP response whose JSON body is cut
            return _send(h, status, data[: len(data) // 2], headers)
        if fault.kind == "rewrite" and fault.rewrite is not None and status == 200:
            data = json.dumps(fault.rewrite(json.loads(data))).encode()
        _send(h, status, data, headers)

    def forward(self, h: BaseHTTPRequestHandler, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            conn.request("POST", h.path, raw, {"Content-Type": "application/json",
                                               "Authorization": h.headers.get("Authorization", "")})
            resp = conn.getresponse()
            data = resp.read()
            headers = {k: v for k, v in resp.getheaders() if k.lower() in ("content-type",)}
            return resp.status, headers, data
        finally:
            conn.close()


def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str],
          length: int | None = None) -> None:
    try:
        h.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data) if length is None else length))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()
    except OSError:
        pass  # the client gave up (its timeout): nothing to answer


def _hang_up(h: BaseHTTPRequestHandler) -> None:
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
