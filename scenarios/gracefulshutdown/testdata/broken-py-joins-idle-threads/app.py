"""graceful-shutdown, written around two unusual choices:

1. The transfer is ONE round trip: a single simple-query string
   `BEGIN; INSERT transfer; INSERT debit; SELECT pg_sleep(work); INSERT credit; COMMIT`
   executed by Postgres as one transaction. The wait happens inside the database, and the
   session runs with `client_connection_check_interval`, so if this process is SIGKILLed
   mid-wait, Postgres notices the dead client within 100 ms and rolls the whole thing back.
2. No signal handler: SIGTERM/SIGINT are blocked in every thread and the main thread
   *synchronously* `sigwait`s for them, then drives a small lifecycle object
   (serving -> draining -> stopped) whose condition variable counts requests in flight.
"""

import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.errors
import psycopg2.pool

PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ADMIT_GRACE = 0.3  # requests parsed this soon after SIGTERM most likely arrived before it
DRAIN_LIMIT = 5.0

SCHEMA = """
SELECT pg_advisory_xact_lock(4242001);
CREATE TABLE IF NOT EXISTS transfers (
  id           text PRIMARY KEY,
  from_account text NOT NULL,
  to_account   text NOT NULL,
  amount       bigint NOT NULL CHECK (amount > 0),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ledger (
  id          bigserial PRIMARY KEY,
  transfer_id text NOT NULL REFERENCES transfers (id),
  account     text NOT NULL,
  amount      bigint NOT NULL
);
"""

TRANSFER_SQL = """
BEGIN;
INSERT INTO transfers (id, from_account, to_account, amount) VALUES (%(id)s, %(from)s, %(to)s, %(amount)s);
INSERT INTO ledger (transfer_id, account, amount) VALUES (%(id)s, %(from)s, -%(amount)s);
SELECT pg_sleep(%(work_s)s);
INSERT INTO ledger (transfer_id, account, amount) VALUES (%(id)s, %(to)s, %(amount)s);
COMMIT;
"""

SESSION_SETUP = "SET client_connection_check_interval = '100ms'"


class Lifecycle:
    def __init__(self):
        self.cv = threading.Condition()
        self.inflight = 0
        self.drain_at = None  # monotonic time of SIGTERM

    @property
    def draining(self):
        return self.drain_at is not None

    def admit(self, new_work):
        """Counts a request in; new work is refused once the grace after SIGTERM is over."""
        with self.cv:
            if new_work and self.drain_at is not None and time.monotonic() - self.drain_at >= ADMIT_GRACE:
                return False
            self.inflight += 1
            return True

    def done(self):
        with self.cv:
            self.inflight -= 1
            self.cv.notify_all()

    def begin_drain(self):
        with self.cv:
            self.drain_at = time.monotonic()
            self.cv.notify_all()

    def wait_drained(self):
        deadline = self.drain_at + DRAIN_LIMIT
        with self.cv:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return False
                if self.inflight == 0 and now >= self.drain_at + ADMIT_GRACE:
                    return True
                self.cv.wait(min(0.05, deadline - now))


LIFE = Lifecycle()
POOL = None
READY = set()  # pooled connections whose session is set up


def connect_pool():
    deadline = time.monotonic() + 30
    while True:
        try:
            return psycopg2.pool.ThreadedConnectionPool(1, 16, DATABASE_URL, connect_timeout=3)
        except psycopg2.OperationalError as e:
            if time.monotonic() >= deadline:
                raise
            print(f"database not reachable yet: {e}".strip(), file=sys.stderr)
            time.sleep(1)


class Conn:
    """Borrow a pooled connection in autocommit mode; a broken one is thrown away."""

    def __enter__(self):
        self.c = POOL.getconn()
        if self.c not in READY:
            self.c.autocommit = True
            try:
                with self.c.cursor() as cur:
                    cur.execute(SESSION_SETUP)
            except psycopg2.Error as e:  # before PostgreSQL 14: no such setting
                print(f"session setup: {e}".strip(), file=sys.stderr)
            READY.add(self.c)
        return self.c

    def __exit__(self, et, e, tb):
        broken = self.c.closed or isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError))
        if not broken and et is not None:
            try:
                self.c.rollback() if not self.c.autocommit else self.c.cursor().execute("ROLLBACK")
            except psycopg2.Error:
                broken = True
        if broken:
            READY.discard(self.c)
        POOL.putconn(self.c, close=broken)
        return False


def setup_schema():
    with Conn() as c, c.cursor() as cur:
        cur.execute("BEGIN;" + SCHEMA + "COMMIT;")


def validate(body):
    try:
        t = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(t, dict):
        return None
    for k in ("id", "from", "to"):
        if not isinstance(t.get(k), str) or not NAME_RE.fullmatch(t[k]):
            return None
    if t["from"] == t["to"]:
        return None
    amount = t.get("amount")
    if type(amount) is not int or not 1 <= amount <= 1_000_000_000:
        return None
    work = t.get("work_ms", 0)
    if work is None:
        work = 0
    if type(work) is not int or not 0 <= work <= 3000:
        return None
    return {"id": t["id"], "from": t["from"], "to": t["to"], "amount": amount, "work_s": work / 1000.0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.read_body()
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            return self.send_json(200, {"status": "ok"})
        if path == "/readyz":
            if LIFE.draining:
                return self.send_json(503, {"error": "shutting down"})
            return self.send_json(200, {"status": "ready"})
        if path.startswith("/api/transfers/") and "/" not in path[len("/api/transfers/"):]:
            if not LIFE.admit(new_work=False):
                return self.send_json(503, {"error": "shutting down"})
            try:
                return self.get_transfer(path[len("/api/transfers/"):])
            finally:
                LIFE.done()
        self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?", 1)[0] != "/api/transfers":
            return self.send_json(404, {"error": "not found"})
        if not LIFE.admit(new_work=True):
            return self.send_json(503, {"error": "shutting down"})
        try:
            self.create_transfer(body)
        finally:
            LIFE.done()

    def create_transfer(self, body):
        t = validate(body)
        if t is None:
            return self.send_json(400, {"error": "invalid transfer"})
        try:
            with Conn() as c, c.cursor() as cur:
                cur.execute(TRANSFER_SQL, t)
        except psycopg2.errors.UniqueViolation:
            return self.send_json(409, {"error": "transfer exists"})
        except psycopg2.Error as e:
            print(f"transfer {t['id']}: {e}".strip(), file=sys.stderr)
            return self.send_json(500, {"error": "database error"})
        self.send_json(201, {"id": t["id"], "from": t["from"], "to": t["to"], "amount": t["amount"]})

    def get_transfer(self, tid):
        with Conn() as c, c.cursor() as cur:
            cur.execute("SELECT id, from_account, to_account, amount FROM transfers WHERE id = %s", (tid,))
            row = cur.fetchone()
        if row is None:
            return self.send_json(404, {"error": "no such transfer"})
        self.send_json(200, {"id": row[0], "from": row[1], "to": row[2], "amount": row[3]})

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if LIFE.draining:
            # P11: end busy kept-alive connections after this request.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = False  # let every request thread finish before the process exits
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    global POOL
    stop = {signal.SIGTERM, signal.SIGINT}
    # Block before any thread exists: every thread inherits the mask, so only sigwait sees them.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    POOL = connect_pool()
    setup_schema()
    server = Server(("0.0.0.0", PORT), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    print(f"listening on 0.0.0.0:{PORT}", flush=True)

    signal.sigwait(stop)
    LIFE.begin_drain()  # readyz flips now; new transfers refused after the grace
    drained = LIFE.wait_drained()
    print(f"drained={drained}, exiting", flush=True)
    server.shutdown()
    server.server_close()
    POOL.closeall()
    sys.exit(0)


if __name__ == "__main__":
    main()
