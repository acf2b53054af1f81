import json
import logging
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from store import db

MODE = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if MODE == "logged":
            try:
                db.amount_of(body)
            except Exception:
                logging.exception("create payment failed")
                self.send_response(500)
                self.end_headers()
                return
        if MODE == "chained":
            try:
                db.connect("postgresql://nobody@127.0.0.1:1/x")
            except Exception as e:
                raise RuntimeError("could not reach the database") from e
        db.amount_of(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    if MODE == "startup":
        db.connect("postgresql://nobody@127.0.0.1:1/x")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/payments", data=b'{"amount": "12.5"}', method="POST")
    try:
        urllib.request.urlopen(req, timeout=5)
    except Exception:
        pass


if __name__ == "__main__":
    main()
