// Prices service: answers product prices for the shop's pages from the catalog service, with a
// cache in front. Owned by the storefront team; see README.md for the open incident.
import { createServer, IncomingMessage, ServerResponse } from "node:http";

// Catalog calls. Reads are retried (they are idempotent); writes are not.
const ATTEMPT_TIMEOUT_MS = 300; // per catalog read attempt (SLO: p99 page < 1.5 s)
const READ_ATTEMPTS = 3;
const WRITE_TIMEOUT_MS = 2000;
const CACHE_TTL_MS = 60_000;
const MAX_BODY = 64 << 10;

// BACKOFF_MS is the wait before the 2nd and the 3rd read attempt.
const BACKOFF_MS = [50, 100];

// CURRENCIES are the currencies a price is served in; the catalog converts.
const CURRENCIES = ["EUR", "USD", "GBP"];

type Entry = { version: number; expires: number };

// Cache holds catalog answers per product and currency. One event loop runs every request, so
// it needs no lock.
class Cache {
  private epoch = 0;
  private items = new Map<string, Entry>();

  // key is the cache key of a product in a currency.
  private key(id: string, currency: string): string {
    return `${id}:${currency}`;
  }

  get(id: string, currency: string): { version: number; epoch: number; ok: boolean } {
    const e = this.items.get(this.key(id, currency));
    if (!e || Date.now() > e.expires) return { version: 0, epoch: this.epoch, ok: false };
    return { version: e.version, epoch: this.epoch, ok: true };
  }

  put(id: string, currency: string, version: number): void {
    this.items.set(this.key(id, currency), { version, expires: Date.now() + CACHE_TTL_MS });
  }

  // invalidate makes the next read of a product go to the catalog, in every currency.
  //
  // INC-2291: this used to bump a cache-wide epoch, so every price update dropped EVERY product
  // (hit ratio 3 % during the import). Now only the updated product's currencies are dropped.
  invalidate(id: string): number {
    for (const currency of CURRENCIES) this.items.delete(this.key(id, currency));
    this.epoch++;
    return this.epoch;
  }

  // sweep drops expired entries, so the map does not grow without bound.
  sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.items) {
      if (now > e.expires) this.items.delete(k);
    }
  }
}

// CatalogTimeout marks a catalog read whose every attempt ran out of time.
class CatalogTimeout extends Error {
  constructor() {
    super("catalog did not answer in time");
  }
}

class Server {
  constructor(
    private catalog: string,
    private cache: Cache,
  ) {}

  // fetchOnce reads a product's record in a currency from the catalog. page is aborted when the
  // page's request goes away.
  async fetchOnce(page: AbortSignal, id: string, currency: string): Promise<number> {
    const { signal, clear } = deadline(page, ATTEMPT_TIMEOUT_MS);
    let status: number;
    let body: string;
    try {
      const resp = await fetch(`${this.catalog}/catalog/products/${id}?currency=${currency}`, { signal });
      status = resp.status;
      body = await resp.text(); // the body counts against the attempt's time too
    } catch (err) {
      if (signal.aborted) throw new CatalogTimeout();
      throw err;
    } finally {
      clear();
    }
    if (status !== 200) throw new Error(`catalog answered ${status}`);
    let rec: { version?: unknown };
    try {
      rec = JSON.parse(body.slice(0, MAX_BODY));
    } catch (err) {
      throw new Error(`catalog record: ${errorText(err)}`);
    }
    if (rec === null || typeof rec !== "object") throw new Error("catalog record: not an object");
    const version = rec.version ?? 0;
    if (typeof version !== "number" || !Number.isInteger(version)) throw new Error("catalog record: version is not an integer");
    return version;
  }

  // fetch reads with retries: up to READ_ATTEMPTS attempts, with backoff between them.
  async fetch(page: AbortSignal, id: string, currency: string): Promise<number> {
    let err: unknown;
    for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
      if (attempt > 1) {
        log("WARN", "catalog read failed, retrying", { product: id, currency, attempt, err: errorText(err) });
        await sleep(BACKOFF_MS[attempt - 2], page);
      }
      try {
        return await this.fetchOnce(page, id, currency);
      } catch (e) {
        // INC-2291: 780 of the 1,180 catalog reads/s at the peak were retries of timed-out
        // attempts. A catalog that is too slow to answer in time is overloaded: retrying it
        // only piles on. Retry failed connections and 5xx, give up at once on a timeout.
        if (e instanceof CatalogTimeout) throw e;
        err = e;
      }
    }
    throw err;
  }

  async getProduct(req: IncomingMessage, res: ServerResponse, id: string, query: URLSearchParams): Promise<void> {
    const currency = query.get("currency") || "EUR";
    if (!CURRENCIES.includes(currency)) return sendJSON(res, 400, { error: "unsupported currency" });
    const hit = this.cache.get(id, currency);
    if (hit.ok) return sendJSON(res, 200, { id, currency, version: hit.version });
    log("INFO", "cache miss", { product: id, currency, epoch: hit.epoch });
    const start = Date.now();
    let version: number;
    try {
      version = await this.fetch(pageSignal(req, res), id, currency);
    } catch (err) {
      log("ERROR", "catalog read gave up", { product: id, currency, after: duration(Date.now() - start), err: errorText(err) });
      if (err instanceof CatalogTimeout) return sendJSON(res, 504, { error: "catalog timeout" });
      return sendJSON(res, 502, { error: "catalog unavailable" });
    }
    this.cache.put(id, currency, version);
    sendJSON(res, 200, { id, currency, version });
  }

  async updatePrice(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const body = await readBody(req);
    const price = priceOf(body);
    if (price === undefined) return sendJSON(res, 400, { error: "price must be a positive integer (cents)" });
    const { signal, clear } = deadline(pageSignal(req, res), WRITE_TIMEOUT_MS);
    let status: number;
    try {
      const resp = await fetch(`${this.catalog}/catalog/products/${id}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body,
        signal,
      });
      status = resp.status;
      await resp.arrayBuffer();
    } catch (err) {
      log("ERROR", "catalog write failed", { product: id, err: errorText(err) });
      return sendJSON(res, 502, { error: "catalog unavailable" });
    } finally {
      clear();
    }
    if (Math.floor(status / 100) !== 2) {
      log("ERROR", "catalog write refused", { product: id, status });
      return sendJSON(res, 502, { error: "catalog unavailable" });
    }
    const epoch = this.cache.invalidate(id);
    log("INFO", "price updated", { product: id, price, epoch });
    res.writeHead(204).end();
  }
}

// priceOf returns the body's price when it is a positive integer, else undefined.
function priceOf(body: Buffer): number | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  // As in Go's encoding/json, the key matches without regard to case, and the last one counts.
  let price: unknown;
  for (const [k, x] of Object.entries(v)) {
    if (k.toLowerCase() === "price") price = x;
  }
  return typeof price === "number" && Number.isSafeInteger(price) && price > 0 ? price : undefined;
}

// deadline returns a signal aborted after ms, or as soon as page is, and clear, which stops its
// timer. Not AbortSignal.any([page, AbortSignal.timeout(ms)]): in Node 20 a garbage collection can
// take the timeout signal inside it before it fires, and the call then never gives up
// (nodejs/node#57736). A plain timer keeps its controller alive until it fires.
function deadline(page: AbortSignal, ms: number): { signal: AbortSignal; clear: () => void } {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), ms);
  const onPage = () => ctl.abort();
  if (page.aborted) ctl.abort();
  else page.addEventListener("abort", onPage, { once: true });
  return {
    signal: ctl.signal,
    clear: () => {
      clearTimeout(timer);
      page.removeEventListener("abort", onPage);
    },
  };
}

// pageSignal is aborted when the page's client goes away before it was answered.
function pageSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const ctl = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) ctl.abort();
  });
  return ctl.signal;
}

// sleep waits ms, or less when signal is aborted first (then it throws).
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error("the page's request went away"));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error("the page's request went away"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    if (size < MAX_BODY) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY);
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value) + "\n";
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}

// duration formats milliseconds as the logs do: 350ms, 1.062s.
function duration(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}

// log writes one line in the logfmt the dashboards parse: time=… level=… msg=… key=value….
function log(level: "INFO" | "WARN" | "ERROR", msg: string, attrs: Record<string, string | number> = {}): void {
  const quote = (v: string | number) => {
    const s = String(v);
    return s === "" || /[\s="\\]/.test(s) ? JSON.stringify(s) : s;
  };
  const parts = [`time=${new Date().toISOString()}`, `level=${level}`, `msg=${quote(msg)}`];
  for (const [k, v] of Object.entries(attrs)) parts.push(`${k}=${quote(v)}`);
  console.log(parts.join(" "));
}

function main(): void {
  const catalog = (process.env.DOWNSTREAM_URL ?? "").replace(/\/+$/, "");
  if (!catalog) {
    log("ERROR", "DOWNSTREAM_URL is not set: the catalog service's base URL");
    process.exit(1);
  }
  const port = process.env.PORT || "3000";
  const cache = new Cache();
  const s = new Server(catalog, cache);
  setInterval(() => cache.sweep(), 30_000).unref();

  const server = createServer((req, res) => {
    route(req, res).catch((err) => {
      log("ERROR", "request failed", { method: req.method ?? "", path: req.url ?? "", err: errorText(err) });
      if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/healthz") {
      if (req.method !== "GET") return sendJSON(res, 405, { error: "method not allowed" });
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      return void res.end("ok");
    }
    const m = /^\/api\/products\/([^/]+)$/.exec(url.pathname);
    if (!m) return sendJSON(res, 404, { error: "not found" });
    const id = decodeURIComponent(m[1]);
    if (req.method === "GET") return s.getProduct(req, res, id, url.searchParams);
    if (req.method === "PUT") return s.updatePrice(req, res, id);
    sendJSON(res, 405, { error: "method not allowed" });
  }

  server.listen(Number(port), () => log("INFO", "prices listening", { port, catalog }));

  // As PID 1 in a container, node ignores SIGTERM unless it handles it.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      server.close();
      server.closeAllConnections?.();
      process.exit(0);
    });
  }
}

main();
