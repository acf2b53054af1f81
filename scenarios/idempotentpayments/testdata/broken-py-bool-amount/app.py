"""Idempotent payments: a lease-based claim table driven by a small state machine.

Unusual choices:
- One row per Idempotency-Key. The claim is a single `INSERT ... ON CONFLICT DO UPDATE
  ... WHERE ... RETURNING`: it either creates the row, or re-takes a row whose last attempt
  failed (or whose lease ran out because its owner died), or returns nothing (someone else
  owns it / it is finished / the body differs). No explicit transactions, no row locks held
  across the provider call.
- The payment id is minted once, at the first claim, and is reused for every retry, and it is
  also the provider's Idempotency-Key: a retry after a 500/timeout that already charged gets
  the provider's stored charge back instead of a second charge.
- The answer is stored as text and sent from the row returned by the final conditional
  UPDATE ... RETURNING, so the first answer and every replay are the same bytes.
- Non-owners are dispatched through a state table (state -> response builder).
- Every request opens its own short-lived database connection, so an outage heals itself.
"""

import hashlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
PROVIDER_URL = os.environ.get("PROVIDER_URL", "http://provider:8080").rstrip("/")
PROVIDER_DEADLINE = 1.8  # seconds for the whole provider call (P8: 504 within about 2 s)
LEASE = "6 seconds"       # a 'running' claim older than this belongs to a dead process

CURRENCY = re.compile(r"[a-z]{3}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS idem (
    key         text PRIMARY KEY,
    fingerprint text NOT NULL,
    payment_id  text NOT NULL UNIQUE,
    state       text NOT NULL,            -- running | failed | done
    lease_until timestamptz NOT NULL,
    status      integer,
    body        text
)
"""

CLAIM = f"""
INSERT INTO idem AS i (key, fingerprint, payment_id, state, lease_until)
VALUES (%s, %s, %s, 'running', clock_timestamp() + interval '{LEASE}')
ON CONFLICT (key) DO UPDATE
   SET state = 'running', lease_until = clock_timestamp() + interval '{LEASE}'
 WHERE i.fingerprint = EXCLUDED.fingerprint
   AND (i.state = 'failed' OR (i.state = 'running' AND i.lease_until < clock_timestamp()))
RETURNING i.payment_id
"""

FINISH = """
UPDATE idem SET state = 'done', status = %s, body = %s
 WHERE key = %s AND payment_id = %s AND state <> 'done'
RETURNING status, body
"""

RELEASE = "UPDATE idem SET state = 'failed' WHERE key = %s AND state = 'running'"

LOOKUP = "SELECT fingerprint, state, status, body FROM idem WHERE key = %s"


class ProviderTimeout(Exception):
    pass


class ProviderFailed(Exception):
    pass


def db():
    conn = psycopg2.connect(DATABASE_URL, connect_timeout=3)
    conn.autocommit = True
    return conn


def init_schema():
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = db()
            try:
                with conn.cursor() as cur:
                    cur.execute(SCHEMA)
            finally:
                conn.close()
            return
        except psycopg2.Error as e:
            if time.monotonic() >= deadline:
                raise
            print(f"database not ready: {e}".strip(), file=sys.stderr)
            time.sleep(1)


def charge(payment_id, amount, currency):
    """One provider call on a fresh connection that is always closed (P15)."""
    u = urllib.parse.urlsplit(PROVIDER_URL)
    deadline = time.monotonic() + PROVIDER_DEADLINE
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=PROVIDER_DEADLINE)
    payload = json.dumps({"amount": amount, "currency": currency, "payment_id": payment_id})
    try:
        conn.connect()
        conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
        conn.request("POST", (u.path or "") + "/v1/charges", body=payload,
                     headers={"Content-Type": "application/json", "Idempotency-Key": payment_id})
        conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
        resp = conn.getresponse()
        resp.read()
        if time.monotonic() > deadline:
            raise ProviderTimeout()
        if 200 <= resp.status < 300:
            return
        raise ProviderFailed(f"provider answered {resp.status}")
    except (socket.timeout, TimeoutError):
        raise ProviderTimeout()
    except (OSError, http.client.HTTPException) as e:
        raise ProviderFailed(str(e))
    finally:
        conn.close()


def parse_body(raw):
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    amount, currency = obj.get("amount"), obj.get("currency")
    if not isinstance(amount, int) or amount <= 0:
        return None
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        return None
    return amount, currency


def err(msg):
    return json.dumps({"error": msg}).encode()


# What a request that did not win the claim answers, by the state of the row it found.
NON_OWNER = {
    "done": lambda row: (row[2], row[3].encode()),
    "running": lambda row: (409, err("a request with this key is in progress")),
    "failed": lambda row: (409, err("a request with this key is being retried")),
}


def create(key, raw):
    if key is None or not (1 <= len(key) <= 255):
        return 400, err("Idempotency-Key must be 1 to 255 characters")
    parsed = parse_body(raw)
    if parsed is None:
        return 400, err("invalid body")
    amount, currency = parsed
    fingerprint = hashlib.sha256(f"{amount}:{currency}".encode()).hexdigest()
    conn = db()
    try:
        with conn.cursor() as cur:
            cur.execute(CLAIM, (key, fingerprint, "pay_" + secrets.token_hex(12)))
            won = cur.fetchone()
            if won is None:
                cur.execute(LOOKUP, (key,))
                row = cur.fetchone()
                if row is None:  # vanished between the two statements: cannot happen, be safe
                    return 409, err("try again")
                if row[0] != fingerprint:
                    return 422, err("Idempotency-Key reused with a different body")
                return NON_OWNER[row[1]](row)
            payment_id = won[0]
        try:
            charge(payment_id, amount, currency)
        except (ProviderTimeout, ProviderFailed) as e:
            with conn.cursor() as cur:
                cur.execute(RELEASE, (key,))
            if isinstance(e, ProviderTimeout):
                return 504, err("payment provider timed out")
            return 502, err("payment provider failed")
        body = json.dumps({"id": payment_id, "status": "succeeded",
                           "amount": amount, "currency": currency})
        with conn.cursor() as cur:
            cur.execute(FINISH, (201, body, key, payment_id))
            row = cur.fetchone()
            if row is None:  # a lease-expiry taker finished first: answer what it stored
                cur.execute(LOOKUP, (key,))
                row = cur.fetchone()[2:]
        return row[0], row[1].encode()
    finally:
        conn.close()


def fetch(payment_id):
    conn = db()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT body FROM idem WHERE payment_id = %s AND state = 'done'",
                        (payment_id,))
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        return 404, err("not found")
    return 200, row[0].encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self.read_body()
        path = self.path.split("?", 1)[0]
        payment_id = path.removeprefix("/api/payments/") if path.startswith("/api/payments/") else ""
        if path == "/healthz":
            self.send_raw(200, b'{"status":"ok"}')
        elif payment_id and "/" not in payment_id:
            self.guarded(fetch, payment_id)
        else:
            self.send_raw(404, err("not found"))

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?", 1)[0] == "/api/payments":
            self.guarded(create, self.headers.get("Idempotency-Key"), body)
        else:
            self.send_raw(404, err("not found"))

    def guarded(self, fn, *args):
        try:
            status, data = fn(*args)
        except psycopg2.Error as e:
            print(f"database error: {e}".strip(), file=sys.stderr)
            status, data = 503, err("database unavailable")
        self.send_raw(status, data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_raw(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    request_queue_size = 64
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    init_schema()
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
