"""distributed-lock: the run is a *plan* — a generator that yields effects (write a step, sleep,
check the fence) — and a small interpreter executes it. The interpreter owns every side
effect and the lock's lifetime, so "stop at the first refused write" and "always release"
live in one place. The lock, the fencing token and the compare-and-delete release are three
Lua scripts, each one atomic in Redis.
"""

import http.client
import json
import os
import signal
import socket
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import redis

PORT = int(os.environ.get("PORT", "3000"))
INSTANCE_ID = os.environ.get("INSTANCE_ID", "app")
STORE = urlsplit(os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/"))
STORE_PATH = (STORE.path or "") + "/fenced/report"

LOCK_KEY = "report:lock"
TOKEN_KEY = "report:fencing-token"
LEASE_MS = 2000
STEP_PAUSE = 0.25
STORE_DEADLINE = 1.0

REDIS = redis.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://redis:6379/0"), socket_timeout=1, socket_connect_timeout=1
)

# Lock + token in one atomic step: the token exists only if the lock was taken.
ACQUIRE = REDIS.register_script(
    """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""
)
# Still ours? (the fence check before each write)
HOLDS = REDIS.register_script("return redis.call('GET', KEYS[1]) == ARGV[1] and 1 or 0")
# Compare-and-delete.
RELEASE = REDIS.register_script(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)


class LostLock(Exception):
    pass


class StoreFailed(Exception):
    pass


# ---- the plan: pure, no I/O ---------------------------------------------------------------
def report_plan():
    for step in (1, 2, 3, 4, 5):
        yield ("fence",)
        yield ("write", step)
        if step < 5:
            yield ("sleep", STEP_PAUSE)


# ---- the interpreter --------------------------------------------------------------------------
def store_write(token, step):
    body = json.dumps({"step": step}).encode()
    conn_cls = http.client.HTTPSConnection if STORE.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(STORE.hostname, STORE.port, timeout=STORE_DEADLINE)
    deadline = time.monotonic() + STORE_DEADLINE
    try:
        conn.request(
            "POST",
            STORE_PATH,
            body=body,
            headers={
                "Content-Type": "application/json",
                "Fencing-Token": str(token),
                "X-Instance-Id": INSTANCE_ID,
            },
        )
        if conn.sock is not None:
            conn.sock.settimeout(max(0.01, deadline - time.monotonic()))
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException) as e:
        raise StoreFailed(str(e)) from e
    finally:
        conn.close()


def execute(plan, token, owner):
    for effect in plan:
        kind = effect[0]
        if kind == "fence":
            if HOLDS(keys=[LOCK_KEY], args=[owner]) != 1:
                raise LostLock()
        elif kind == "write":
            status = store_write(token, effect[1])
            if status == 409:
                raise LostLock()
            if status != 200:
                raise StoreFailed(f"store answered {status}")
        elif kind == "sleep":
            time.sleep(effect[1])


def run_report():
    """Returns (status, body)."""
    owner = f"{INSTANCE_ID}:{uuid.uuid4()}"
    try:
        token = ACQUIRE(keys=[LOCK_KEY, TOKEN_KEY], args=[owner, LEASE_MS])
    except redis.RedisError:
        return 503, {"ran": False}
    if token is None:
        return 409, {"ran": False}
    token = int(token)
    try:
        execute(report_plan(), token, owner)
        result = (200, {"ran": True, "token": token})
    except LostLock:
        result = (409, {"ran": False, "token": token})
    except StoreFailed:
        # The store is down: the lease frees the lock for the next run.
        return 502, {"ran": False, "token": token}
    except redis.RedisError:
        return 503, {"ran": False, "token": token}
    try:
        RELEASE(keys=[LOCK_KEY], args=[owner])
    except redis.RedisError:
        pass  # the lease frees it
    return result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.read_body()
        if self.path.split("?", 1)[0] == "/healthz":
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        self.read_body()
        if self.path.split("?", 1)[0] == "/api/report/run":
            status, body = run_report()
            self.send_json(status, body)
        else:
            self.send_json(404, {"error": "not found"})

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"{INSTANCE_ID} listening on 0.0.0.0:{PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
