"""Retry policy for HTTP model clients: which failures to retry and how long to wait before the next attempt.

Kept free of any client library so the policy is unit-testable and shared by every HTTP backend. The wait is
exponential backoff with *full jitter* (uniform in [0, min(cap, base * 2**attempt)]), so many concurrent
requests that fail together do not retry in lock-step; a server's `Retry-After` (seconds or an HTTP date)
wins when present.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# 408 Request Timeout, 409 Conflict (OpenAI uses it for lock contention), 429 Too Many Requests: transient.
RETRYABLE_4XX = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_4XX or status >= 500


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait per `retry-after-ms` or `Retry-After` (delta-seconds or HTTP date); None if absent."""
    if not headers:
        return None
    lower = {str(k).lower(): v for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if raw is None:
        return None
    raw = str(raw).strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # a server asking for longer than this is treated as down for now

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter delay before retry number `attempt` (0-based)."""
        cap = min(self.backoff_max, self.backoff_base * (2.0 ** min(attempt, 30)))
        return (rng or random).uniform(0.0, cap)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        return self.backoff(attempt, rng)


def classify(exc: BaseException) -> tuple[bool, float | None, str]:
    """(retryable, retry_after seconds or None, short description) for an exception from an HTTP call.

    Understands the openai client's exceptions by duck typing (`status_code`, `response.headers`), plus
    timeouts and connection errors from asyncio/httpx/OS.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        response: Any = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        retry_after = parse_retry_after(dict(headers) if headers is not None else None)
        return is_retryable_status(status), retry_after, f"HTTP {status}: {_message(exc)}"
    name = type(exc).__name__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "Timeout" in name:
        return True, None, f"timeout ({name})"
    if _connection(exc):
        return True, None, f"connection error ({name}: {_message(exc)})"
    if _bad_body(exc):  # a reply cut short or mangled on the way (a proxy, a crashing server): ask again
        return True, None, f"bad response body ({name}: {_message(exc)})"
    return False, None, f"{name}: {_message(exc)}"


def _connection(exc: BaseException) -> bool:
    """Refused, reset, or closed before a whole response (httpx's RemoteProtocolError): the server may be back."""
    name = type(exc).__name__
    return isinstance(exc, (ConnectionError, OSError)) or any(w in name for w in ("Connect", "ProtocolError"))


def _bad_body(exc: BaseException) -> bool:
    """A response whose body is not the JSON it claims to be (JSONDecodeError, or the client's own wrapper)."""
    import json

    return isinstance(exc, json.JSONDecodeError) or type(exc).__name__ in ("APIResponseValidationError",)


def retry_reason(exc: BaseException) -> str:
    """A short, stable label for why a call is retried (or given up): `http_429`, `http_503`, `timeout`,
    `connection`, `bad_body`, else the exception's type name. Retries are counted per label."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return f"http_{status}"
    name = type(exc).__name__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "Timeout" in name:
        return "timeout"
    if _connection(exc):
        return "connection"
    if _bad_body(exc):
        return "bad_body"
    return name


RetryListener = Callable[[str, str, float], None]  # (reason, description, seconds until the next attempt)


class RetryLog:
    """Retries of one client, counted per reason (thread-safe); `listener` hears of each one as it happens, so a
    run can show and record them live (a killed worker loses none already told)."""

    def __init__(self, listener: RetryListener | None = None) -> None:
        self.listener = listener
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, reason: str, description: str, delay: float) -> None:
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + 1
        if self.listener is not None:
            try:
                self.listener(reason, description, delay)
            except Exception:  # noqa: BLE001 - bookkeeping must never fail a request
                pass

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def _message(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return text if len(text) <= 500 else text[:500] + "..."
