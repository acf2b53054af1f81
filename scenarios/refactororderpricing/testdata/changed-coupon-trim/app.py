"""A refactor that changed behaviour: coupon codes are upper-cased but no longer trimmed, so
" welcome10 " is refused as unknown, and an unknown code is echoed with its spaces."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pricing import quote
from validation import Refused, validate


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # HEAD: the same status and headers, no body
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.send(200, {"status": "ok"})
        elif self.path == "/api/quote":
            self.send(405, {"error": "method not allowed"})
        else:
            self.send(404, {"error": "not found"})

    def refuse_method(self):
        # Any method but POST on /api/quote is a 405, as GET is; read the body first so that
        # closing the connection does not reset it under the client.
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/api/quote":
            self.send(405, {"error": "method not allowed"})
        else:
            self.send(404, {"error": "not found"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = refuse_method
    do_HEAD = do_GET

    def do_POST(self):
        if self.path != "/api/quote":
            self.send(404, {"error": "not found"})
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            self.send(400, {"error": "invalid body"})
            return
        try:
            self.send(200, quote(validate(body)))
        except Refused as r:
            self.send(r.status, {"error": r.message})


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "3000"))
    print("pricing listening on :%d" % port, flush=True)
    ThreadingHTTPServer(("", port), Handler).serve_forever()
