"""Python reference solution of the cache-stampede challenge, in the stale-while-revalidate style.

GET /api/products/<id> reads through a Redis cache shared by every replica. Each entry holds the
origin's version and when it was fetched; it is fresh for 2 s, and Redis drops it after 4 s.

- Fresh: answered from the cache.
- Stale (2-4 s old): answered from the cache at once, while one refresh runs in the background.
  The refresh takes the product's lock in Redis (SET NX PX), so one replica at most refreshes.
- Missing (never fetched, flushed or older than 4 s): the threads of this process that want it
  share one fill; the fills of different replicas race for the same lock. The winner checks the
  cache again, calls the origin and stores the value before releasing the lock; the others poll
  the cache every 25 ms, taking the lock themselves if it is released with no value, for at
  most 2.5 s (then 503).

The lock expires after 5 s by itself, so a holder that dies cannot wedge the product; a failed
fill releases it at once and caches nothing. Only the standard library and redis-py are used.
"""

import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

PORT = int(os.environ.get("PORT", "3000"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")
ORIGIN = os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/")

FRESH = 2.0  # the contract: fresh for 2 s after the fetch
MAX_AGE = 4.0  # the contract: never served more than 4 s after the fetch
LOCK_TTL_MS = 5000  # longer than a fill can take: only a dead holder's lock expires
ORIGIN_TIMEOUT = 2.0  # the contract: 504 after 2 s
WAIT_LIMIT = 2.5  # the contract: 503 after waiting 2.5 s for another fill
POLL = 0.025

VALID_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

rdb = redis.Redis.from_url(REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
# Deletes the lock only if we still own it: after an expiry someone else may.
release = rdb.register_script(
    'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0'
)


def cache_key(pid):
    return "product:" + pid


def lock_key(pid):
    return "lock:product:" + pid


class OriginError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def fetch(pid):
    """Calls the origin once; returns its version or raises OriginError (502 or 504)."""
    url = ORIGIN + "/products/" + urllib.parse.quote(pid, safe="")
    try:
        with urllib.request.urlopen(url, timeout=ORIGIN_TIMEOUT) as resp:
            body = json.loads(resp.read(65536))
    except urllib.error.HTTPError as e:
        raise OriginError(502, f"origin answered {e.code}") from None
    except (TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(e, TimeoutError) or isinstance(reason, TimeoutError):
            raise OriginError(504, "origin did not answer within 2 s") from None
        raise OriginError(502, f"origin unreachable: {reason}") from None
    except ValueError:
        raise OriginError(502, "origin answered something that is not JSON") from None
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, int) or version <= 0:
        raise OriginError(502, "origin answered without a version")
    return version


def read_cache(pid):
    """Returns (version, age in seconds) or None. Raises redis.RedisError."""
    raw = rdb.get(cache_key(pid))
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        return int(entry["version"]), time.time() - float(entry["fetched_at"])
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: a miss, overwritten by the next fill


def store(pid, version, fetched_at):
    data = json.dumps({"version": version, "fetched_at": fetched_at})
    # Redis drops the entry when it may no longer be served, even stale.
    ttl_ms = int((fetched_at + MAX_AGE - time.time()) * 1000)
    if ttl_ms > 0:
        rdb.set(cache_key(pid), data, px=ttl_ms)


def fetch_and_store(pid, token):
    """Runs while holding the lock: checks again, fetches, stores, then releases the lock."""
    try:
        hit = read_cache(pid)
        if hit is not None and hit[1] < FRESH:
            return hit[0]
        version = fetch(pid)
        store(pid, version, time.time())
        return version
    finally:
        try:
            release(keys=[lock_key(pid)], args=[token])
        except redis.RedisError as e:
            print(f"release lock for {pid}: {e} (it expires by itself)", file=sys.stderr)


def fill(pid):
    """Waits for the value or takes the lock and fetches it. Returns (status, body)."""
    deadline = time.monotonic() + WAIT_LIMIT
    token = uuid.uuid4().hex
    while True:
        try:
            hit = read_cache(pid)
            if hit is not None and hit[1] < MAX_AGE:
                return 200, {"id": pid, "version": hit[0]}
            won = rdb.set(lock_key(pid), token, nx=True, px=LOCK_TTL_MS)
        except redis.RedisError as e:
            # Redis is unreachable: serve from the origin; this process still fetches one
            # product once at a time.
            print(f"redis: {e}; reading {pid} from the origin", file=sys.stderr)
            try:
                return 200, {"id": pid, "version": fetch(pid)}
            except OriginError as oe:
                return oe.status, {"error": str(oe)}
        if won:
            try:
                return 200, {"id": pid, "version": fetch_and_store(pid, token)}
            except OriginError as oe:
                return oe.status, {"error": str(oe)}  # nothing cached: the next request tries again
            except redis.RedisError as e:
                return 503, {"error": f"cache unavailable: {e}"}
        if time.monotonic() + POLL > deadline:
            return 503, {"error": "timed out waiting for the cache to be filled"}
        time.sleep(POLL)


class Flight:
    """One fill that every thread of this process asking for the same product waits on."""

    def __init__(self):
        self.done = threading.Event()
        self.result = (503, {"error": "fill did not finish"})


flights = {}
flights_lock = threading.Lock()
refreshing = set()  # products this process is refreshing in the background


def coalesced_fill(pid):
    with flights_lock:
        flight = flights.get(pid)
        leader = flight is None
        if leader:
            flight = flights[pid] = Flight()
    if leader:
        try:
            flight.result = fill(pid)
        finally:
            with flights_lock:
                del flights[pid]
            flight.done.set()
    elif not flight.done.wait(WAIT_LIMIT + ORIGIN_TIMEOUT + 0.5):
        return 503, {"error": "timed out waiting for the cache to be filled"}
    return flight.result


def refresh_in_background(pid):
    """Starts one refresh of a stale product, unless one runs here or in another replica."""
    with flights_lock:
        if pid in refreshing:
            return
        refreshing.add(pid)
    token = uuid.uuid4().hex
    try:
        won = rdb.set(lock_key(pid), token, nx=True, px=LOCK_TTL_MS)
    except redis.RedisError:
        won = False
    if not won:
        with flights_lock:
            refreshing.discard(pid)
        return

    def run():
        try:
            fetch_and_store(pid, token)
        except (OriginError, redis.RedisError) as e:
            print(f"refresh {pid}: {e}; serving the stale value meanwhile", file=sys.stderr)
        finally:
            with flights_lock:
                refreshing.discard(pid)

    threading.Thread(target=run, daemon=True).start()


def get_product(pid):
    try:
        hit = read_cache(pid)
    except redis.RedisError:
        hit = None
    if hit is not None:
        version, age = hit
        if age < FRESH:
            return 200, {"id": pid, "version": version}
        if age < MAX_AGE:
            refresh_in_background(pid)
            return 200, {"id": pid, "version": version}
    return coalesced_fill(pid)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Send small responses at once: with Nagle's algorithm on, http.server's separate header
    # and body writes wait for the client's delayed ACK (~40 ms per answer).
    disable_nagle_algorithm = True

    def do_GET(self):
        self.read_body()
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif path.startswith("/api/products/"):
            pid = urllib.parse.unquote(path.removeprefix("/api/products/"))
            if not VALID_ID.match(pid):
                self.send_json(400, {"error": "id must be 1-64 letters, digits, - or _"})
            else:
                self.send_json(*get_product(pid))
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

    def log_message(self, format, *args):
        pass  # one line per request would drown the log under load


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops connections when 60 clients connect at once; a dropped
    # SYN is retried after a second, which would count as latency.
    request_queue_size = 256

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
