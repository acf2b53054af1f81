// circuit-breaker: the breaker is a transition table (state x event -> handler), and every
// downstream call carries the breaker's generation so a result that arrives after the breaker
// moved on (P15) is dropped instead of being applied to the wrong state.
import { createServer, IncomingMessage, ServerResponse } from "node:http";

const port = Number(process.env.PORT || "3000");
const downstreamURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");

const THRESHOLD = 5; // P9
const COOLDOWN_MS = 1000; // P11
const DEADLINE_MS = 500; // P4

type State = "closed" | "open" | "half_open";
type Event = "request" | "success" | "failure";
type Breaker = { state: State; failures: number; openedAt: number; gen: number };
// What the `request` event decides: call the downstream (tagged with a generation) or refuse.
type Admission = { admit: true; gen: number } | { admit: false; retryAfter: number };
type Handler = (b: Breaker, now: number) => Admission | void;

const breaker: Breaker = { state: "closed", failures: 0, openedAt: 0, gen: 0 };

function moveTo(b: Breaker, s: State, now: number): void {
  b.state = s;
  b.gen++;
  if (s === "open") b.openedAt = now;
  if (s === "closed") b.failures = 0;
}

const refuse = (b: Breaker, now: number): Admission => ({
  admit: false,
  retryAfter: Math.max(1, Math.ceil((b.openedAt + COOLDOWN_MS - now) / 1000)),
});

const table: Record<State, Partial<Record<Event, Handler>>> = {
  closed: {
    request: (b) => ({ admit: true, gen: b.gen }),
    success: (b) => {
      b.failures = 0;
    },
    failure: (b, now) => {
      if (++b.failures >= THRESHOLD) moveTo(b, "open", now);
    },
  },
  open: {
    request: (b, now) => {
      if (now - b.openedAt < COOLDOWN_MS) return refuse(b, now);
      moveTo(b, "half_open", now); // this request is the probe
      return { admit: true, gen: b.gen };
    },
  },
  half_open: {
    request: refuse, // the probe is in flight
    success: (b, now) => moveTo(b, "closed", now),
    failure: (b, now) => moveTo(b, "open", now),
  },
};

function dispatch(ev: "request", now: number): Admission;
function dispatch(ev: "success" | "failure", now: number, gen: number): void;
function dispatch(ev: Event, now: number, gen?: number): Admission | void {
  if (ev !== "request" && gen !== breaker.gen) return; // stale result (P15)
  const h = table[breaker.state][ev];
  return h ? h(breaker, now) : undefined;
}

type Outcome =
  | { kind: "answer"; status: number; body: Buffer; contentType: string | null }
  | { kind: "error"; status: 502 | 504; at: number };

async function callDownstream(symbol: string): Promise<Outcome> {
  const ctl = new AbortController();
  let deadlineAt = 0;
  const timer = setTimeout(() => {
    deadlineAt = Date.now();
    ctl.abort();
  }, DEADLINE_MS);
  try {
    const r = await fetch(`${downstreamURL}/quote?symbol=${encodeURIComponent(symbol)}`, { signal: ctl.signal });
    const body = Buffer.from(await r.arrayBuffer()); // the body counts against the deadline too
    if (r.status >= 500) return { kind: "error", status: 502, at: Date.now() };
    return { kind: "answer", status: r.status, body, contentType: r.headers.get("content-type") };
  } catch {
    if (deadlineAt) return { kind: "error", status: 504, at: deadlineAt };
    return { kind: "error", status: 502, at: Date.now() };
  } finally {
    clearTimeout(timer);
  }
}

async function quote(res: ServerResponse, symbol: string): Promise<void> {
  if (!symbol) return sendJSON(res, 400, { error: "symbol is required" });
  const a = dispatch("request", Date.now());
  if (!a.admit) {
    return sendJSON(res, 503, { error: "circuit open" }, { "Retry-After": String(a.retryAfter) });
  }
  const o = await callDownstream(symbol);
  if (o.kind === "answer") {
    dispatch(o.status < 400 ? "success" : "failure", Date.now(), a.gen);
    res.writeHead(o.status, {
      "Content-Type": o.contentType ?? "application/json",
      "Content-Length": o.body.length,
    });
    return void res.end(o.body);
  }
  dispatch("failure", o.at, a.gen);
  sendJSON(res, o.status, { error: o.status === 504 ? "downstream timed out" : "downstream failed" });
}

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method === "GET" && url.pathname === "/healthz") {
    return sendJSON(res, 200, { status: "ok", breaker: breaker.state });
  }
  if (req.method === "GET" && url.pathname === "/api/quote") {
    return quote(res, url.searchParams.get("symbol") ?? "");
  }
  sendJSON(res, 404, { error: "not found" });
}

function sendJSON(res: ServerResponse, code: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

server.listen(port, () => console.log(`listening on :${port} (downstream ${downstreamURL})`));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
