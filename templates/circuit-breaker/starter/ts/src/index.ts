// The starting point of the circuit-breaker challenge: it serves GET /healthz and answers 501
// on GET /api/quote. README.md (one level up) has the contract: the downstream call and its
// 500 ms deadline, the breaker's numbers (5 consecutive failures, 1 s cooldown, one probe) and
// how it is graded. Only Node's standard library is used; fetch (Node 18+) takes an
// AbortSignal.timeout for the deadline.
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
  if (req.method === "GET" && url.pathname === "/api/quote") {
    return quote(res, url.searchParams.get("symbol") ?? "");
  }
  sendJSON(res, 404, { error: "not found" });
}

// quote handles GET /api/quote?symbol=X: through the breaker, GET $DOWNSTREAM_URL/quote?symbol=X.
async function quote(res: ServerResponse, symbol: string): Promise<void> {
  sendJSON(res, 501, { error: "not implemented" });
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
