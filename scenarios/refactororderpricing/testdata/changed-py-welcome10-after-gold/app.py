# Tea shop quote service: HTTP in front of pricing.py.
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pricing import Reject, quote, validate


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        if self.command != "HEAD":  # HEAD: the same status and headers, no body
            self.wfile.write(b)

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
            try:
                body = json.loads(raw)
            except Exception:
                raise Reject(400, "invalid body")
            answer = quote(validate(body))
        except Reject as r:
            self.send(r.status, {"error": r.message})
            return
        self.send(200, answer)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "3000"))
    print("pricing listening on :%d" % port, flush=True)
    ThreadingHTTPServer(("", port), H).serve_forever()
