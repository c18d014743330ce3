"""A minimal OpenAI-compatible `/v1/completions` server over a transformers model, on 127.0.0.1.

For tests, benchmarks and offline demos where starting vLLM (a minute on a small CPU box) is too slow; real
serving is `confconsole serve` (vLLM). It answers one request at a time with no prefix cache, i.e. every request
re-encodes its whole prompt. Accepts a text or token-id `prompt`, `max_tokens`, `temperature`, `top_p`, `seed`,
`ignore_eos`, `logprobs` (+ `return_tokens_as_token_ids`) and `return_token_ids` (vLLM's extensions).
"""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HFCompletionServer:
    def __init__(self, model: str, port: int = 0, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from backends.embedded import resolve_model
        from backends.sdpa_gqa import register

        path = resolve_model(model)
        self.model_name = model
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=register()).to(device).eval()
        self.device, self.torch = device, torch
        self.lock = threading.Lock()
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": server.model_name, "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if not self.path.endswith("/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    self._send(200, server.complete(body))
                except Exception as exc:  # noqa: BLE001 - a bad request is answered, never kills the server
                    self._send(400, {"error": {"message": f"{type(exc).__name__}: {exc}"}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        torch = self.torch
        prompt = body.get("prompt", "")
        ids = list(prompt) if isinstance(prompt, list) else self.tokenizer(prompt, add_special_tokens=False)[
            "input_ids"]
        temperature = float(body.get("temperature", 1.0) or 0.0)
        eos = {self.tokenizer.eos_token_id} | _as_set(self.model.generation_config.eos_token_id)
        top_k = int(body.get("logprobs") or 0)
        gen = torch.Generator().manual_seed(int(body.get("seed") or 0))
        out: list[int] = []
        tops: list[dict[str, float]] = []
        finish = "length"
        with self.lock, torch.no_grad():
            self.requests += 1
            past, feed = None, ids
            for _ in range(int(body.get("max_tokens", 16))):
                res = self.model(torch.tensor([feed], device=self.device), past_key_values=past, use_cache=True)
                past, logits = res.past_key_values, res.logits[0, -1].float()
                if body.get("ignore_eos"):
                    logits[sorted(e for e in eos if e is not None)] = -math.inf
                logp = torch.log_softmax(logits, -1)
                if temperature > 0:
                    tok = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen))
                else:
                    tok = int(logits.argmax())
                if top_k:
                    vals, idx = torch.topk(logp, top_k)
                    tops.append({self._name(i, body): v for v, i in zip(vals.tolist(), idx.tolist(), strict=True)})
                out.append(tok)
                if tok in eos:
                    finish = "stop"
                    break
                feed = [tok]
        text_ids = out[:-1] if finish == "stop" else out
        choice: dict[str, Any] = {"index": 0, "text": self.tokenizer.decode(text_ids), "finish_reason": finish,
                                  "stop_reason": None}
        if body.get("return_token_ids"):
            choice["token_ids"] = out
        if top_k:
            choice["logprobs"] = {"top_logprobs": tops}
        return {"id": f"cmpl-{self.requests}", "object": "text_completion", "model": self.model_name,
                "choices": [choice], "usage": {"prompt_tokens": len(ids), "completion_tokens": len(out),
                                               "total_tokens": len(ids) + len(out)}}

    def _name(self, token_id: int, body: dict[str, Any]) -> str:
        if body.get("return_tokens_as_token_ids"):
            return f"token_id:{token_id}"
        return self.tokenizer.decode([token_id])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _as_set(value: Any) -> set[Any]:
    if value is None:
        return set()
    return set(value) if isinstance(value, list) else {value}
