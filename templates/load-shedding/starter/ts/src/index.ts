// The starting point of the load-shedding challenge: it serves GET /healthz and answers 501 on
// POST /api/work. README.md (one level up) has the contract: the downstream call and its 1 s
// deadline, the limit (4 requests in flight, a wait of 100 ms at most, 503 with Retry-After
// beyond it), health checks never shed, and how it is graded. Only Node's standard library is
// used; fetch (Node 18+) takes an AbortSignal.timeout for the deadline.
import { createServer, IncomingMessage, ServerResponse } from "node:http";

const port = Number(process.env.PORT || "3000");
const downstreamURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method === "GET" && url.pathname === "/healthz") {
    return sendJSON(res, 200, { status: "ok" });
  }
  if (req.method === "POST" && url.pathname === "/api/work") {
    return work(req, res);
  }
  sendJSON(res, 404, { error: "not found" });
}

// work handles POST /api/work {"id": "..."}: with one of 4 permits, POST $DOWNSTREAM_URL/work.
async function work(req: IncomingMessage, res: ServerResponse): Promise<void> {
  await readBody(req);
  sendJSON(res, 501, { error: "not implemented" });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function sendJSON(res: ServerResponse, code: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

server.listen(port, () => console.log(`listening on :${port} (downstream ${downstreamURL})`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
