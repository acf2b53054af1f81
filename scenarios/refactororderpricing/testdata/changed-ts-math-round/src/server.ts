// HTTP: GET /healthz, POST /api/quote, 405 for any other method on it.
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { price } from "./pricing";
import { ApiError, parseBody, toOrder } from "./request";

const MAX_BODY = 1 << 20;

function send(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(req.method === "HEAD" ? undefined : body); // HEAD: the same status and headers
}

// quote answers a request body: the quote, or the error and its status.
export function quote(raw: string | null): { status: number; body: unknown } {
  try {
    if (raw === null) throw new ApiError(400, "invalid body");
    return { status: 200, body: price(toOrder(parseBody(raw))) };
  } catch (e) {
    if (e instanceof ApiError) return { status: e.status, body: { error: e.message } };
    throw e;
  }
}

// readBody reads a body of at most MAX_BODY bytes; null if it was longer.
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
  const path = (req.url || "/").split("?")[0];
  if (path === "/healthz") return send(req, res, 200, { status: "ok" });
  if (path !== "/api/quote") return send(req, res, 404, { error: "not found" });
  if (req.method !== "POST") return send(req, res, 405, { error: "method not allowed" });
  const { status, body } = quote(await readBody(req));
  send(req, res, status, body);
}

export function newServer(): Server {
  return createServer((req, res) => {
    route(req, res).catch((e) => {
      console.error("quote:", e);
      if (!res.headersSent) send(req, res, 500, { error: "internal error" });
    });
  });
}
