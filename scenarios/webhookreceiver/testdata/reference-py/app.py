"""The reference solution of the webhook-receiver challenge, in Python.

POST /webhooks verifies the signature over the raw body (hmac.compare_digest) and the
timestamp, then inserts the event into an inbox table keyed by its id (ON CONFLICT DO NOTHING:
a duplicate, concurrent or on the other replica, is stored once) and answers 202. Worker
threads take due events with FOR UPDATE SKIP LOCKED and apply each inside that transaction: a
credit is one call; a balance update first locks the account's row and is skipped unless its
version is above the account's applied one. On a 2xx the event's done mark (and the account's
version) commit; on a failure the next attempt is pushed back (100 ms doubling to 1 s). A
worker killed mid-call loses its connection, and Postgres releases its locks with it.
"""

import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.pool

PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DOWNSTREAM_URL = os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/")
SECRET = b"holdfast-webhook-secret"
TOLERANCE = 300  # seconds
WORKERS = 4
CALL_TIMEOUT = 5.0
IDLE_POLL = 0.2
FIRST_BACKOFF_MS = 100
MAX_BACKOFF_MS = 1000
CREDITED = "account.credited"
BALANCE_UPDATED = "account.balance_updated"

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    event_id        text PRIMARY KEY,
    type            text NOT NULL,
    account         text NOT NULL,
    amount          bigint NOT NULL,
    version         bigint NOT NULL,
    balance         bigint NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    done_at         timestamptz
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (next_attempt_at) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS accounts (
    account text PRIMARY KEY,
    version bigint NOT NULL
)
"""

wake = threading.Event()


def connect(timeout=30.0):
    """Opens a Postgres connection, retrying for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg2.connect(DATABASE_URL, connect_timeout=3)
        except psycopg2.OperationalError as e:
            if time.monotonic() >= deadline:
                raise
            print(f"database not reachable yet: {e}".strip(), file=sys.stderr)
            time.sleep(0.5)


def migrate():
    conn = connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(424242)")
            cur.execute(SCHEMA)
    finally:
        conn.close()


def verify(wid, ts, signature, body, now):
    """Returns why a delivery is refused, or "" when its signature and timestamp are good."""
    if not wid or not ts or not signature:
        return "Webhook-Id, Webhook-Timestamp and Webhook-Signature are required"
    expected = "v1=" + hmac.new(SECRET, f"{wid}.{ts}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return "bad signature"
    try:
        sent = int(ts)
    except ValueError:
        return "bad timestamp"
    if abs(now - sent) > TOLERANCE:
        return "timestamp outside the tolerance"
    return ""


class Inbox:
    """Connections for the request threads: a pool, a broken connection dropped."""

    def __init__(self):
        self.pool = psycopg2.pool.ThreadedConnectionPool(1, 16, DATABASE_URL, connect_timeout=3)

    def store(self, wid, event):
        conn = self.pool.getconn()
        broken = False
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO inbox (event_id, type, account, amount, version, balance)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
                    (wid, event["type"], event["account"], int(event.get("amount", 0)),
                     int(event.get("version", 0)), int(event.get("balance", 0))),
                )
        except psycopg2.OperationalError:
            broken = True
            raise
        finally:
            self.pool.putconn(conn, close=broken)


inbox = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.read_body()
        if self.path.split("?", 1)[0] == "/healthz":
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?", 1)[0] == "/webhooks":
            self.receive(body)
        else:
            self.send_json(404, {"error": "not found"})

    def receive(self, body):
        wid = self.headers.get("Webhook-Id", "")
        reason = verify(wid, self.headers.get("Webhook-Timestamp", ""), self.headers.get("Webhook-Signature", ""), body, time.time())
        if reason:
            self.send_json(401, {"error": reason})
            return
        try:
            event = json.loads(body)
            if not isinstance(event, dict) or not event.get("account") or event.get("type") not in (CREDITED, BALANCE_UPDATED):
                raise ValueError("not an event")
        except ValueError:
            self.send_json(400, {"error": "not an event"})
            return
        try:
            inbox.store(wid, event)
        except psycopg2.Error as e:
            print(f"store {wid}: {e}", file=sys.stderr)
            self.send_json(503, {"error": "could not store the event"})
            return
        wake.set()
        self.send_json(202, {"status": "accepted"})

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


def call(event_id, kind, account, amount, version, balance):
    """Applies one event at the downstream; raises on anything but a 2xx."""
    if kind == CREDITED:
        method, url = "POST", f"{DOWNSTREAM_URL}/accounts/{account}/credits"
        data = json.dumps({"event_id": event_id, "amount": amount}).encode()
    else:
        method, url = "PUT", f"{DOWNSTREAM_URL}/accounts/{account}"
        data = json.dumps({"event_id": event_id, "version": version, "balance": balance}).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=CALL_TIMEOUT) as resp:
        resp.read()


def apply_one(conn):
    """Takes one due event and applies it, skips it, or schedules its next attempt. Returns
    whether there was one."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT event_id, type, account, amount, version, balance, attempts FROM inbox"
            " WHERE done_at IS NULL AND next_attempt_at <= clock_timestamp()"
            " ORDER BY received_at LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        row = cur.fetchone()
        if row is None:
            return False
        event_id, kind, account, amount, version, balance, attempts = row
        newer = True
        if kind == BALANCE_UPDATED:
            cur.execute("INSERT INTO accounts (account, version) VALUES (%s, 0) ON CONFLICT DO NOTHING", (account,))
            cur.execute("SELECT version FROM accounts WHERE account = %s FOR UPDATE", (account,))
            (applied,) = cur.fetchone()
            newer = version > applied
        if newer:
            try:
                call(event_id, kind, account, amount, version, balance)
            except (urllib.error.URLError, OSError) as e:
                print(f"event {event_id}, attempt {attempts + 1}: {e}", file=sys.stderr)
                backoff = min(FIRST_BACKOFF_MS << min(attempts, 10), MAX_BACKOFF_MS)
                cur.execute(
                    "UPDATE inbox SET attempts = attempts + 1,"
                    " next_attempt_at = clock_timestamp() + %s * interval '1 millisecond' WHERE event_id = %s",
                    (backoff, event_id),
                )
                return True
            if kind == BALANCE_UPDATED:
                cur.execute("UPDATE accounts SET version = %s WHERE account = %s", (version, account))
        cur.execute("UPDATE inbox SET done_at = clock_timestamp() WHERE event_id = %s", (event_id,))
        return True


def work():
    conn = None
    while True:
        try:
            if conn is None or conn.closed:
                conn = connect()
            if apply_one(conn):
                continue
        except psycopg2.Error as e:
            print(f"apply: {e}", file=sys.stderr)
            if conn is not None and not conn.closed:
                conn.close()
            conn = None
        wake.wait(IDLE_POLL)
        wake.clear()


class Server(ThreadingHTTPServer):
    request_queue_size = 64
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    global inbox
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    migrate()
    inbox = Inbox()
    for _ in range(WORKERS):
        threading.Thread(target=work, daemon=True).start()
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} ({os.environ.get('INSTANCE_ID', '')})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
