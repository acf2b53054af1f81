"""Reference solution of the flash-sale challenge, in Python (standard library + psycopg2).

Postgres is the only shared state, so both replicas see one stock counter. An order is one
transaction: claim the order_id (INSERT ... ON CONFLICT DO NOTHING), then take the units
with a conditional UPDATE (... WHERE stock >= quantity), which Postgres re-checks after
waiting for the row lock: concurrent buyers never oversell and never get a false sold-out.
A retried order_id finds its claim and gets the stored order back, even when it took the
last unit.
"""

import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import psycopg2
import psycopg2.errors

PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")

MAX_STOCK = 1_000_000
MAX_QUANTITY = 100
MAX_ORDER_ID = 128
MAX_BODY = 64 << 10
POOL_SIZE = 16  # a burst of buyers reaches the database at once; the row lock serialises them
SKU = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Both replicas run this at start-up at the same moment; the advisory lock keeps two
# CREATE TABLE IF NOT EXISTS from racing on the catalog.
SCHEMA = """
SELECT pg_advisory_xact_lock(727274);
CREATE TABLE IF NOT EXISTS items (
    sku   text PRIMARY KEY,
    stock integer NOT NULL CHECK (stock >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
    order_id   text PRIMARY KEY,
    sku        text NOT NULL,
    quantity   integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


class Unavailable(Exception):
    """The database could not be reached or failed: answer 503."""


class Pool:
    """At most POOL_SIZE connections, opened on demand. A connection that failed is closed
    instead of being reused, so the service recovers by itself when the database is back."""

    def __init__(self, size):
        self.slots = threading.BoundedSemaphore(size)
        self.idle = []
        self.lock = threading.Lock()

    def run(self, fn):
        """Runs fn(conn) in one transaction and commits; rolls back if fn raises."""
        if not self.slots.acquire(timeout=5):
            raise Unavailable("no database connection free")
        conn = None
        try:
            with self.lock:
                conn = self.idle.pop() if self.idle else None
            if conn is None or conn.closed:
                conn = psycopg2.connect(DATABASE_URL, connect_timeout=3,
                                        options="-c statement_timeout=5000")
            try:
                result = fn(conn)
                conn.commit()
            except BaseException:
                if not conn.closed:
                    conn.rollback()
                raise
            with self.lock:
                self.idle.append(conn)
            conn = None
            return result
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            raise Unavailable(str(e).strip()) from e
        finally:
            if conn is not None and not conn.closed:
                try:
                    conn.rollback()
                    with self.lock:
                        self.idle.append(conn)
                except psycopg2.Error:
                    conn.close()
            self.slots.release()


pool = Pool(POOL_SIZE)


class Refused(Exception):
    """Ends an order's transaction without taking anything (rolled back)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def migrate(timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            pool.run(lambda conn: conn.cursor().execute(SCHEMA))
            return
        except (Unavailable, psycopg2.Error) as e:
            if time.monotonic() >= deadline:
                raise
            print(f"database not ready, retrying: {e}".strip(), file=sys.stderr, flush=True)
            time.sleep(1)


def integer(value, lo, hi):
    """A JSON integer (not a bool, a fraction or a string) within [lo, hi], else None."""
    if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
        return value
    return None


def order_json(order_id, sku, quantity):
    return {"order_id": order_id, "sku": sku, "quantity": quantity, "status": "confirmed"}


def put_item(sku, stock):
    def tx(conn):
        cur = conn.cursor()
        cur.execute("""INSERT INTO items (sku, stock) VALUES (%s, %s)
                       ON CONFLICT (sku) DO UPDATE SET stock = excluded.stock
                       RETURNING xmax = 0""", (sku, stock))
        return cur.fetchone()[0]
    inserted = pool.run(tx)
    return (201 if inserted else 200), {"sku": sku, "stock": stock}


def get_item(sku):
    def tx(conn):
        cur = conn.cursor()
        cur.execute("SELECT stock FROM items WHERE sku = %s", (sku,))
        return cur.fetchone()
    row = pool.run(tx)
    if row is None:
        return 404, {"error": "unknown_sku"}
    return 200, {"sku": sku, "stock": row[0]}


def create_order(order_id, sku, quantity):
    def tx(conn):
        cur = conn.cursor()
        cur.execute("""INSERT INTO orders (order_id, sku, quantity) VALUES (%s, %s, %s)
                       ON CONFLICT (order_id) DO NOTHING""", (order_id, sku, quantity))
        if cur.rowcount == 0:
            # A retry: the INSERT waited for the first attempt to commit or roll back, so
            # the order found here is final.
            cur.execute("SELECT sku, quantity FROM orders WHERE order_id = %s", (order_id,))
            prev_sku, prev_qty = cur.fetchone()
            if (prev_sku, prev_qty) != (sku, quantity):
                return 422, {"error": "order_id was already used for a different sku or quantity"}
            return 200, order_json(order_id, prev_sku, prev_qty)
        # A plain read first: an item already sold out is refused without queueing for the
        # row lock behind the buyers who hold it.
        cur.execute("SELECT stock FROM items WHERE sku = %s", (sku,))
        row = cur.fetchone()
        if row is None:
            raise Refused(404, "unknown_sku")
        if row[0] < quantity:
            raise Refused(409, "sold_out")
        # The conditional UPDATE is the last statement before COMMIT: it decides, and the
        # row lock it takes is held only until the transaction ends.
        cur.execute("""UPDATE items SET stock = stock - %s
                       WHERE sku = %s AND stock >= %s RETURNING stock""", (quantity, sku, quantity))
        if cur.fetchone() is None:
            raise Refused(409, "sold_out")
        return 201, order_json(order_id, sku, quantity)
    try:
        return pool.run(tx)
    except Refused as r:
        return r.status, {"error": r.message}


def get_order(order_id):
    def tx(conn):
        cur = conn.cursor()
        cur.execute("SELECT sku, quantity FROM orders WHERE order_id = %s", (order_id,))
        return cur.fetchone()
    row = pool.run(tx)
    if row is None:
        return 404, {"error": "order not found"}
    return 200, order_json(order_id, row[0], row[1])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass  # one line per request would drown the log during a sale

    def do_GET(self):
        self.read_body()
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            return self.send_json(200, {"status": "ok"})
        parts = path.split("/")
        if len(parts) == 4 and parts[:3] == ["", "api", "items"] and parts[3]:
            return self.answer(lambda: get_item(unquote(parts[3])))
        if len(parts) == 4 and parts[:3] == ["", "api", "orders"] and parts[3]:
            return self.answer(lambda: get_order(unquote(parts[3])))
        self.send_json(404, {"error": "not found"})

    def do_PUT(self):
        body = self.read_body()
        parts = self.path.split("?", 1)[0].split("/")
        if not (len(parts) == 4 and parts[:3] == ["", "api", "items"]):
            return self.send_json(404, {"error": "not found"})
        sku = unquote(parts[3])
        if not SKU.match(sku):
            return self.send_json(400, {"error": "sku must be 1 to 64 letters, digits, '-' or '_'"})
        fields = self.json_object(body)
        stock = integer(fields.get("stock"), 0, MAX_STOCK) if fields is not None else None
        if stock is None:
            return self.send_json(400, {"error": f"want {{\"stock\": an integer from 0 to {MAX_STOCK}}}"})
        self.answer(lambda: put_item(sku, stock))

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?", 1)[0] != "/api/orders":
            return self.send_json(404, {"error": "not found"})
        fields = self.json_object(body) or {}
        order_id, sku = fields.get("order_id"), fields.get("sku")
        quantity = integer(fields.get("quantity"), 1, MAX_QUANTITY)
        if (not isinstance(order_id, str) or not 1 <= len(order_id) <= MAX_ORDER_ID
                or not isinstance(sku, str) or not sku or quantity is None):
            return self.send_json(400, {"error": "want {\"order_id\": 1 to 128 characters, \"sku\": a string, \"quantity\": an integer from 1 to 100}"})
        self.answer(lambda: create_order(order_id, sku, quantity))

    def answer(self, fn):
        try:
            status, obj = fn()
        except (Unavailable, psycopg2.Error) as e:
            print(f"database: {e}".strip(), file=sys.stderr, flush=True)
            status, obj = 503, {"error": "database unavailable, retry later"}
        self.send_json(status, obj)

    def json_object(self, body):
        try:
            value = json.loads(body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of buyers connects at once

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    if not DATABASE_URL:
        sys.exit("DATABASE_URL is not set")
    migrate()
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"ready on 0.0.0.0:{PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
