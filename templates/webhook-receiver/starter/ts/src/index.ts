// The starting point of the webhook-receiver challenge: it serves GET /healthz and answers 501
// on POST /webhooks. README.md (one level up) has the contract: the signature (HMAC-SHA256 keyed
// with "holdfast-webhook-secret" over "<Webhook-Id>.<Webhook-Timestamp>.<raw body>"), the
// 5-minute tolerance, applying each event once with PUT $DOWNSTREAM_URL/accounts/{account},
// newest version only, a 2xx within 500 ms, retries, and nothing acknowledged lost when both
// replicas are killed. node:crypto has createHmac and timingSafeEqual.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { Pool } from "pg";

const port = Number(process.env.PORT || "3000");
const downstreamURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");

if (!process.env.DATABASE_URL) {
  console.error("DATABASE_URL is not set");
  process.exit(1);
}

// The pool connects lazily (the first query does) and replaces broken connections. Without an
// "error" listener, a connection that the database drops while idle would crash the process.
// Both replicas share this database.
const db = new Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 3000 });
db.on("error", (err) => console.error("idle database connection failed:", err.message));

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method === "GET" && path === "/healthz") {
    return sendJSON(res, 200, { status: "ok" });
  }
  if (req.method === "POST" && path === "/webhooks") {
    return receive(req, res, await readBody(req));
  }
  sendJSON(res, 404, { error: "not found" });
}

// receive handles POST /webhooks: verify the delivery over its raw bytes, store the event once,
// answer 2xx. req.headers["webhook-id"], ["webhook-timestamp"] and ["webhook-signature"] carry
// the headers.
async function receive(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

// readBody returns the body's bytes as they arrived, up to 1 MiB.
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 1 << 20) throw new Error("body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

server.listen(port, () => console.log(`listening on :${port} (${process.env.INSTANCE_ID}, downstream ${downstreamURL})`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    db.end().finally(() => process.exit(0));
  });
}
