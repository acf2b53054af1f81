// A broken variant of the capacity-checkout challenge in TypeScript: pg's Pool is capped at 8
// connections, but connectionTimeoutMillis is left out, and pg's default (0) waits for a
// connection forever. Under overload the waiters pile up faster than the pool serves them:
// latency grows with every second of overload, and a waiter whose client has given up still
// holds its place in the queue, so the backlog is served long after the load drops.
//
// What follows is the reference's description, less the bounded wait.
// POST /checkout holds one of at most 8 Postgres connections (pg's Pool, max 8, all opened at
// start) for the whole order: it inserts the order, charges the provider and marks the order
// paid in one transaction, so an order is never left half-written. The pool is what saturates
// first: 8 connections ÷ the provider's 100 ms is about 80 checkouts/s (CAPACITY.yaml). A
// request waits at most 300 ms for a connection (connectionTimeoutMillis); past that it is
// answered 503 with Retry-After, so overload is shed at once instead of queued. A provider
// failure is answered 502 without retrying: a retry is the caller's to make.
import { randomBytes } from "node:crypto";
import { Agent, createServer, IncomingMessage, request, ServerResponse } from "node:http";
import { Pool, PoolClient } from "pg";
import Redis from "ioredis";

const port = Number(process.env.PORT || "3000");
const provider = new URL((process.env.PROVIDER_URL || "http://provider:8080").replace(/\/+$/, "") + "/v1/charges");

const poolSize = 8; // the brief's cap on Postgres connections
const providerTimeoutMs = 1000; // one charge request
const queryTimeoutMs = 2000;
const redisTimeoutMs = 500;
const startupTimeoutMs = 30_000;

if (!process.env.DATABASE_URL || !process.env.REDIS_URL) {
  console.error("DATABASE_URL and REDIS_URL must be set");
  process.exit(1);
}

// idleTimeoutMillis 0: connections opened at start stay open, so none is opened under load.
const db = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: poolSize,
  idleTimeoutMillis: 0,
  query_timeout: queryTimeoutMs,
});
db.on("error", (err) => console.error("idle database connection failed:", err.message));
const redis = new Redis(process.env.REDIS_URL, { lazyConnect: true, commandTimeout: redisTimeoutMs, maxRetriesPerRequest: 1 });
redis.on("error", (err) => console.error("redis:", err.message));
const providerAgent = new Agent({ keepAlive: true, maxSockets: 64 });

const schema = `
CREATE TABLE IF NOT EXISTS orders (
  id         text PRIMARY KEY,
  sku        text NOT NULL,
  quantity   int NOT NULL,
  amount     bigint NOT NULL,
  status     text NOT NULL,
  charge_id  text,
  created_at timestamptz NOT NULL DEFAULT now()
)`;

class HTTPError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    if (err instanceof HTTPError) {
      if (!res.headersSent) sendJSON(res, err.status, { error: err.message }, err.headers);
      return;
    }
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method === "GET" && path === "/healthz") {
    req.resume();
    return sendJSON(res, 200, { status: "ok" });
  }
  if (req.method === "POST" && path === "/checkout") {
    return checkout(req, res);
  }
  req.resume();
  sendJSON(res, 404, { error: "not found" });
}

// checkout handles POST /checkout.
async function checkout(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: { sku?: unknown; quantity?: unknown };
  try {
    body = JSON.parse(await readBody(req, 64 << 10));
  } catch {
    throw new HTTPError(400, "body must be JSON {sku, quantity}");
  }
  const { sku, quantity } = body ?? {};
  if (typeof sku !== "string" || sku === "" || sku.length > 64 || !Number.isInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 100) {
    throw new HTTPError(400, "sku (1-64 characters) and quantity (1-100) are required");
  }
  let priceText: string | null;
  try {
    priceText = await redis.get(`price:${sku}`);
  } catch (err) {
    console.error(`price of ${sku}:`, (err as Error).message);
    throw new HTTPError(503, "prices unavailable", { "Retry-After": "1" });
  }
  if (priceText === null) throw new HTTPError(404, "unknown sku");
  const amount = Number(priceText) * (quantity as number);

  let client: PoolClient;
  try {
    client = await db.connect();
  } catch {
    throw new HTTPError(503, "overloaded: try again shortly", { "Retry-After": "1" });
  }
  const id = "ord_" + randomBytes(12).toString("hex");
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    await client.query("INSERT INTO orders (id, sku, quantity, amount, status) VALUES ($1, $2, $3, $4, 'pending')", [id, sku, quantity, amount]);
    let chargeID: string;
    try {
      chargeID = await charge(id, amount);
    } catch (err) {
      console.error(`charge ${id}:`, (err as Error).message);
      await client.query("ROLLBACK");
      throw new HTTPError(502, "payment provider failed");
    }
    await client.query("UPDATE orders SET status = 'paid', charge_id = $2 WHERE id = $1", [id, chargeID]);
    await client.query("COMMIT");
  } catch (err) {
    if (err instanceof HTTPError) throw err;
    // A failed query may leave the connection mid-transaction or dead: drop it.
    broken = err as Error;
    console.error(`order ${id}:`, broken.message);
    throw new HTTPError(503, "database unavailable", { "Retry-After": "1" });
  } finally {
    client.release(broken);
  }
  sendJSON(res, 201, { order_id: id, amount, status: "paid" });
}

// charge asks the provider once, with the order id as its idempotency key, and gives up after
// providerTimeoutMs.
function charge(orderID: string, amount: number): Promise<string> {
  const data = JSON.stringify({ amount, currency: "usd", payment_id: orderID });
  return new Promise((resolve, reject) => {
    const req = request(provider, {
      method: "POST",
      agent: providerAgent,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data), "Idempotency-Key": orderID },
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${providerTimeoutMs} ms`)), providerTimeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on("end", () => {
        clearTimeout(timer);
        if (!res.statusCode || res.statusCode < 200 || res.statusCode >= 300) {
          return reject(new Error(`provider answered ${res.statusCode}`));
        }
        try {
          const id = JSON.parse(Buffer.concat(chunks).toString()).id;
          if (typeof id !== "string") return reject(new Error("provider answer has no id"));
          resolve(id);
        } catch (err) {
          reject(new Error(`provider answer: ${(err as Error).message}`));
        }
      });
    });
    req.end(data);
  });
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HTTPError(413, "body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString()));
    req.on("error", reject);
  });
}

function sendJSON(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}

// start creates the table and opens every pool connection before serving: a connection opened
// under load makes its checkout wait, and the first load steps are short.
async function start(): Promise<void> {
  const deadline = Date.now() + startupTimeoutMs;
  for (;;) {
    try {
      await db.query(schema);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      console.error("database not reachable yet:", (err as Error).message);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const clients: PoolClient[] = [];
  for (let i = 0; i < poolSize; i++) clients.push(await connectWithin(deadline));
  for (const c of clients) c.release();
  await redis.connect();
  server.listen(port, () => console.log(`listening on ${port}`));
}

async function connectWithin(deadline: number): Promise<PoolClient> {
  for (;;) {
    try {
      return await db.connect();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

process.on("SIGTERM", () => server.close(() => process.exit(0)));
start().catch((err) => {
  console.error("start:", err);
  process.exit(1);
});
