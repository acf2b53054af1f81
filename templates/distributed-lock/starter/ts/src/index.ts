// The starting point of the distributed-lock challenge: it serves GET /healthz and answers 501
// on POST /api/report/run. README.md (one level up) has the contract.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { createClient } from "redis";

const port = Number(process.env.PORT || "3000");
const instance = process.env.INSTANCE_ID || "app"; // app-1, app-2…
// Where each step of the report is written.
const storeURL = new URL("/fenced/report", process.env.DOWNSTREAM_URL || "http://downstream:8070");

const redis = createClient({
  url: process.env.REDIS_URL || "redis://redis:6379/0",
  socket: { connectTimeout: 1000, reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 1000) },
});
// Without an "error" listener a dropped connection would crash the process; the client
// reconnects by itself.
redis.on("error", (err: Error) => console.error("redis:", err.message));

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume(); // no route reads a body
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method === "GET" && path === "/healthz") {
    return sendJSON(res, 200, { status: "ok" });
  }
  if (req.method === "POST" && path === "/api/report/run") {
    return run(res);
  }
  sendJSON(res, 404, { error: "not found" });
}

// run handles POST /api/report/run: take the lock and a fencing token, write the report's
// steps to the store, release the lock.
async function run(res: ServerResponse): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

redis.connect().catch((err: Error) => console.error("redis connect:", err.message));
server.listen(port, () => console.log(`${instance} listening on :${port} (store ${storeURL})`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    redis.quit().finally(() => process.exit(0));
  });
}
