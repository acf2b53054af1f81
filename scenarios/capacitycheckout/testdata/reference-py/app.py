"""The Python reference of the capacity-checkout challenge, built from the Python starter.

POST /checkout holds one of at most 8 Postgres connections (a pool of 8 psycopg2 connections,
all opened at start, in a queue) for the whole order: it inserts the order, charges the
provider and marks the order paid in one transaction, so an order is never left half-written.
The pool is what saturates first: 8 connections / the provider's 100 ms is about 80
checkouts/s. A request waits at most 300 ms for a connection; past that it is answered 503
with Retry-After, so overload is shed at once instead of queued. A provider failure is
answered 502 without retrying: a retry is the caller's to make. One thread per HTTP
connection (ThreadingHTTPServer); the threads share the pool, the Redis client and nothing
else.
"""

import http.client
import json
import os
import queue
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import psycopg2
import redis

PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
PROVIDER = urlsplit(os.environ.get("PROVIDER_URL", "http://provider:8080").rstrip("/"))

POOL_SIZE = 8           # the brief's cap on Postgres connections
ACQUIRE_WAIT = 0.3      # seconds a checkout queues for a connection
PROVIDER_TIMEOUT = 1.0  # one charge request
STATEMENT_TIMEOUT_MS = 2000

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id         text PRIMARY KEY,
    sku        text NOT NULL,
    quantity   int NOT NULL,
    amount     bigint NOT NULL,
    status     text NOT NULL,
    charge_id  text,
    created_at timestamptz NOT NULL DEFAULT now()
)"""

rdb = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0"),
                           socket_timeout=0.5, socket_connect_timeout=0.5)


def connect(timeout=30.0):
    """Opens a Postgres connection, retrying for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg2.connect(DATABASE_URL, connect_timeout=3,
                                    options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
        except psycopg2.OperationalError as e:
            if time.monotonic() >= deadline:
                raise
            print(f"database not reachable yet: {e}".strip(), file=sys.stderr)
            time.sleep(1)


class Pool:
    """At most `size` connections. Each slot of the queue is a connection, or None for one to
    open when taken (a connection dropped after an error is reopened by its next user, not
    kept broken)."""

    def __init__(self, size):
        self.slots = queue.LifoQueue(maxsize=size)
        for _ in range(size):
            self.slots.put(connect())

    def take(self, wait):
        """A connection, or None when none came free within `wait` seconds."""
        try:
            conn = self.slots.get(timeout=wait)
        except queue.Empty:
            return None
        if conn is None:
            try:
                conn = connect(timeout=2.0)
            except psycopg2.Error:
                self.slots.put(None)
                raise
        return conn

    def give(self, conn, broken=False):
        if broken:
            try:
                conn.close()
            except psycopg2.Error:
                pass
            conn = None
        self.slots.put(conn)


pool = None  # set in main, once every connection is open
provider_conns = threading.local()  # one keep-alive connection to the provider per thread


class Overloaded(Exception):
    pass


def charge(order_id, amount):
    """Asks the provider once, with the order id as its idempotency key; raises on anything
    but a 2xx within PROVIDER_TIMEOUT."""
    body = json.dumps({"amount": amount, "currency": "usd", "payment_id": order_id})
    conn = getattr(provider_conns, "conn", None)
    if conn is None:
        conn = http.client.HTTPConnection(PROVIDER.hostname, PROVIDER.port or 80, timeout=PROVIDER_TIMEOUT)
        provider_conns.conn = conn
    try:
        conn.request("POST", PROVIDER.path + "/v1/charges", body=body,
                     headers={"Content-Type": "application/json", "Idempotency-Key": order_id})
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        provider_conns.conn = None
        raise
    if resp.status // 100 != 2:
        raise RuntimeError(f"provider answered {resp.status}")
    charge_id = json.loads(data).get("id")
    if not isinstance(charge_id, str):
        raise RuntimeError("provider answer has no id")
    return charge_id


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self.read_body()
        if urlsplit(self.path).path == "/healthz":
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if urlsplit(self.path).path == "/checkout":
            self.checkout(body)
        else:
            self.send_json(404, {"error": "not found"})

    def checkout(self, body):
        try:
            req = json.loads(body)
            sku, quantity = req.get("sku"), req.get("quantity")
        except (ValueError, AttributeError):
            return self.send_json(400, {"error": "body must be JSON {sku, quantity}"})
        if (not isinstance(sku, str) or not 1 <= len(sku) <= 64 or isinstance(quantity, bool)
                or not isinstance(quantity, int) or not 1 <= quantity <= 100):
            return self.send_json(400, {"error": "sku (1-64 characters) and quantity (1-100) are required"})
        # Queue for a connection briefly: past ACQUIRE_WAIT the pool is saturated, and waiting
        # longer only builds a backlog that outlives the overload. The connection comes first,
        # before the price: a checkout shed at twice the knee then costs the one CPU this
        # service gets nothing but its HTTP parsing (Python spends more per request than Go).
        try:
            conn = pool.take(ACQUIRE_WAIT)
        except psycopg2.Error as e:
            print(f"connect: {e}".strip(), file=sys.stderr)
            return self.send_json(503, {"error": "database unavailable"}, {"Retry-After": "1"})
        if conn is None:
            return self.send_json(503, {"error": "overloaded: try again shortly"}, {"Retry-After": "1"})
        order_id = "ord_" + secrets.token_hex(12)
        broken = False
        try:
            try:
                price = rdb.get("price:" + sku)
            except redis.RedisError as e:
                print(f"price of {sku}: {e}", file=sys.stderr)
                return self.send_json(503, {"error": "prices unavailable"}, {"Retry-After": "1"})
            if price is None:
                return self.send_json(404, {"error": "unknown sku"})
            amount = int(price) * quantity
            with conn.cursor() as cur:
                cur.execute("INSERT INTO orders (id, sku, quantity, amount, status) VALUES (%s, %s, %s, %s, 'pending')",
                            (order_id, sku, quantity, amount))
                try:
                    charge_id = charge(order_id, amount)
                except Exception as e:  # noqa: BLE001 - any failure of the charge is a 502
                    print(f"charge {order_id}: {e}", file=sys.stderr)
                    conn.rollback()
                    return self.send_json(502, {"error": "payment provider failed"})
                cur.execute("UPDATE orders SET status = 'paid', charge_id = %s WHERE id = %s", (charge_id, order_id))
            conn.commit()
        except psycopg2.Error as e:
            # The connection may be mid-transaction or dead: drop it, its slot reopens one.
            broken = True
            print(f"order {order_id}: {e}".strip(), file=sys.stderr)
            return self.send_json(503, {"error": "database unavailable"}, {"Retry-After": "1"})
        finally:
            pool.give(conn, broken)
        self.send_json(201, {"order_id": order_id, "amount": amount, "status": "paid"})

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

    def log_message(self, format, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    global pool
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    conn = connect()
    with conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
    conn.close()
    # Every connection opened before serving: one opened under load makes its checkout wait.
    pool = Pool(POOL_SIZE)
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
