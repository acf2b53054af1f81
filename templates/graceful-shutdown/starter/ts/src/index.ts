// The starting point of the graceful-shutdown challenge: it serves GET /healthz and answers 501
// on /readyz and the transfer routes. README.md (one level up) has the contract.
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
  if (req.method === "GET" && path === "/readyz") {
    return readyz(req, res);
  }
  if (req.method === "POST" && path === "/api/transfers") {
    return createTransfer(req, res);
  }
  const m = /^\/api\/transfers\/([^/]+)$/.exec(path);
  if (req.method === "GET" && m) {
    return getTransfer(req, res, pathSegment(m[1]));
  }
  sendJSON(res, 404, { error: "not found" });
}

// readyz handles GET /readyz.
async function readyz(req: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

// createTransfer handles POST /api/transfers.
async function createTransfer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
}

// getTransfer handles GET /api/transfers/{id}.
async function getTransfer(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
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

server.listen(port, () => console.log(`listening on :${port}`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
// TODO: this exits at once and drops every request in flight. The challenge is to shut down
// gracefully instead: see "Shutting down" in README.md.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    console.log(`${signal}: exiting`);
    process.exit(0);
  });
}
