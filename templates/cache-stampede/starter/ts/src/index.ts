// The starting point of the cache-stampede challenge: it serves GET /healthz and answers 501
// on the product route. README.md (one level up) has the contract.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import Redis from "ioredis";

const port = Number(process.env.PORT || "3000");
// GET `${originURL}/products/${id}` is the slow origin.
const originURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");

// ioredis connects in the background and reconnects by itself. maxRetriesPerRequest bounds
// how long a command waits while Redis is unreachable.
const redis = new Redis(process.env.REDIS_URL || "redis://redis:6379/0", {
  maxRetriesPerRequest: 1,
  connectTimeout: 1000,
});
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
  const m = /^\/api\/products\/([^/]+)$/.exec(path);
  if (req.method === "GET" && m) {
    return getProduct(req, res, pathSegment(m[1]));
  }
  sendJSON(res, 404, { error: "not found" });
}

// getProduct handles GET /api/products/{id}.
async function getProduct(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
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

server.listen(port, () => console.log(`listening on :${port} (origin ${originURL})`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    redis.disconnect();
    process.exit(0);
  });
}
