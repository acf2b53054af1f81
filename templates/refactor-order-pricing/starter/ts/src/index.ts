// Tea shop quote service. Works, passes the tests, nobody wants to touch it.
import { createServer, IncomingMessage, ServerResponse } from "node:http";

// catalog: sku -> [name, price, weight, kind]  kind 1 tea 2 ware 3 gift
// (a Map, not an object literal: CAT["constructor"] was a product once, see PRC-131)
const CAT = new Map<string, [string, number, number, number]>([
  ["TEA-GREEN", ["Green tea 100 g", 450, 120, 1]],
  ["TEA-BLACK", ["Black tea 100 g", 395, 120, 1]],
  ["TEA-OOLONG", ["Oolong 100 g", 795, 120, 1]],
  ["MUG-CLAY", ["Clay mug", 1250, 400, 2]],
  ["POT-IRON", ["Cast-iron teapot", 4999, 1600, 2]],
  ["FILTER-100", ["Paper filters x100", 299, 80, 2]],
  ["GIFT-25", ["Gift card 25", 2500, 0, 3]],
]);

// rnd divides a by b and rounds half to even (finance asked for it in 2019, see ticket PRC-88).
// Cents stay integers: no Math.round (it rounds -0.5 up and 0.5 up), no 0.05 * price.
function rnd(a: number, b: number): number {
  const q = Math.floor(a / b);
  const r = a % b;
  if (r * 2 > b) {
    return q + 1;
  }
  if (r * 2 == b) {
    if (q % 2 != 0) {
      return q + 1;
    }
  }
  return q;
}

function send(req: IncomingMessage, res: ServerResponse, code: number, obj: any) {
  const b = JSON.stringify(obj);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(b) });
  if (req.method == "HEAD") {
    res.end(); // HEAD: the same status and headers, no body
  } else {
    res.end(b);
  }
}

function quote(req: IncomingMessage, res: ServerResponse, raw: string, tooBig: boolean) {
  let body: any;
  try {
    if (tooBig) throw new Error("body over 1 MiB");
    JSON.parse(raw);
    // JSON.parse reads 2.0 and 1e1 as the integer 2 and 10, but a quantity is an integer as
    // sent (the Go service refused them). So every number written with a fraction or an
    // exponent becomes `true`, which no field accepts. Strings are matched whole first so that
    // digits inside them stay as they are.
    body = JSON.parse(
      raw.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?[eE][+-]?\d+|-?\d+\.\d+/g, (m) => (m[0] == '"' ? m : "true")),
    );
  } catch (e) {
    send(req, res, 400, { error: "invalid body" });
    return;
  }
  if (typeof body != "object" || body === null || Array.isArray(body)) {
    send(req, res, 400, { error: "invalid body" });
    return;
  }
  const items = body.items;
  for (const k of ["region", "coupon", "tier"]) {
    if (body[k] !== undefined && body[k] !== null && typeof body[k] != "string") {
      send(req, res, 400, { error: "invalid body" });
      return;
    }
  }
  if (items !== undefined && items !== null && !Array.isArray(items)) {
    send(req, res, 400, { error: "invalid body" });
    return;
  }
  if (items) {
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (typeof it != "object" || it === null || Array.isArray(it)) {
        send(req, res, 400, { error: "invalid body" });
        return;
      }
      if (it.sku !== undefined && it.sku !== null && typeof it.sku != "string") {
        send(req, res, 400, { error: "invalid body" });
        return;
      }
      if (it.qty !== undefined && it.qty !== null && (typeof it.qty != "number" || !Number.isInteger(it.qty))) {
        send(req, res, 400, { error: "invalid body" });
        return;
      }
    }
  }
  if (!items || items.length == 0) {
    send(req, res, 400, { error: "items must be a non-empty list" });
    return;
  }
  // merge lines (keep first position)
  const skus: string[] = [];
  const qtys: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const q = items[i].qty || 0;
    if (q < 1 || q > 999) {
      send(req, res, 400, { error: "qty must be an integer from 1 to 999" });
      return;
    }
    const s = items[i].sku || "";
    const j = skus.indexOf(s);
    if (j >= 0) {
      qtys[j] = qtys[j] + q;
    } else {
      skus.push(s);
      qtys.push(q);
    }
  }
  for (let j = 0; j < qtys.length; j++) {
    if (qtys[j] > 999) {
      send(req, res, 400, { error: "qty must be an integer from 1 to 999" });
      return;
    }
  }
  const tier = body.tier || "";
  if (tier != "") {
    if (tier != "standard") {
      if (tier != "gold") {
        send(req, res, 400, { error: "tier must be standard or gold" });
        return;
      }
    }
  }
  for (let j = 0; j < skus.length; j++) {
    if (!CAT.has(skus[j])) {
      send(req, res, 422, { error: "unknown sku: " + skus[j] });
      return;
    }
  }
  const region = body.region || "EU";
  if (region != "EU" && region != "UK" && region != "US" && region != "CH") {
    send(req, res, 422, { error: "unsupported region: " + region });
    return;
  }
  const code = (body.coupon || "").trim().toUpperCase();
  if (code != "" && code != "WELCOME10" && code != "TEA5" && code != "FREESHIP") {
    send(req, res, 422, { error: "unknown coupon: " + code });
    return;
  }

  const lines: any[] = [];
  let sub = 0;
  let disc = 0;
  let weight = 0;
  let teas = 0;
  let onlyGifts = true;
  for (let i = 0; i < skus.length; i++) {
    const s = skus[i];
    const q = qtys[i];
    const c = CAT.get(s)!;
    const gross = c[1] * q;
    let d = 0;
    if (c[3] != 3) {
      onlyGifts = false;
      if (q >= 50) {
        d = rnd(gross * 10, 100);
      } else if (q >= 10) {
        d = rnd(gross * 5, 100);
      }
      disc = disc + (gross - d); // disc holds the discountable amount for now
    }
    if (c[3] == 1) {
      teas = teas + q;
    }
    weight = weight + c[2] * q;
    sub = sub + gross - d;
    const line = { sku: s, name: c[0], qty: q, unit_price: c[1], discount: d, total: gross - d };
    // keep sorted by total, highest first; equal totals stay in order
    let j = lines.length;
    while (j > 0 && lines[j - 1].total < line.total) {
      j--;
    }
    lines.splice(j, 0, line);
  }
  const discountable = disc;
  disc = 0;
  let gold = 0;
  if (tier == "gold") {
    gold = rnd(discountable * 3, 100);
    disc = gold;
  }
  if (code == "WELCOME10") {
    if (discountable >= 2000) {
      disc = disc + rnd((discountable - gold) * 10, 100);
    }
  } else if (code == "TEA5") {
    if (teas >= 3) {
      if (discountable - gold < 500) {
        disc = disc + (discountable - gold);
      } else {
        disc = disc + 500;
      }
    }
  }
  const goods = discountable - disc;

  let ship = 0;
  let tax = 0;
  let cur = "";
  if (region == "EU") {
    cur = "EUR";
    if (onlyGifts || code == "FREESHIP" || goods >= 5000) {
      ship = 0;
    } else {
      ship = 495;
      if (weight > 1000) {
        const extra = weight - 1000;
        let steps = Math.floor(extra / 500);
        if (extra % 500 != 0) {
          steps++;
        }
        ship = ship + steps * 100;
      }
    }
    tax = rnd((goods + ship) * 2000, 10000);
  } else if (region == "UK") {
    cur = "GBP";
    if (onlyGifts || code == "FREESHIP" || goods >= 4500) {
      ship = 0;
    } else {
      ship = 595;
      if (weight > 1000) {
        const extra = weight - 1000;
        let steps = Math.floor(extra / 500);
        if (extra % 500 != 0) {
          steps++;
        }
        ship = ship + steps * 100;
      }
    }
    tax = rnd((goods + ship) * 2000, 10000);
  } else if (region == "US") {
    cur = "USD";
    if (onlyGifts || code == "FREESHIP" || goods >= 7500) {
      ship = 0;
    } else {
      ship = 895;
      if (weight > 1000) {
        const extra = weight - 1000;
        let steps = Math.floor(extra / 500);
        if (extra % 500 != 0) {
          steps++;
        }
        ship = ship + steps * 100;
      }
    }
    tax = 0;
  } else {
    cur = "CHF";
    if (onlyGifts || code == "FREESHIP" || goods >= 10000) {
      ship = 0;
    } else {
      ship = 1295;
      if (weight > 1000) {
        const extra = weight - 1000;
        let steps = Math.floor(extra / 500);
        if (extra % 500 != 0) {
          steps++;
        }
        ship = ship + steps * 100;
      }
    }
    tax = rnd((goods + ship) * 810, 10000);
  }

  send(req, res, 200, {
    currency: cur, lines: lines, subtotal: sub, discount: disc,
    shipping: ship, tax: tax, total: sub - disc + ship + tax,
  });
}

const server = createServer((req, res) => {
  const path = (req.url || "/").split("?")[0];
  if (path == "/healthz") {
    send(req, res, 200, { status: "ok" });
    return;
  }
  if (path != "/api/quote") {
    send(req, res, 404, { error: "not found" });
    return;
  }
  if (req.method != "POST") {
    // GET, HEAD, PUT, PATCH, DELETE, OPTIONS... (node drops the unread body itself)
    send(req, res, 405, { error: "method not allowed" });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooBig = false;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size > 1 << 20) {
      tooBig = true; // keep reading so the client gets its answer, but keep nothing
    } else {
      chunks.push(c);
    }
  });
  req.on("end", () => {
    try {
      quote(req, res, Buffer.concat(chunks).toString("utf8"), tooBig);
    } catch (e) {
      console.error("quote:", e);
      if (!res.headersSent) send(req, res, 500, { error: "internal error" });
    }
  });
});

const port = Number(process.env.PORT || "3000");
server.listen(port, () => console.log(`pricing listening on :${port}`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
