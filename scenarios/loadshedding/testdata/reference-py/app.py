"""Reference solution of the load-shedding challenge, in Python.

Four permits in a threading.BoundedSemaphore. A request that finds none waits for one up to
50 ms (the brief allows 100), then gets 503 with Retry-After: 1. The permit is released in a
finally block, whatever the downstream did. GET /healthz never touches the semaphore.
"""

import http.client
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PORT = int(os.environ.get("PORT", "3000"))
DOWNSTREAM = urlsplit(os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/"))
PERMITS = threading.BoundedSemaphore(4)
WAIT = 0.05  # seconds a request may wait for a permit
DEADLINE = 1.0  # seconds the downstream has to answer


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
        if urlsplit(self.path).path == "/api/work":
            self.work(body)
        else:
            self.send_json(404, {"error": "not found"})

    def work(self, body):
        try:
            work_id = json.loads(body).get("id")
        except (ValueError, AttributeError):
            work_id = None
        if not isinstance(work_id, str) or not 1 <= len(work_id) <= 64:
            self.send_json(400, {"error": 'the body must be {"id": "..."} with an id of 1 to 64 characters'})
            return
        if not PERMITS.acquire(timeout=WAIT):
            self.send_json(503, {"error": "overloaded: try again later"}, {"Retry-After": "1"})
            return
        try:
            status, answer = call_downstream(work_id)
        finally:
            PERMITS.release()
        if status == 200:
            self.send_raw(200, answer)
        elif status == 504:
            self.send_json(504, {"error": "the downstream did not answer within 1 s"})
        else:
            self.send_json(502, {"error": "the downstream failed"})

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj, headers=None):
        self.send_raw(status, json.dumps(obj).encode(), headers)

    def send_raw(self, status, data, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def call_downstream(work_id):
    """POST /work once: (200, body), (502, None) for a 5xx or a failed connection, (504, None)."""
    conn = http.client.HTTPConnection(DOWNSTREAM.hostname, DOWNSTREAM.port or 80, timeout=DEADLINE)
    try:
        conn.request("POST", "/work", json.dumps({"id": work_id}), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return (resp.status if resp.status < 500 else 502), data
    except socket.timeout:
        return 504, None
    except OSError:
        return 502, None
    finally:
        conn.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} (downstream {DOWNSTREAM.geturl()})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
