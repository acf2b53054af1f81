"""The starting point of the webhook-receiver challenge.

It serves GET /healthz and answers 501 on POST /webhooks. The challenge's README.md
(templates/webhook-receiver/README.md) is the contract: status codes, the signature, the
downstream's API, and how it is graded. In short:

- Listen on $PORT (3000). Two replicas run, sharing one Postgres ($DATABASE_URL).
- POST /webhooks: accept a delivery only if Webhook-Signature is "v1=" and the hex
  HMAC-SHA256, keyed with b"holdfast-webhook-secret", of
  f"{Webhook-Id}.{Webhook-Timestamp}.".encode() + the raw body, and the timestamp is within
  5 minutes of now; else 401.
- Store each event once (dedupe by Webhook-Id), answer 2xx within 500 ms, and apply it in the
  background: PUT $DOWNSTREAM_URL/accounts/<account> {"event_id", "version", "balance"}, newest
  version only, retried until the downstream answers 2xx.
- Both replicas are killed and restarted during grading: what you acknowledged must be in
  Postgres. The root filesystem is read-only (only /tmp is writable) and there is no internet
  access while the service runs.

Only the standard library and psycopg2 are used. The Dockerfile explains how
requirements.txt is installed, and when it is not.
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DOWNSTREAM_URL = os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/")
SECRET = b"holdfast-webhook-secret"


def connect(timeout=30.0):
    """Opens a Postgres connection, retrying for up to `timeout` seconds: the database may
    become reachable a moment after the service starts. Nothing calls it yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg2.connect(DATABASE_URL, connect_timeout=3)
        except psycopg2.OperationalError as e:
            if time.monotonic() >= deadline:
                raise
            print(f"database not reachable yet: {e}".strip(), file=sys.stderr)
            time.sleep(1)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open; every response must then carry Content-Length,
    # and every request body must be read (send_json and read_body do both).
    protocol_version = "HTTP/1.1"
    # Send small responses at once: with Nagle's algorithm on, http.server's separate header
    # and body writes wait for the client's delayed ACK (~40 ms per answer).
    disable_nagle_algorithm = True

    def do_GET(self):
        self.read_body()  # a GET rarely has one, but unread bytes would break keep-alive
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
        """POST /webhooks. body is the raw bytes, as signed; self.headers.get("Webhook-Id"),
        "Webhook-Timestamp" and "Webhook-Signature" are the headers."""
        self.send_json(501, {"error": "not implemented"})

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


class Server(ThreadingHTTPServer):
    request_queue_size = 64  # the scenarios send bursts; the default backlog of 5 drops connections

    def handle_error(self, request, client_address):
        # A client that hangs up mid-connection is routine; keep the log for real errors.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    # As PID 1 in a container, SIGTERM is ignored unless handled: exit promptly instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} ({os.environ.get('INSTANCE_ID', '')})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
