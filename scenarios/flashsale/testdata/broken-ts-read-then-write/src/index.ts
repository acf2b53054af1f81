// flash-sale: one data-modifying CTE per order. The order row is claimed first
// (INSERT … ON CONFLICT DO NOTHING takes the unique-key lock, so concurrent copies of one
// order queue behind each other), and the stock is only decremented *if* the claim won, by a
// conditional UPDATE (stock >= q) that Postgres re-checks against the latest committed row.
// The transaction commits only when both happened; otherwise it rolls back and nothing stays.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { Pool, PoolClient } from "pg";

const port = Number(process.env.PORT || "3000");

if (!process.env.DATABASE_URL) {
  console.error("DATABASE_URL is not set");
  process.exit(1);
}

const db = new Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 3000, max: 20 });
db.on("error", (err) => console.error("idle database connection failed:", err.message));

const SKU_RE = /^[A-Za-z0-9_-]{1,64}$/;
const RETRYABLE = new Set(["40001", "40P01", "23505"]);

class HttpError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

async function schema(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const c = await db.connect().catch((e) => e as Error);
    if (c instanceof Error) {
      if (attempt > 30) throw c;
      await sleep(500);
      continue;
    }
    try {
      await c.query("BEGIN");
      await c.query("SELECT pg_advisory_xact_lock(724518)");
      await c.query(`CREATE TABLE IF NOT EXISTS fs_items (
        sku   text PRIMARY KEY,
        stock integer NOT NULL CHECK (stock >= 0))`);
      await c.query(`CREATE TABLE IF NOT EXISTS fs_orders (
        order_id   text PRIMARY KEY,
        sku        text NOT NULL,
        quantity   integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())`);
      await c.query("COMMIT");
      return;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => {});
      if (attempt > 30) throw e;
      await sleep(200);
    } finally {
      c.release();
    }
  }
}

// tx runs fn in a transaction; it retries on serialization failures / deadlocks.
async function tx<T>(fn: (c: PoolClient) => Promise<{ commit: boolean; value: T }>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const c = await db.connect();
    try {
      await c.query("BEGIN");
      const r = await fn(c);
      await c.query(r.commit ? "COMMIT" : "ROLLBACK");
      return r.value;
    } catch (e: any) {
      await c.query("ROLLBACK").catch(() => {});
      if (attempt < 8 && RETRYABLE.has(e?.code)) {
        await sleep(5 + Math.random() * 20 * (attempt + 1));
        continue;
      }
      throw e;
    } finally {
      c.release();
    }
  }
}

const CLAIM_AND_TAKE = `
WITH claim AS (
  INSERT INTO fs_orders (order_id, sku, quantity) VALUES ($1, $2, $3)
  ON CONFLICT (order_id) DO NOTHING
  RETURNING order_id
), take AS (
  UPDATE fs_items SET stock = $4
  WHERE sku = $2 AND EXISTS (SELECT 1 FROM claim)
  RETURNING stock
)
SELECT (SELECT count(*) FROM claim)::int AS claimed, (SELECT stock FROM take) AS stock_left`;

type Order = { order_id: string; sku: string; quantity: number; status: "confirmed" };
type Outcome =
  | { kind: "new" }
  | { kind: "sold_out" }
  | { kind: "no_item" }
  | { kind: "existing"; sku: string; q: number };
const order = (id: string, sku: string, q: number): Order => ({ order_id: id, sku, quantity: q, status: "confirmed" });

async function createOrder(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const b = await readJSON(req);
  if (b === null || typeof b !== "object" || Array.isArray(b)) throw new HttpError(400, "body must be a JSON object");
  const { order_id: id, sku, quantity: q } = b as Record<string, unknown>;
  if (typeof id !== "string" || [...id].length < 1 || [...id].length > 128 || id.includes("\u0000"))
    throw new HttpError(400, "order_id must be a string of 1 to 128 characters");
  if (typeof sku !== "string" || !SKU_RE.test(sku)) throw new HttpError(400, "invalid sku");
  if (typeof q !== "number" || !Number.isInteger(q) || q < 1 || q > 100)
    throw new HttpError(400, "quantity must be an integer from 1 to 100");

  const outcome = await tx<Outcome>(async (c) => {
    const cur = await c.query("SELECT stock FROM fs_items WHERE sku = $1", [sku]);
    if (!cur.rowCount) return { commit: false, value: { kind: "no_item" } };
    const have = cur.rows[0].stock as number;
    if (have < q) {
      // Not enough left — unless this is a retry of an order that already went through.
      const ex = await c.query("SELECT sku, quantity FROM fs_orders WHERE order_id = $1", [id]);
      if (ex.rowCount) return { commit: false, value: { kind: "existing", sku: ex.rows[0].sku, q: ex.rows[0].quantity } };
      return { commit: false, value: { kind: "sold_out" } };
    }
    const r = await c.query(CLAIM_AND_TAKE, [id, sku, q, have - q]);
    const { claimed, stock_left } = r.rows[0];
    if (claimed === 1 && stock_left !== null) return { commit: true, value: { kind: "new" } };
    if (claimed === 1) {
      // Claimed but not enough stock (or no such item): undo the claim.
      const it = await c.query("SELECT 1 FROM fs_items WHERE sku = $1", [sku]);
      return { commit: false, value: { kind: it.rowCount ? "sold_out" : "no_item" } };
    }
    // The order_id is taken by a committed order (ON CONFLICT waited for it): a new statement
    // sees it.
    const ex = await c.query("SELECT sku, quantity FROM fs_orders WHERE order_id = $1", [id]);
    if (!ex.rowCount) throw Object.assign(new Error("order vanished"), { code: "40001" });
    return { commit: false, value: { kind: "existing", sku: ex.rows[0].sku as string, q: ex.rows[0].quantity as number } };
  });

  switch (outcome.kind) {
    case "new":
      return sendJSON(res, 201, order(id, sku, q));
    case "sold_out":
      return sendJSON(res, 409, { error: "sold_out" });
    case "no_item":
      return sendJSON(res, 404, { error: "no such item" });
    case "existing":
      if (outcome.sku !== sku || outcome.q !== q) return sendJSON(res, 422, { error: "order_id already used for another order" });
      return sendJSON(res, 200, order(id, sku, q));
  }
}

async function putItem(req: IncomingMessage, res: ServerResponse, sku: string): Promise<void> {
  if (!SKU_RE.test(sku)) throw new HttpError(400, "invalid sku");
  const b = await readJSON(req);
  if (b === null || typeof b !== "object" || Array.isArray(b)) throw new HttpError(400, "body must be a JSON object");
  const stock = (b as Record<string, unknown>).stock;
  if (typeof stock !== "number" || !Number.isInteger(stock) || stock < 0 || stock > 1000000)
    throw new HttpError(400, "stock must be an integer from 0 to 1000000");
  const r = await db.query(
    `INSERT INTO fs_items (sku, stock) VALUES ($1, $2)
     ON CONFLICT (sku) DO UPDATE SET stock = EXCLUDED.stock
     RETURNING (xmax = 0) AS created`,
    [sku, stock],
  );
  sendJSON(res, r.rows[0].created ? 201 : 200, { sku, stock });
}

async function getItem(res: ServerResponse, sku: string): Promise<void> {
  if (!SKU_RE.test(sku)) return sendJSON(res, 404, { error: "no such item" });
  const r = await db.query("SELECT stock FROM fs_items WHERE sku = $1", [sku]);
  if (!r.rowCount) return sendJSON(res, 404, { error: "no such item" });
  sendJSON(res, 200, { sku, stock: r.rows[0].stock });
}

async function getOrder(res: ServerResponse, id: string): Promise<void> {
  const r = await db.query("SELECT sku, quantity FROM fs_orders WHERE order_id = $1", [id.replace(/\u0000/g, "")]);
  if (!r.rowCount) return sendJSON(res, 404, { error: "no such order" });
  sendJSON(res, 200, order(id, r.rows[0].sku, r.rows[0].quantity));
}

async function readJSON(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const ch of req) {
    size += (ch as Buffer).length;
    if (size > 1 << 16) throw new HttpError(400, "body too large");
    chunks.push(ch as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "invalid JSON");
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    if (err instanceof HttpError) return sendJSON(res, err.status, { error: err.message });
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method === "GET" && path === "/healthz") return sendJSON(res, 200, { status: "ok" });
  if (req.method === "POST" && path === "/api/orders") return createOrder(req, res);
  const item = /^\/api\/items\/([^/]*)$/.exec(path);
  if (item && req.method === "PUT") return putItem(req, res, pathSegment(item[1]));
  if (item && req.method === "GET") return getItem(res, pathSegment(item[1]));
  const ord = /^\/api\/orders\/([^/]+)$/.exec(path);
  if (ord && req.method === "GET") return getOrder(res, pathSegment(ord[1]));
  sendJSON(res, 404, { error: "not found" });
}

function pathSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

schema()
  .then(() => server.listen(port, () => console.log(`listening on :${port} (${process.env.INSTANCE_ID || "app-1"})`)))
  .catch((e) => {
    console.error("schema:", e);
    process.exit(1);
  });

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    db.end().finally(() => process.exit(0));
  });
}
