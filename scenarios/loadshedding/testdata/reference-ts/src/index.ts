// Reference solution of the load-shedding challenge in TypeScript: one event loop runs every
// request, so the permits are a counter checked and taken with no await in between. No wait for a
// permit: a request that finds none is shed at once. The permit is given back in a finally block,
// whatever the downstream did; GET /healthz never looks at it.
import { createServer, IncomingMessage, ServerResponse } from "node:http";

const port = Number(process.env.PORT || "3000");
const downstreamURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");
const PERMITS = 4;
const DEADLINE_MS = 1000;

let inFlight = 0;

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

async function work(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const id = parseID(await readBody(req));
  if (id === undefined) {
    return sendJSON(res, 400, { error: 'the body must be {"id": "..."} with an id of 1 to 64 characters' });
  }
  // Checked and taken in one synchronous step: no other request runs in between.
  if (inFlight >= PERMITS) {
    return sendJSON(res, 503, { error: "overloaded: try again later" }, { "Retry-After": "1" });
  }
  inFlight++;
  let status: number;
  let answer: string | undefined;
  try {
    [status, answer] = await callDownstream(id);
  } finally {
    inFlight--;
  }
  if (status === 200 && answer !== undefined) {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(answer) });
    res.end(answer);
  } else if (status === 504) {
    sendJSON(res, 504, { error: "the downstream did not answer within 1 s" });
  } else {
    sendJSON(res, 502, { error: "the downstream failed" });
  }
}

function parseID(body: string): string | undefined {
  try {
    const id = JSON.parse(body)?.id;
    return typeof id === "string" && id.length >= 1 && id.length <= 64 ? id : undefined;
  } catch {
    return undefined;
  }
}

// callDownstream makes the one call of a request: [200, body], [502] for a 5xx or a failed
// connection, [504] when the deadline passed (reading the body included).
async function callDownstream(id: string): Promise<[number, string?]> {
  try {
    const resp = await fetch(`${downstreamURL}/work`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id }),
      signal: AbortSignal.timeout(DEADLINE_MS),
    });
    const text = await resp.text();
    return resp.status >= 500 ? [502] : [resp.status, text];
  } catch (err) {
    return (err as Error)?.name === "TimeoutError" ? [504] : [502];
  }
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

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
