"""The starting point of the load-shedding challenge.

It serves GET /healthz and answers 501 on POST /api/work. The challenge's README.md is the
contract: the downstream call and its 1 s deadline, the limit (4 requests in flight, a wait of
100 ms at most, 503 with Retry-After beyond it), health checks never shed, and how it is graded.
In short:

- Listen on $PORT (3000). Every response body is JSON; errors are {"error": "..."}.
- POST /api/work {"id": "..."} calls POST $DOWNSTREAM_URL/work with the same body, holding one
  of 4 permits; the permits are shared by every request thread (threading.BoundedSemaphore).

Only the standard library is used (http.client or urllib.request for the downstream call).
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PORT = int(os.environ.get("PORT", "3000"))
DOWNSTREAM_URL = os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/")


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open; every response must then carry Content-Length,
    # and every request body must be read (send_json and read_body do both).
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK, about 40 ms on every answer (a 503 must come within 100 ms).
    disable_nagle_algorithm = True

    def do_GET(self):
        self.read_body()  # a GET rarely has one, but unread bytes would break keep-alive
        if urlsplit(self.path).path == "/healthz":
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if urlsplit(self.path).path == "/api/work":
            self.work(body)
        else:
            self.send_json(404, {"error": "not found"})

    def work(self, body):
        """POST /api/work {"id": "..."}: with one of 4 permits, POST $DOWNSTREAM_URL/work."""
        self.send_json(501, {"error": "not implemented"})

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


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The grader sends bursts of 24 requests at once; the default backlog of 5 would make
    # some of them wait a second for a TCP retransmit.
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # A client that hangs up mid-connection is routine; keep the log for real errors.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    # As PID 1 in a container, SIGTERM is ignored unless handled: exit promptly instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} (downstream {DOWNSTREAM_URL})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
