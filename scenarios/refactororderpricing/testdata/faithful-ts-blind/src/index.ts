// Tea shop quote service: HTTP in front of request.ts (checks) and pipeline.ts (pricing).
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { readJson } from "./json";
import { price } from "./pipeline";
import { Refusal, toOrder } from "./request";

const MAX_BODY = 1 << 20;

function send(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(req.method === "HEAD" ? undefined : body);
}

// answer turns a body into a status and the value to send.
export function answer(body: string | null): [number, unknown] {
  try {
    if (body === null) throw new Refusal(400, "invalid body");
    let parsed;
    try {
      parsed = readJson(body);
    } catch {
      throw new Refusal(400, "invalid body");
    }
    return [200, price(toOrder(parsed))];
  } catch (e) {
    if (e instanceof Refusal) return [e.status, { error: e.message }];
    throw e;
  }
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on("end", () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/healthz") return send(req, res, 200, { status: "ok" });
  if (path !== "/api/quote") return send(req, res, 404, { error: "not found" });
  if (req.method !== "POST") return send(req, res, 405, { error: "method not allowed" });
  const [status, value] = answer(await readBody(req));
  send(req, res, status, value);
}

if (require.main === module) {
  const server = createServer((req, res) => {
    route(req, res).catch((err) => {
      console.error("quote:", err);
      if (!res.headersSent) send(req, res, 500, { error: "internal error" });
    });
  });
  const port = Number(process.env.PORT || "3000");
  server.listen(port, () => console.log(`pricing listening on :${port}`));
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      server.close();
      server.closeAllConnections?.();
      process.exit(0);
    });
  }
}
