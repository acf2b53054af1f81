// The starting point of the capacity-checkout challenge: it serves GET /healthz and answers
// 501 on POST /checkout. README.md (one level up) has the contract, and what to write in
// CAPACITY.yaml once the service works.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { Pool } from "pg";
import Redis from "ioredis";

const port = Number(process.env.PORT || "3000");
const providerURL = (process.env.PROVIDER_URL || "http://provider:8080").replace(/\/+$/, "");

if (!process.env.DATABASE_URL || !process.env.REDIS_URL) {
  console.error("DATABASE_URL and REDIS_URL must be set");
  process.exit(1);
}

// The pool connects lazily (the first query does). Mind the brief's cap on connections
// (max). Without an "error" listener, a connection the database drops while idle would crash
// the process.
const db = new Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 3000 });
db.on("error", (err) => console.error("idle database connection failed:", err.message));
const redis = new Redis(process.env.REDIS_URL, { lazyConnect: true });
redis.on("error", (err) => console.error("redis:", err.message));

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
  if (req.method === "POST" && path === "/checkout") {
    return checkout(req, res);
  }
  sendJSON(res, 404, { error: "not found" });
}

// checkout handles POST /checkout.
async function checkout(req: IncomingMessage, res: ServerResponse): Promise<void> {
  void providerURL;
  sendJSON(res, 501, { error: "not implemented" });
}

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}

server.listen(port, () => console.log(`listening on ${port}`));
