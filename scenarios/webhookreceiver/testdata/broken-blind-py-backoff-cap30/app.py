"""Webhook receiver (blind mistake, Python): retries back off from 0.25 s, doubling up to 30 s.

The blind test's correct solution with one change, predicted before grading: backoff() caps
at 30 s, past the brief's 2 s between two attempts (P6).

The solution it started from:

Style: an inbox table whose rows are claimed with leases ("lease_until" columns, never a
transaction held across a network call), and a per-account cursor row that is itself leased:
balance updates of one account are applied by whoever holds that account's lease, strictly in
version order (the lowest pending version first, anything not above the cursor retired).
Credits are leased one row at a time. Threads: the standard library's ThreadingHTTPServer for
deliveries, a few worker threads for the downstream.
"""
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.pool

SECRET = b"holdfast-webhook-secret"
TOLERANCE_S = 300
LEASE_S = 4  # > the call deadline, and short enough to expire soon after a SIGKILL
CALL_DEADLINE_S = 2.5
MAX_BACKOFF_S = 1.5
WORKERS = 4
PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DOWNSTREAM = urllib.parse.urlsplit(os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/"))
INSTANCE = os.environ.get("INSTANCE_ID", "app")

SIG_RE = re.compile(r"v1=[0-9a-f]{64}\Z")
TS_RE = re.compile(r"[0-9]{1,12}\Z")

pool = None
ready = threading.Event()
work = threading.Event()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
  seq         bigserial,
  event_id    text PRIMARY KEY,
  event_type  text NOT NULL,
  account     text NOT NULL,
  version     bigint,
  call_body   text NOT NULL,
  done        boolean NOT NULL DEFAULT false,
  outcome     text,
  tries       integer NOT NULL DEFAULT 0,
  not_before  timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  lease_owner text
);
CREATE INDEX IF NOT EXISTS inbox_open ON inbox (account, version) WHERE NOT done;
CREATE TABLE IF NOT EXISTS account_cursor (
  account         text PRIMARY KEY,
  applied_version bigint NOT NULL DEFAULT 0,
  lease_until     timestamptz,
  lease_owner     text
);
"""


POOL_MAX = 24
slots = threading.BoundedSemaphore(POOL_MAX)


class Db:
    """A pooled connection as a context manager: commit on success, rollback on error."""

    def __enter__(self):
        slots.acquire()
        try:
            self.conn = pool.getconn()
        except Exception:
            slots.release()
            raise
        return self.conn.cursor()

    def __exit__(self, et, ev, tb):
        try:
            if et is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        except Exception:
            pool.putconn(self.conn, close=True)
            slots.release()
            raise
        pool.putconn(self.conn, close=bool(self.conn.closed))
        slots.release()
        return False


def migrate():
    while True:
        try:
            with Db() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(1)")
                cur.execute(SCHEMA)
            return
        except Exception as e:  # database not up yet, or the other replica raced us
            log("migrate:", e)
            time.sleep(0.5)


# ---------- receiving ----------


def verify(wid, ts, sig, raw):
    if not SIG_RE.match(sig):
        return False
    expected = "v1=" + hmac.new(SECRET, f"{wid}.{ts}.".encode() + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), sig.encode())


def to_call(ev):
    """The downstream call an event stands for, or None when the body is not an event."""
    if not isinstance(ev, dict) or not isinstance(ev.get("account"), str) or not ev["account"]:
        return None

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if ev.get("type") == "account.credited" and is_int(ev.get("amount")):
        return ("account.credited", None, {"amount": ev["amount"]})
    if ev.get("type") == "account.balance_updated" and is_int(ev.get("version")) and is_int(ev.get("balance")):
        return ("account.balance_updated", ev["version"], {"version": ev["version"], "balance": ev["balance"]})
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        if self.path.split("?")[0] == "/healthz":
            if ready.is_set():
                return self.reply(200, {"status": "ok", "instance": INSTANCE})
            return self.reply(503, {"status": "starting"})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path.split("?")[0] != "/webhooks":
            return self.reply(404, {"error": "not found"})
        raw = self.read_body()
        wid = self.headers.get("Webhook-Id")
        ts = self.headers.get("Webhook-Timestamp")
        sig = self.headers.get("Webhook-Signature")
        if not wid or not ts or not sig or not verify(wid, ts, sig, raw):
            return self.reply(401, {"error": "bad signature"})
        if not TS_RE.match(ts) or abs(time.time() - int(ts)) > TOLERANCE_S:
            return self.reply(401, {"error": "timestamp outside the tolerance"})
        try:
            ev = json.loads(raw)
        except ValueError:
            ev = None
        call = to_call(ev)
        if call is None:
            return self.reply(400, {"error": "not an event"})
        etype, version, fields = call
        body = json.dumps({"event_id": wid, **fields})
        try:
            with Db() as cur:
                cur.execute(
                    """INSERT INTO inbox (event_id, event_type, account, version, call_body)
                       VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
                    (wid, etype, ev["account"], version, body),
                )
                if etype == "account.balance_updated":
                    cur.execute(
                        "INSERT INTO account_cursor (account) VALUES (%s) ON CONFLICT (account) DO NOTHING",
                        (ev["account"],),
                    )
        except Exception as e:
            log("store", wid, e)
            return self.reply(503, {"error": "could not store the event"})
        work.set()
        self.reply(202, {"accepted": wid})


# ---------- applying ----------


def call_downstream(method, path, body):
    conn_cls = http.client.HTTPSConnection if DOWNSTREAM.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(DOWNSTREAM.hostname, DOWNSTREAM.port, timeout=CALL_DEADLINE_S)
    try:
        conn.request(method, DOWNSTREAM.path + path, body=body.encode(), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        # The blind solution returned "too slow" here for an answer read 0.5 s past its deadline,
        # 2xx or not. A 2xx the downstream gave is applied, however late: counted as a failure,
        # the cursor stayed behind and a lower version went out after it (P4), seen once at load
        # ~20 in the full run final10. Removed; the deadline is the connection's timeout.
        return None if 200 <= resp.status < 300 else f"status {resp.status}"
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    finally:
        conn.close()


def backoff(tries):
    # Exponential backoff, capped so a long outage does not hammer the downstream.
    return min(30.0, 0.25 * 2 ** min(tries, 10))


def path_for(etype, account):
    acct = urllib.parse.quote(account, safe="")
    if etype == "account.credited":
        return "POST", f"/accounts/{acct}/credits"
    return "PUT", f"/accounts/{acct}"


def failed(event_id, tries, err):
    wait = backoff(tries)
    log(f"apply {event_id}: {err}; attempt {tries + 1}, next in {wait:.2f}s")
    return wait


def credit_step(owner):
    with Db() as cur:
        cur.execute(
            """UPDATE inbox SET lease_until = now() + make_interval(secs => %s), lease_owner = %s
                WHERE event_id = (
                      SELECT event_id FROM inbox
                       WHERE NOT done AND event_type = 'account.credited' AND not_before <= now()
                         AND (lease_until IS NULL OR lease_until < now())
                       ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING event_id, account, call_body, tries""",
            (LEASE_S, owner),
        )
        row = cur.fetchone()
    if row is None:
        return False
    event_id, account, body, tries = row
    err = call_downstream(*path_for("account.credited", account), body)
    with Db() as cur:
        if err is None:
            cur.execute(
                """UPDATE inbox SET done = true, outcome = 'applied', lease_until = NULL
                    WHERE event_id = %s AND lease_owner = %s""",
                (event_id, owner),
            )
        else:
            cur.execute(
                """UPDATE inbox SET tries = tries + 1, not_before = now() + make_interval(secs => %s),
                          lease_until = NULL
                    WHERE event_id = %s AND lease_owner = %s""",
                (failed(event_id, tries, err), event_id, owner),
            )
    return True


def balance_step(owner):
    with Db() as cur:
        cur.execute(
            """UPDATE account_cursor c SET lease_until = now() + make_interval(secs => %s), lease_owner = %s
                WHERE c.account = (
                      SELECT a.account FROM account_cursor a
                       WHERE (a.lease_until IS NULL OR a.lease_until < now())
                         AND EXISTS (SELECT 1 FROM inbox i
                                      WHERE i.account = a.account AND NOT i.done
                                        AND i.event_type = 'account.balance_updated' AND i.not_before <= now())
                       LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING c.account, c.applied_version""",
            (LEASE_S, owner),
        )
        row = cur.fetchone()
    if row is None:
        return False
    account, applied = row
    with Db() as cur:
        # Anything at or below what was applied is never applied.
        cur.execute(
            """UPDATE inbox SET done = true, outcome = 'stale'
                WHERE account = %s AND NOT done AND event_type = 'account.balance_updated' AND version <= %s""",
            (account, applied),
        )
        # The blind solution had no "version > applied" here: under READ COMMITTED each
        # statement sees what committed before it, so a lower version whose INSERT committed
        # between the UPDATE above and this SELECT was picked and applied after a higher one
        # (P4; the full run final15 saw version 2 after 6, at load ~10). Added.
        cur.execute(
            """SELECT event_id, version, call_body, tries, not_before <= now() FROM inbox
                WHERE account = %s AND NOT done AND event_type = 'account.balance_updated'
                  AND version > %s
                ORDER BY version LIMIT 1""",
            (account, applied),
        )
        ev = cur.fetchone()
    if ev is None or not ev[4]:  # nothing left, or the lowest version is waiting out its backoff
        with Db() as cur:
            cur.execute(
                "UPDATE account_cursor SET lease_until = NULL WHERE account = %s AND lease_owner = %s",
                (account, owner),
            )
        return ev is not None
    event_id, version, body, tries, _ = ev
    err = call_downstream(*path_for("account.balance_updated", account), body)
    with Db() as cur:
        if err is None:
            cur.execute(
                """UPDATE account_cursor SET applied_version = %s, lease_until = NULL
                    WHERE account = %s AND lease_owner = %s AND applied_version < %s""",
                (version, account, owner, version),
            )
            cur.execute("UPDATE inbox SET done = true, outcome = 'applied' WHERE event_id = %s", (event_id,))
        else:
            cur.execute(
                """UPDATE inbox SET tries = tries + 1, not_before = now() + make_interval(secs => %s)
                    WHERE event_id = %s""",
                (failed(event_id, tries, err), event_id),
            )
            cur.execute(
                "UPDATE account_cursor SET lease_until = NULL WHERE account = %s AND lease_owner = %s",
                (account, owner),
            )
    return True


def worker(n):
    while True:
        try:
            owner = f"{INSTANCE}/{n}/{uuid.uuid4().hex[:8]}"
            busy = credit_step(owner)
            busy = balance_step(owner) or busy
            if not busy:
                work.wait(0.2)
                work.clear()
        except Exception as e:
            log(f"worker {n}:", e)
            time.sleep(0.3)


def main():
    global pool
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log(f"listening on :{PORT} ({INSTANCE})")
    while pool is None:
        try:
            pool = psycopg2.pool.ThreadedConnectionPool(1, POOL_MAX, DATABASE_URL)
        except Exception as e:
            log("db:", e)
            time.sleep(0.5)
    migrate()
    for n in range(WORKERS):
        threading.Thread(target=worker, args=(n,), daemon=True).start()
    ready.set()
    log("ready")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
