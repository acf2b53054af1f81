# Tea shop quote service. Works, passes the tests, nobody wants to touch it.
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# sku: [name, price, weight, kind]  kind 1 tea 2 ware 3 gift
CAT = {
    "TEA-GREEN": ["Green tea 100 g", 450, 120, 1],
    "TEA-BLACK": ["Black tea 100 g", 395, 120, 1],
    "TEA-OOLONG": ["Oolong 100 g", 795, 120, 1],
    "MUG-CLAY": ["Clay mug", 1250, 400, 2],
    "POT-IRON": ["Cast-iron teapot", 4999, 1600, 2],
    "FILTER-100": ["Paper filters x100", 299, 80, 2],
    "GIFT-25": ["Gift card 25", 2500, 0, 3],
}


def rnd(a, b):
    # half to even, finance ticket PRC-88
    q = a // b
    r = a % b
    if r * 2 > b:
        return q + 1
    if r * 2 == b:
        if q % 2 != 0:
            return q + 1
    return q


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
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except Exception:
            self.send(400, {"error": "invalid body"})
            return
        if not isinstance(body, dict):
            self.send(400, {"error": "invalid body"})
            return
        items = body.get("items")
        for k in ("region", "coupon", "tier"):
            if body.get(k) is not None and not isinstance(body.get(k), str):
                self.send(400, {"error": "invalid body"})
                return
        if items is not None and not isinstance(items, list):
            self.send(400, {"error": "invalid body"})
            return
        if items:
            for it in items:
                if not isinstance(it, dict):
                    self.send(400, {"error": "invalid body"})
                    return
                if it.get("sku") is not None and not isinstance(it.get("sku"), str):
                    self.send(400, {"error": "invalid body"})
                    return
                q = it.get("qty")
                if q is not None and (isinstance(q, bool) or not isinstance(q, int)):
                    self.send(400, {"error": "invalid body"})
                    return
        if not items:
            self.send(400, {"error": "items must be a non-empty list"})
            return
        skus = []
        qtys = []
        for it in items:
            q = it.get("qty") or 0
            if q < 1 or q > 999:
                self.send(400, {"error": "qty must be an integer from 1 to 999"})
                return
            s = it.get("sku") or ""
            if s in skus:
                qtys[skus.index(s)] += q
            else:
                skus.append(s)
                qtys.append(q)
        for q in qtys:
            if q > 999:
                self.send(400, {"error": "qty must be an integer from 1 to 999"})
                return
        tier = body.get("tier") or ""
        if tier != "" and tier != "standard" and tier != "gold":
            self.send(400, {"error": "tier must be standard or gold"})
            return
        for s in skus:
            if s not in CAT:
                self.send(422, {"error": "unknown sku: " + s})
                return
        region = body.get("region") or "EU"
        if region not in ("EU", "UK", "US", "CH"):
            self.send(422, {"error": "unsupported region: " + region})
            return
        code = (body.get("coupon") or "").strip().upper()
        if code != "" and code != "WELCOME10" and code != "TEA5" and code != "FREESHIP":
            self.send(422, {"error": "unknown coupon: " + code})
            return

        lines = []
        sub = 0
        disc = 0
        weight = 0
        teas = 0
        only_gifts = True
        for i in range(len(skus)):
            s = skus[i]
            q = qtys[i]
            c = CAT[s]
            gross = c[1] * q
            d = 0
            if c[3] != 3:
                only_gifts = False
                if q >= 50:
                    d = rnd(gross * 10, 100)
                elif q >= 10:
                    d = rnd(gross * 5, 100)
                disc += gross - d
            if c[3] == 1:
                teas += q
            weight += c[2] * q
            sub += gross - d
            line = {"sku": s, "name": c[0], "qty": q, "unit_price": c[1], "discount": d, "total": gross - d}
            # keep sorted by total, highest first; equal totals stay in order
            j = len(lines)
            while j > 0 and lines[j - 1]["total"] < line["total"]:
                j -= 1
            lines.insert(j, line)
        discountable = disc
        disc = 0
        gold = 0
        if tier == "gold":
            gold = rnd(discountable * 3, 100)
            disc = gold
        if code == "WELCOME10":
            if discountable >= 2000:
                disc += rnd((discountable - gold) * 10, 100)
        elif code == "TEA5":
            if teas >= 3:
                if discountable - gold < 500:
                    disc += discountable - gold
                else:
                    disc += 500
        goods = discountable - disc

        if region == "EU":
            cur = "EUR"
            if only_gifts or code == "FREESHIP" or goods >= 5000:
                ship = 0
            else:
                ship = 495
                if weight > 1000:
                    extra = weight - 1000
                    steps = extra // 500
                    if extra % 500 != 0:
                        steps += 1
                    ship += steps * 100
            tax = rnd((goods + ship) * 2000, 10000)
        elif region == "UK":
            cur = "GBP"
            if only_gifts or code == "FREESHIP" or goods >= 4500:
                ship = 0
            else:
                ship = 595
                if weight > 1000:
                    extra = weight - 1000
                    steps = extra // 500
                    if extra % 500 != 0:
                        steps += 1
                    ship += steps * 100
            tax = rnd((goods + ship) * 2000, 10000)
        elif region == "US":
            cur = "USD"
            if only_gifts or code == "FREESHIP" or goods >= 7500:
                ship = 0
            else:
                ship = 895
                if weight > 1000:
                    extra = weight - 1000
                    steps = extra // 500
                    if extra % 500 != 0:
                        steps += 1
                    ship += steps * 100
            tax = 0
        else:
            cur = "CHF"
            if only_gifts or code == "FREESHIP" or goods >= 10000:
                ship = 0
            else:
                ship = 1295
                if weight > 1000:
                    extra = weight - 1000
                    steps = extra // 500
                    if extra % 500 != 0:
                        steps += 1
                    ship += steps * 100
            tax = rnd((goods + ship) * 810, 10000)

        self.send(200, {"currency": cur, "lines": lines, "subtotal": sub, "discount": disc,
                        "shipping": ship, "tax": tax, "total": sub - disc + ship + tax})


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "3000"))
    print("pricing listening on :%d" % port, flush=True)
    ThreadingHTTPServer(("", port), H).serve_forever()
