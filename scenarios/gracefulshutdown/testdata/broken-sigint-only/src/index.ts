// BROKEN VARIANT of the graceful-shutdown TypeScript reference.
//
// The mistake: only SIGINT is handled — the signal Ctrl-C sends, so the shutdown works every
// time it is tried by hand with `npm start` in a terminal. A container platform sends SIGTERM,
// and node running as PID 1 has no default action for it: the signal is ignored. The service
// keeps answering /readyz 200 and taking new transfers until the platform gives up and sends
// SIGKILL, which cuts down whatever is in flight.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { Pool, PoolClient } from "pg";

const drainLimitMs = 5_000; // in-flight requests get this long after SIGTERM
const maxWorkMs = 3_000; // the contract's upper bound on work_ms
const maxAmount = 1_000_000_000; // the contract's upper bound on amount
const startupTimeoutMs = 30_000; // how long to wait for the database at start-up
const maxBodyBytes = 64 << 10;

// The contract fixes this schema: the grader reads both tables to check that every transfer is
// all or nothing.
const schema = `
CREATE TABLE IF NOT EXISTS transfers (
	id           text PRIMARY KEY,
	from_account text NOT NULL,
	to_account   text NOT NULL,
	amount       bigint NOT NULL CHECK (amount > 0),
	created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ledger (
	id          bigserial PRIMARY KEY,
	transfer_id text NOT NULL REFERENCES transfers (id),
	account     text NOT NULL,
	amount      bigint NOT NULL
)`;

const validName = /^[A-Za-z0-9_-]{1,64}$/;

interface Transfer {
  id: string;
  from: string;
  to: string;
  amount: number;
}

class HTTPError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

const databaseURL = process.env.DATABASE_URL;
if (!databaseURL) {
  console.error("DATABASE_URL is not set");
  process.exit(1);
}
const port = Number(process.env.PORT || "3000");

// Every transfer in flight holds a client for its whole transaction, work included.
const db = new Pool({ connectionString: databaseURL, max: 16, connectionTimeoutMillis: 3_000 });
db.on("error", (err) => console.error("idle database connection failed:", err.message));

let started = false; // the schema exists
let draining = false; // SIGTERM arrived
let inFlight = 0; // requests received and not yet answered

const server = createServer((req, res) => {
  inFlight++;
  res.on("close", () => {
    inFlight--;
    if (draining && inFlight === 0) void exitWhenDrained();
  });
  // Checked when the request arrives: one that arrived before SIGTERM is finished normally.
  const arrivedWhileDraining = draining;
  if (draining) res.setHeader("Connection", "close");
  route(req, res, arrivedWhileDraining).catch((err) => {
    if (err instanceof HTTPError) return sendError(res, err.code, err.message);
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendError(res, 500, "internal error");
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse, arrivedWhileDraining: boolean): Promise<void> {
  const path = (req.url ?? "/").split("?", 1)[0];
  if (req.method === "GET" && path === "/healthz") {
    // Liveness: the process is up. It stays 200 while draining.
    if (!started) return sendError(res, 503, "starting");
    return sendJSON(res, 200, { status: "ok" });
  }
  if (req.method === "GET" && path === "/readyz") {
    // Readiness: may new work be sent here? Not before start-up is done, not after SIGTERM.
    if (!started || draining) return sendError(res, 503, "not ready");
    return sendJSON(res, 200, { status: "ready" });
  }
  if (req.method === "POST" && path === "/api/transfers") {
    if (!started || arrivedWhileDraining) return sendError(res, 503, "shutting down");
    return createTransfer(req, res);
  }
  const m = /^\/api\/transfers\/([^/]+)$/.exec(path);
  if (req.method === "GET" && m) return getTransfer(res, pathSegment(m[1]));
  sendError(res, 404, "not found");
}

async function createTransfer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { transfer: t, workMs } = parseTransfer(await readBody(req));
  const client = await db.connect();
  try {
    await commitTransfer(client, t, workMs);
  } catch (err) {
    if ((err as { code?: string }).code === "23505") return sendError(res, 409, "a transfer with this id exists");
    throw err;
  } finally {
    client.release();
  }
  sendJSON(res, 201, t);
}

// commitTransfer writes the transfer and its two ledger lines in one transaction, with the slow
// work between the debit and the credit: either all of it is committed or none of it.
async function commitTransfer(client: PoolClient, t: Transfer, workMs: number): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query("INSERT INTO transfers (id, from_account, to_account, amount) VALUES ($1, $2, $3, $4)", [
      t.id,
      t.from,
      t.to,
      t.amount,
    ]);
    await client.query("INSERT INTO ledger (transfer_id, account, amount) VALUES ($1, $2, $3)", [t.id, t.from, -t.amount]);
    await sleep(workMs);
    await client.query("INSERT INTO ledger (transfer_id, account, amount) VALUES ($1, $2, $3)", [t.id, t.to, t.amount]);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

async function getTransfer(res: ServerResponse, id: string): Promise<void> {
  const r = await db.query<{ id: string; from_account: string; to_account: string; amount: string }>(
    "SELECT id, from_account, to_account, amount FROM transfers WHERE id = $1",
    [id],
  );
  const row = r.rows[0];
  if (!row) return sendError(res, 404, "transfer not found");
  // bigint comes back as a string; amounts are bounded well below 2^53.
  sendJSON(res, 200, { id: row.id, from: row.from_account, to: row.to_account, amount: Number(row.amount) });
}

// exitWhenDrained runs once nothing is in flight after SIGTERM.
let exiting = false;
async function exitWhenDrained(): Promise<void> {
  if (exiting) return;
  exiting = true;
  server.close();
  server.closeAllConnections(); // none is busy now: every answer has been sent
  await db.end().catch((err) => console.error("close pool:", errorMessage(err)));
  console.log("drained, exiting");
  process.exit(0);
}

function shutdown(signal: string): void {
  if (draining) return;
  draining = true;
  console.log(`${signal}: draining ${inFlight} request(s) (limit ${drainLimitMs} ms)`);
  // Past the drain limit, abandon what is left: those transactions roll back when we exit.
  setTimeout(() => {
    console.error(`drain limit reached with ${inFlight} request(s) in flight`);
    process.exit(1);
  }, drainLimitMs).unref();
  if (inFlight === 0) void exitWhenDrained();
}

// Ctrl-C stops the service gracefully.
process.on("SIGINT", () => shutdown("SIGINT"));

// parseTransfer accepts {"id", "from", "to", "amount", "work_ms"} as the contract states.
function parseTransfer(raw: Buffer): { transfer: Transfer; workMs: number } {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new HTTPError(400, "body must be a JSON object");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new HTTPError(400, "body must be a JSON object");
  const { id, from, to, amount, work_ms } = v as Record<string, unknown>;
  for (const [name, value] of [
    ["id", id],
    ["from", from],
    ["to", to],
  ] as const) {
    if (typeof value !== "string" || !validName.test(value)) {
      throw new HTTPError(400, `${name} must be 1 to 64 letters, digits, '-' or '_'`);
    }
  }
  if (from === to) throw new HTTPError(400, "from and to must differ");
  if (typeof amount !== "number" || !Number.isInteger(amount) || amount < 1 || amount > maxAmount) {
    throw new HTTPError(400, `amount must be an integer from 1 to ${maxAmount}`);
  }
  let workMs = 0;
  if (work_ms !== undefined && work_ms !== null) {
    if (typeof work_ms !== "number" || !Number.isInteger(work_ms) || work_ms < 0 || work_ms > maxWorkMs) {
      throw new HTTPError(400, `work_ms must be an integer from 0 to ${maxWorkMs}`);
    }
    workMs = work_ms;
  }
  return { transfer: { id: id as string, from: from as string, to: to as string, amount }, workMs };
}

// readBody reads the request body, up to maxBodyBytes.
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBodyBytes) chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > maxBodyBytes) reject(new HTTPError(400, "body is too large"));
      else resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// pathSegment decodes %XX escapes; a malformed one is left as it is.
function pathSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sendError(res: ServerResponse, code: number, message: string): void {
  sendJSON(res, code, { error: message });
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": body.length });
  res.end(body);
}

// migrate creates the schema, retrying while the database is not reachable yet.
async function migrate(): Promise<void> {
  const deadline = Date.now() + startupTimeoutMs;
  for (;;) {
    try {
      await db.query(schema);
      return;
    } catch (err) {
      if (Date.now() > deadline || draining) throw err;
      console.error("database not ready, retrying:", errorMessage(err));
      await sleep(1_000);
    }
  }
}

server.listen(port, () => console.log(`listening on :${port}`));

migrate().then(
  () => {
    started = true;
    console.log("ready");
  },
  (err) => {
    console.error("migrate:", errorMessage(err));
    process.exit(1);
  },
);
