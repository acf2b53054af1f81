"""The starting point of the flash-sale challenge.

It serves GET /healthz and answers 501 on the routes to implement. The challenge's
README.md (templates/flash-sale/README.md) is the contract: routes, status codes, and how
it is graded. In short:

- Listen on $PORT (3000). Every response body is JSON; errors are {"error": "..."}.
- PUT /api/items/<sku> {"stock": S} starts a sale; GET /api/items/<sku> returns the stock left.
- POST /api/orders {"order_id", "sku", "quantity"}: 201 with the order, or 409
  {"error": "sold_out"}; a retried order_id gets the same order back and takes nothing more.
- GET /api/orders/<order_id>: the order, or 404.
- Two replicas of this service run at once against the same Postgres ($DATABASE_URL):
  keep all state there, not in process memory.

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


def connect(timeout=30.0):
    """Opens a Postgres connection, retrying for up to `timeout` seconds: the database may
    become reachable a moment after the service starts. Nothing calls it yet. Requests run
    on many threads at once: give each its own connection (a psycopg2 connection is one
    transaction at a time)."""
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

    def do_GET(self):
        self.read_body()  # a GET rarely has one, but unread bytes would break keep-alive
        parts = self.path.split("?", 1)[0].split("/")
        if parts == ["", "healthz"]:
            self.send_json(200, {"status": "ok"})
        elif len(parts) == 4 and parts[:3] == ["", "api", "items"] and parts[3]:
            self.get_item(parts[3])
        elif len(parts) == 4 and parts[:3] == ["", "api", "orders"] and parts[3]:
            self.get_order(parts[3])
        else:
            self.send_json(404, {"error": "not found"})

    def do_PUT(self):
        body = self.read_body()
        parts = self.path.split("?", 1)[0].split("/")
        if len(parts) == 4 and parts[:3] == ["", "api", "items"] and parts[3]:
            self.put_item(parts[3], body)
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?", 1)[0] == "/api/orders":
            self.create_order(body)
        else:
            self.send_json(404, {"error": "not found"})

    def put_item(self, sku, body):
        """PUT /api/items/<sku> (sku still %-encoded; urllib.parse.unquote decodes it)."""
        self.send_json(501, {"error": "not implemented"})

    def get_item(self, sku):
        """GET /api/items/<sku>."""
        self.send_json(501, {"error": "not implemented"})

    def create_order(self, body):
        """POST /api/orders. body is bytes."""
        self.send_json(501, {"error": "not implemented"})

    def get_order(self, order_id):
        """GET /api/orders/<order_id>."""
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
    daemon_threads = True
    # Many buyers connect at once during a sale: the default backlog of 5 would make
    # some of them wait a second for a retried TCP handshake.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that hangs up mid-connection is routine; keep the log for real errors.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    # As PID 1 in a container, SIGTERM is ignored unless handled: exit promptly instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} ({os.environ.get('INSTANCE_ID', 'app-1')})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
