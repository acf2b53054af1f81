// The TypeScript reference solution of the idempotent-payments challenge; the same design as
// the Go reference (../reference/main.go).
//
// POST /api/payments claims its Idempotency-Key in Postgres before it calls the payment
// provider, so exactly one request per key charges: duplicates get 409 while it runs and the
// stored response once it is done. The payment id is created once per key and sent to the
// provider as its Idempotency-Key, so a retry after a provider failure or timeout turns into
// a replay at the provider, never into a second charge.
import { createHash, randomBytes } from "node:crypto";
import { createServer, request, IncomingMessage, ServerResponse } from "node:http";
import { Pool } from "pg";

const providerTimeoutMs = 2_000; // the contract: 504 when the provider is slower
const dbTimeoutMs = 5_000; // one database round trip
const startupTimeoutMs = 30_000; // how long to wait for the database at start-up
const maxKeyLength = 255;
const maxBodyBytes = 64 << 10;

// status is in_flight (a request holds the key until locked_until), succeeded (the response
// is stored) or failed_retryable (the provider failed; the next request with the same key and
// body retries with the same payment id).
const schema = `
CREATE TABLE IF NOT EXISTS payments (
	idempotency_key text PRIMARY KEY,
	request_hash    text NOT NULL,
	id              text NOT NULL UNIQUE,
	status          text NOT NULL,
	attempt         int NOT NULL DEFAULT 1,
	response_code   int,
	response_body   bytea,
	locked_until    timestamptz,
	created_at      timestamptz NOT NULL DEFAULT now()
)`;

interface PaymentRequest {
  amount: number;
  currency: string;
}

// A claim is the right to charge for one Idempotency-Key, held by one request at a time.
interface Claim {
  key: string;
  id: string;
  attempt: number;
}

class HTTPError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

class ProviderTimeout extends Error {}

const databaseURL = process.env.DATABASE_URL;
if (!databaseURL) {
  console.error("DATABASE_URL is not set");
  process.exit(1);
}
const port = Number(process.env.PORT || "3000");
const chargesURL = (process.env.PROVIDER_URL || "http://provider:8080").replace(/\/+$/, "") + "/v1/charges";

// The pool connects lazily and replaces broken connections, so the service recovers by itself
// once the database is back. A query that fails on a broken connection throws that connection
// away; one that breaks while idle is reported here (without a listener it would crash us).
const db = new Pool({
  connectionString: databaseURL,
  max: 10,
  connectionTimeoutMillis: 3_000,
  query_timeout: dbTimeoutMs,
  idleTimeoutMillis: 30_000,
});
db.on("error", (err) => console.error("idle database connection failed:", err.message));

let ready = false;

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    if (err instanceof HTTPError) {
      sendError(res, err.code, err.message);
      return;
    }
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendError(res, 500, "internal error");
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?", 1)[0];
  if (path === "/healthz") {
    if (req.method !== "GET" && req.method !== "HEAD") return sendError(res, 405, "method not allowed");
    if (!ready) return sendError(res, 503, "starting");
    return sendJSON(res, 200, { status: "ok" });
  }
  if (path === "/api/payments") {
    if (req.method !== "POST") return sendError(res, 405, "method not allowed");
    if (!ready) return sendError(res, 503, "starting");
    return createPayment(req, res);
  }
  const m = /^\/api\/payments\/([^/]+)$/.exec(path);
  if (m) {
    if (req.method !== "GET" && req.method !== "HEAD") return sendError(res, 405, "method not allowed");
    if (!ready) return sendError(res, 503, "starting");
    return getPayment(res, pathSegment(m[1]));
  }
  sendError(res, 404, "not found");
}

async function createPayment(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const key = req.headers["idempotency-key"];
  if (typeof key !== "string" || key.length === 0 || key.length > maxKeyLength) {
    return sendError(res, 400, "Idempotency-Key header must be 1 to 255 characters");
  }
  const p = parsePaymentRequest(await readBody(req));

  // From here on the outcome is finished and recorded even if the client hangs up.
  const hash = requestHash(p);
  let c: Claim | null;
  try {
    c = await claim(key, hash);
  } catch (err) {
    return dbError(res, "claim", err);
  }
  if (!c) return answerExisting(res, key, hash);

  try {
    await charge(c.id, p);
  } catch (err) {
    console.error(`charge ${c.id}:`, errorMessage(err));
    // If this fails too, the claim's lease expires instead.
    await release(c).catch((e) => console.error(`release ${c!.id}:`, errorMessage(e)));
    if (err instanceof ProviderTimeout) return sendError(res, 504, "payment provider timed out");
    return sendError(res, 502, "payment provider failed");
  }

  const body = Buffer.from(JSON.stringify({ id: c.id, status: "succeeded", amount: p.amount, currency: p.currency }));
  try {
    await finish(c, 201, body);
  } catch (err) {
    // Charged but not recorded: the claim's lease expires, and a retry with the same key gets
    // the provider's replay of this charge and records it.
    return dbError(res, "finish", err);
  }
  sendRaw(res, 201, body);
}

// claim takes the key for this request: a new key, a key whose last attempt failed, or a key
// whose holder's lease ran out (it crashed). It returns null if someone else holds the key,
// the key is done, or it was used with a different request.
async function claim(key: string, hash: string): Promise<Claim | null> {
  const r = await db.query<{ id: string; attempt: number }>(
    `INSERT INTO payments (idempotency_key, request_hash, id, status, locked_until)
     VALUES ($1, $2, $3, 'in_flight', now() + interval '5 seconds')
     ON CONFLICT (idempotency_key) DO UPDATE
        SET status = 'in_flight', locked_until = excluded.locked_until, attempt = payments.attempt + 1
      WHERE payments.request_hash = excluded.request_hash
        AND (payments.status = 'failed_retryable'
             OR (payments.status = 'in_flight' AND payments.locked_until < now()))
     RETURNING id, attempt`,
    [key, hash, newPaymentID()],
  );
  if (r.rowCount === 0) return null;
  return { key, id: r.rows[0].id, attempt: r.rows[0].attempt };
}

// answerExisting answers a request whose key could not be claimed.
async function answerExisting(res: ServerResponse, key: string, hash: string): Promise<void> {
  let row: { request_hash: string; status: string; response_code: number | null; response_body: Buffer | null } | undefined;
  try {
    const r = await db.query(
      `SELECT request_hash, status, response_code, response_body FROM payments WHERE idempotency_key = $1`,
      [key],
    );
    row = r.rows[0];
  } catch (err) {
    return dbError(res, "lookup", err);
  }
  if (!row) {
    // The claim lost to a row that is gone again; nothing deletes rows, so this is a race
    // that cannot happen. Ask the client to retry rather than guess.
    return sendError(res, 409, "a request with this Idempotency-Key is in progress");
  }
  if (row.request_hash !== hash) {
    return sendError(res, 422, "Idempotency-Key was already used with a different request");
  }
  if (row.status === "succeeded" && row.response_code && row.response_body) {
    res.setHeader("Idempotent-Replayed", "true");
    return sendRaw(res, row.response_code, row.response_body);
  }
  sendError(res, 409, "a request with this Idempotency-Key is in progress");
}

async function finish(c: Claim, code: number, body: Buffer): Promise<void> {
  await db.query(
    `UPDATE payments
        SET status = 'succeeded', response_code = $2, response_body = $3, locked_until = NULL
      WHERE idempotency_key = $1`,
    [c.key, code, body],
  );
}

// release gives the key back after a provider failure. The row keeps its payment id, so the
// retry sends the provider the same Idempotency-Key.
async function release(c: Claim): Promise<void> {
  await db.query(
    `UPDATE payments SET status = 'failed_retryable', locked_until = NULL
      WHERE idempotency_key = $1 AND status = 'in_flight' AND attempt = $2`,
    [c.key, c.attempt],
  );
}

// charge asks the provider to charge; it throws ProviderTimeout if the provider does not
// answer (headers and body) within the deadline.
//
// Each call uses a connection of its own (agent: false). With the built-in fetch, a request
// aborted at the deadline could leave its connection to be reused, and the next payment then
// read the late answer meant for the aborted one: a stale 504 attributed to the wrong payment.
// One connection per charge costs a handshake and rules that out.
function charge(id: string, p: PaymentRequest): Promise<void> {
  const body = JSON.stringify({ amount: p.amount, currency: p.currency, payment_id: id });
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const fail = (err: unknown) => {
      clearTimeout(timer);
      reject(timedOut ? new ProviderTimeout(`payment provider did not answer within ${providerTimeoutMs} ms`) : err);
    };
    const req = request(
      chargesURL,
      {
        method: "POST",
        agent: false,
        headers: {
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(body),
          // The payment id stays the same across retries of one key, so the provider replays a
          // charge it already made instead of making a second one.
          "Idempotency-Key": id,
        },
      },
      (resp) => {
        // Read the whole answer within the deadline: a provider can hang after the headers.
        resp.resume();
        resp.on("error", fail);
        resp.on("end", () => {
          clearTimeout(timer);
          const status = resp.statusCode ?? 0;
          if (status < 200 || status > 299) reject(new Error(`provider answered ${status}`));
          else resolve();
        });
      },
    );
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy();
    }, providerTimeoutMs);
    req.on("error", fail);
    req.end(body);
  });
}

async function getPayment(res: ServerResponse, id: string): Promise<void> {
  let body: Buffer | undefined;
  try {
    const r = await db.query<{ response_body: Buffer }>(
      `SELECT response_body FROM payments WHERE id = $1 AND status = 'succeeded'`,
      [id],
    );
    body = r.rows[0]?.response_body;
  } catch (err) {
    return dbError(res, "get", err);
  }
  if (!body) return sendError(res, 404, "payment not found");
  sendRaw(res, 200, body);
}

// readBody reads the request body, up to maxBodyBytes.
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) reject(new HTTPError(400, "body is too large"));
      else resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

// parsePaymentRequest accepts {"amount": <integer > 0>, "currency": "<3 lowercase letters>"}.
function parsePaymentRequest(raw: Buffer): PaymentRequest {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new HTTPError(400, "body must be a JSON object");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new HTTPError(400, "body must be a JSON object");
  }
  const { amount, currency } = v as Record<string, unknown>;
  if (typeof amount !== "number" || !Number.isSafeInteger(amount) || amount <= 0) {
    throw new HTTPError(400, "amount must be a positive integer");
  }
  if (typeof currency !== "string" || !/^[a-z]{3}$/.test(currency)) {
    throw new HTTPError(400, "currency must be 3 lowercase letters");
  }
  return { amount, currency };
}

function requestHash(p: PaymentRequest): string {
  return createHash("sha256").update(`${p.amount}:${p.currency}`).digest("hex");
}

function newPaymentID(): string {
  return "pay_" + randomBytes(12).toString("hex");
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
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}

function dbError(res: ServerResponse, op: string, err: unknown): void {
  console.error(`database ${op}:`, errorMessage(err));
  sendError(res, 503, "database unavailable, retry later");
}

function sendError(res: ServerResponse, code: number, message: string): void {
  sendJSON(res, code, { error: message });
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  sendRaw(res, code, Buffer.from(JSON.stringify(value)));
}

function sendRaw(res: ServerResponse, code: number, body: Buffer): void {
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
      if (Date.now() > deadline) throw err;
      console.error("database not ready, retrying:", errorMessage(err));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

server.listen(port, () => console.log(`listening on :${port}`));

migrate().then(
  () => {
    ready = true;
    console.log("ready");
  },
  (err) => {
    console.error("migrate:", errorMessage(err));
    process.exit(1);
  },
);

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    db.end().finally(() => process.exit(0));
  });
}
