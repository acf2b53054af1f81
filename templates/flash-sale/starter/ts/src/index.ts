// The starting point of the flash-sale challenge: it serves GET /healthz and answers 501 on
// the routes to implement. README.md (one level up) has the contract. Two replicas of this
// service run side by side against the same database.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { Pool } from "pg";

const port = Number(process.env.PORT || "3000");

if (!process.env.DATABASE_URL) {
  console.error("DATABASE_URL is not set");
  process.exit(1);
}

// The pool connects lazily (the first query does) and replaces broken connections.
// Without an "error" listener, a connection that the database drops while idle would
// crash the process.
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
  if (req.method === "POST" && path === "/api/orders") {
    return createOrder(req, res);
  }
  const item = /^\/api\/items\/([^/]+)$/.exec(path);
  if (item && req.method === "PUT") {
    return putItem(req, res, pathSegment(item[1]));
  }
  if (item && req.method === "GET") {
    return getItem(req, res, pathSegment(item[1]));
  }
  const order = /^\/api\/orders\/([^/]+)$/.exec(path);
  if (order && req.method === "GET") {
    return getOrder(req, res, pathSegment(order[1]));
  }
  sendJSON(res, 404, { error: "not found" });
}

// putItem handles PUT /api/items/{sku}: start a sale.
async function putItem(req: IncomingMessage, res: ServerResponse, sku: string): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

// getItem handles GET /api/items/{sku}: the stock left.
async function getItem(req: IncomingMessage, res: ServerResponse, sku: string): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

// createOrder handles POST /api/orders.
async function createOrder(req: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

// getOrder handles GET /api/orders/{id}.
async function getOrder(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

// pathSegment decodes %XX escapes; a malformed one is left as it is.
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

server.listen(port, () => console.log(`listening on :${port} (${process.env.INSTANCE_ID || "app-1"})`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    db.end().finally(() => process.exit(0));
  });
}
