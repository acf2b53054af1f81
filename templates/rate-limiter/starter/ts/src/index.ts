// The starting point of the rate-limiter challenge: it serves GET /healthz and answers 501 on
// GET /api/resource. README.md (one level up) has the contract.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import Redis from "ioredis";

const port = Number(process.env.PORT || "3000");
const downstreamURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");

// ioredis connects in the background and reconnects by itself. Its defaults queue commands
// while it is disconnected and wait for a reply as long as it takes: read about
// enableOfflineQueue, commandTimeout and socketTimeout before you rely on them.
const redis = new Redis(process.env.REDIS_URL || "redis://redis:6379/0");
// Without an "error" listener, a lost connection would crash the process.
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
  if (req.method === "GET" && path === "/api/resource") {
    return resource(req, res);
  }
  sendJSON(res, 404, { error: "not found" });
}

// resource handles GET /api/resource: check the client's limit in Redis, then call
// GET $DOWNSTREAM_URL/work?client=<id> and answer 200, or answer 429.
async function resource(req: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

server.listen(port, () => console.log(`listening on :${port} (${process.env.INSTANCE_ID ?? "app"}, downstream ${downstreamURL})`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    redis.disconnect();
    process.exit(0);
  });
}
