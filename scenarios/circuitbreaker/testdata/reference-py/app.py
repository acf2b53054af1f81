"""Reference solution of the circuit-breaker challenge, in Python (standard library only).

GET /api/quote asks the downstream for a quote through a circuit breaker. Closed, every
request makes exactly one downstream call with a 500 ms deadline and no retry; five
consecutive failures (a 5xx, no answer in time, a connection error) open it. Open, requests
get 503 at once, without a call, until a 1 s cooldown has passed; then exactly one request
goes through as a probe while the others still get 503. The probe's success closes the
breaker, its failure opens it for another cooldown.

Every call carries the breaker's generation: a result that arrives after the state changed
(a slow call that started while closed finishing after the breaker opened) changes nothing.
"""

import http.client
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

PORT = int(os.environ.get("PORT", "3000"))
DOWNSTREAM = urlsplit(os.environ.get("DOWNSTREAM_URL", "http://downstream:8070"))

DOWNSTREAM_TIMEOUT = 0.5  # seconds; the contract: 504 when the downstream is slower
FAILURE_THRESHOLD = 5  # consecutive failures that open the breaker
COOLDOWN = 1.0  # seconds the breaker stays open before a probe
MAX_BODY = 1 << 20

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    """A consecutive-failure circuit breaker, safe for concurrent use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0  # consecutive failures while closed
        self._opened_at = 0.0  # time.monotonic() when it last opened
        self._generation = 0  # bumped on every state change

    def allow(self):
        """Returns (ticket, wait): a ticket to call the downstream with, or None and the
        seconds until a probe may be tried."""
        with self._lock:
            if self._state == CLOSED:
                return (self._generation, False), 0.0
            if self._state == OPEN:
                elapsed = time.monotonic() - self._opened_at
                if elapsed < COOLDOWN:
                    return None, COOLDOWN - elapsed
                self._state = HALF_OPEN
                self._generation += 1
                return (self._generation, True), 0.0
            return None, COOLDOWN  # half-open: the probe is in flight

    def record(self, ticket, success):
        generation, probe = ticket
        with self._lock:
            if generation != self._generation:
                return  # the state changed while this call ran
            if success:
                if probe:
                    self._state = CLOSED
                    self._generation += 1
                self._failures = 0
            elif probe:
                self._trip()
            else:
                self._failures += 1
                if self._failures >= FAILURE_THRESHOLD:
                    self._trip()

    def _trip(self):
        self._state, self._failures = OPEN, 0
        self._opened_at = time.monotonic()
        self._generation += 1


BREAKER = Breaker()


class DownstreamError(Exception):
    """The downstream answered 5xx, or the connection to it failed."""


def call_downstream(symbol):
    """Makes the one downstream call of a request within DOWNSTREAM_TIMEOUT. Returns
    (status, body); raises TimeoutError or DownstreamError. A fresh connection per call: one
    abandoned at its deadline is closed, never reused."""
    deadline = time.monotonic() + DOWNSTREAM_TIMEOUT

    def remaining():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left

    conn = http.client.HTTPConnection(DOWNSTREAM.hostname, DOWNSTREAM.port or 80, timeout=remaining())
    try:
        conn.connect()
        conn.sock.settimeout(remaining())
        conn.request("GET", "/quote?symbol=" + quote(symbol, safe=""))
        conn.sock.settimeout(remaining())
        resp = conn.getresponse()
        conn.sock.settimeout(remaining())
        body = resp.read(MAX_BODY)
    except (TimeoutError, socket.timeout):
        raise TimeoutError("no answer within the deadline") from None
    except (OSError, http.client.HTTPException) as e:
        raise DownstreamError(str(e)) from e
    finally:
        conn.close()
    if resp.status >= 500:
        raise DownstreamError(f"downstream answered {resp.status}")
    return resp.status, body


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open; every response carries Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK, about 40 ms on every answer.
    disable_nagle_algorithm = True

    def do_GET(self):
        self.read_body()
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif url.path == "/api/quote":
            self.quote(parse_qs(url.query).get("symbol", [""])[0])
        else:
            self.send_json(404, {"error": "not found"})

    def quote(self, symbol):
        if not symbol:
            self.send_json(400, {"error": "symbol is required"})
            return
        ticket, wait = BREAKER.allow()
        if ticket is None:
            retry_after = max(1, math.ceil(wait))
            self.send_json(503, {"error": "circuit open: the quote service is failing"},
                           {"Retry-After": str(retry_after)})
            return
        try:
            status, body = call_downstream(symbol)
        except TimeoutError:
            BREAKER.record(ticket, False)
            self.send_json(504, {"error": "the quote service did not answer in time"})
            return
        except DownstreamError as e:
            BREAKER.record(ticket, False)
            print(f"quote {symbol}: {e}", file=sys.stderr)
            self.send_json(502, {"error": "the quote service failed"})
            return
        BREAKER.record(ticket, True)
        self.send_raw(status, body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj, headers=None):
        self.send_raw(status, json.dumps(obj).encode(), headers)

    def send_raw(self, status, data, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass  # one line per request would drown the log


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # bursts of 20: the default backlog of 5 would drop connections

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} (downstream {DOWNSTREAM.geturl()})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
