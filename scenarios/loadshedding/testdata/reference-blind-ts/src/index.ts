// Load shedding in front of a slow downstream (Holdfast "load-shedding", TypeScript).
//
// The permits are run by a tiny state machine: every POST /api/work that passes validation gets a
// Ticket, and a ticket only ever moves along the edges of TRANSITIONS. Side effects (waking the
// waiting request, stopping its wait timer) hang off the *entry* into a state, so a ticket can be
// granted at most once, shed at most once, and released at most once — whatever order the timer,
// the hand-off and the finally block happen to fire in. The single event loop is the "actor": all
// events are dispatched synchronously through Gate.fire, so no lock is needed.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";

const port = Number(process.env.PORT || "3000");
const downstreamURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");

const PERMITS = 4;
const MAX_WAIT_MS = 80; // the brief allows 100 ms from arrival; keep a margin for the body read
const DEADLINE_MS = 1000;
const MAX_BODY = 64 * 1024;

// ---------------------------------------------------------------- the permit state machine

type State = "waiting" | "held" | "released" | "shed";
type Event = "grant" | "expire" | "release";

const TRANSITIONS: Record<State, Partial<Record<Event, State>>> = {
  waiting: { grant: "held", expire: "shed" },
  held: { release: "released" },
  released: {},
  shed: {},
};

class Ticket {
  state: State = "waiting";
  wake: (granted: boolean) => void = () => {};
  timer: NodeJS.Timeout | undefined;
}

const ON_ENTER: Record<State, (t: Ticket) => void> = {
  waiting: () => {},
  held: (t) => {
    if (t.timer) clearTimeout(t.timer);
    t.wake(true);
  },
  shed: (t) => t.wake(false),
  released: () => {},
};

class Gate {
  private free: number;
  // FIFO of tickets that asked while no permit was free. An expired ticket is not spliced out
  // (that would be O(n)); it stays in line and the hand-off skips it, because "grant" is not an
  // edge out of "shed".
  private line: Ticket[] = [];

  constructor(permits: number) {
    this.free = permits;
  }

  private fire(t: Ticket, e: Event): boolean {
    const next = TRANSITIONS[t.state][e];
    if (next === undefined) return false;
    t.state = next;
    ON_ENTER[next](t);
    return true;
  }

  /** Resolves to a held ticket, or to null when no permit came free within waitMs. */
  acquire(waitMs: number): Promise<Ticket | null> {
    const t = new Ticket();
    if (this.free > 0) {
      this.free--; // checked and taken without an await in between
      this.fire(t, "grant");
      return Promise.resolve(t);
    }
    if (waitMs <= 0) {
      this.fire(t, "expire");
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      t.wake = (granted) => resolve(granted ? t : null);
      t.timer = setTimeout(() => this.fire(t, "expire"), waitMs);
      this.line.push(t);
    });
  }

  /** Gives the permit straight to the oldest live waiter, else back to the pool. Idempotent. */
  release(t: Ticket): void {
    if (!this.fire(t, "release")) return;
    while (this.line.length > 0) {
      const next = this.line.shift()!;
      if (this.fire(next, "grant")) return; // hand-off: the permit never touches `free`
    }
    this.free++;
  }
}

const gate = new Gate(PERMITS);

// ---------------------------------------------------------------- HTTP

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
    return sendJSON(res, 200, { status: "ok" }); // never touches the gate
  }
  if (req.method === "POST" && url.pathname === "/api/work") {
    return work(req, res);
  }
  sendJSON(res, 404, { error: "not found" });
}

type Outcome = { status: number; raw?: Buffer; contentType?: string; error?: string };

async function work(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const arrived = performance.now();
  let text: string;
  try {
    text = await readBody(req);
  } catch {
    return sendJSON(res, 400, { error: "unreadable body" });
  }
  const id = parseId(text);
  if (id === null) return sendJSON(res, 400, { error: "body must be {\"id\": \"<1-64 characters>\"}" });

  const ticket = await gate.acquire(MAX_WAIT_MS - (performance.now() - arrived));
  if (ticket === null) return sendJSON(res, 503, { error: "overloaded, retry later" }, { "Retry-After": "1" });

  let outcome: Outcome;
  try {
    outcome = await callDownstream(id);
  } finally {
    gate.release(ticket); // the answer is decided: whatever it is, the permit goes back
  }
  if (outcome.status === 200 && outcome.raw) {
    res.writeHead(200, { "Content-Type": outcome.contentType || "application/json", "Content-Length": outcome.raw.length });
    res.end(outcome.raw);
    return;
  }
  sendJSON(res, outcome.status, { error: outcome.error ?? "downstream failed" });
}

function parseId(text: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const id = (value as Record<string, unknown>).id;
  if (typeof id !== "string") return null;
  const chars = Array.from(id).length; // characters = code points, not UTF-16 units
  return chars >= 1 && chars <= 64 ? id : null;
}

async function callDownstream(id: string): Promise<Outcome> {
  const signal = AbortSignal.timeout(DEADLINE_MS); // covers connect, headers and body
  try {
    const r = await fetch(`${downstreamURL}/work`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id }),
      signal,
    });
    if (r.status >= 500) {
      await r.body?.cancel().catch(() => {});
      return { status: 502, error: `downstream answered ${r.status}` };
    }
    const raw = Buffer.from(await r.arrayBuffer());
    if (r.status === 200) return { status: 200, raw, contentType: r.headers.get("content-type") ?? undefined };
    return { status: 502, error: `downstream answered ${r.status}` };
  } catch (err) {
    if (signal.aborted) return { status: 504, error: "downstream did not answer within 1s" };
    return { status: 502, error: `downstream unreachable: ${(err as Error).message}` };
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error("body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sendJSON(res: ServerResponse, code: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

// Node loads its fetch implementation (undici) on the first call, which stalls the event loop for
// a moment; pay that before the first request instead of during it. A data: URL touches no network.
void fetch("data:,").catch(() => {});

server.listen(port, () => console.log(`listening on :${port} (downstream ${downstreamURL})`));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
