// The TypeScript reference solution of the rate-limiter challenge; the same design as the Go
// reference (../reference/main.go), with a Lua script where the Go one uses MULTI/EXEC.
//
// GET /api/resource admits at most 10 requests per client in each fixed 2-second window,
// across every replica of the service. The count lives in Redis under one key per client and
// window number (Unix time / 2 s), raised by a Lua script that increments it and sets its
// expiry in one atomic step. When Redis cannot answer within a few hundred milliseconds the
// service fails closed: 503, nothing admitted.
import { createServer, get, IncomingMessage, ServerResponse } from "node:http";
import Redis from "ioredis";

const limit = 10; // requests admitted per client per window
const windowMs = 2_000; // fixed windows, aligned to Unix time
const policy = `"default";q=${limit};w=${windowMs / 1000}`;
const redisTimeoutMs = 500; // one Redis round trip; 503 beyond it
const downstreamTimeoutMs = 5_000;
const clientIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

const port = Number(process.env.PORT || "3000");
const downstreamURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");

// Every option here makes a Redis problem fail fast instead of waiting:
// - enableOfflineQueue false: while disconnected, a command fails at once instead of
//   waiting for the reconnection;
// - commandTimeout: a command without a reply in time fails;
// - socketTimeout: a connection that stays silent while commands wait is destroyed and
//   replaced. Without it, a reply lost on a broken link would leave the connection out of
//   step, every later reply read as the answer to an earlier command. It also covers the
//   ready check (an INFO sent on every new connection): the connection is not used before
//   Redis answered it. (With enableReadyCheck false, ioredis 5 can end up "ready" on a
//   connection it already closed, and stay there for good.)
// - maxRetriesPerRequest 0 and no resend: a command cut off by a disconnection fails instead
//   of running later, when its request has long been answered 503.
const redis = new Redis(process.env.REDIS_URL || "redis://redis:6379/0", {
  enableOfflineQueue: false,
  commandTimeout: redisTimeoutMs,
  socketTimeout: redisTimeoutMs,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  connectTimeout: 1_000,
  retryStrategy: (times) => Math.min(times * 100, 500),
});
redis.on("error", (err) => console.error("redis:", err.message));

// Ready once the first connection to Redis is: until then every request would get 503. From
// then on /healthz stays 200 whatever Redis does.
let ready = false;
redis.once("ready", () => {
  ready = true;
});

// hitScript counts one request and returns the count so far; the key outlives its window by
// one window at most.
const hitScript = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?", 1)[0];
  if (req.method === "GET" && path === "/healthz") {
    return ready ? sendJSON(res, 200, { status: "ok" }) : sendJSON(res, 503, { error: "waiting for Redis" });
  }
  if (req.method === "GET" && path === "/api/resource") return resource(req, res);
  sendJSON(res, 404, { error: "not found" });
}

// resource counts the hit, then admits it (calls the downstream) or rejects it with 429.
async function resource(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const id = req.headers["x-client-id"];
  if (typeof id !== "string" || !clientIdPattern.test(id)) {
    return sendJSON(res, 400, { error: "X-Client-Id must be 1 to 64 letters, digits, '.', '_' or '-'" });
  }
  const now = Date.now();
  const n = Math.floor(now / windowMs);
  const reset = Math.ceil(((n + 1) * windowMs - now) / 1000); // seconds to the window's end: 1 or 2

  let count: number;
  try {
    count = Number(await redis.eval(hitScript, 1, `ratelimit:${id}:${n}`, 2 * windowMs));
  } catch (err) {
    console.error(`rate limit check for ${id}:`, (err as Error).message);
    res.setHeader("Retry-After", "1");
    return sendJSON(res, 503, { error: "rate limiter unavailable" });
  }

  const remaining = Math.max(0, limit - count);
  res.setHeader("RateLimit-Policy", policy);
  res.setHeader("RateLimit", `"default";r=${remaining};t=${reset}`);
  if (count > limit) {
    res.setHeader("Retry-After", String(reset));
    return sendJSON(res, 429, { error: "rate limit exceeded" });
  }
  try {
    await work(id);
  } catch (err) {
    console.error(`downstream for ${id}:`, (err as Error).message);
    return sendJSON(res, 502, { error: "downstream failed" });
  }
  sendJSON(res, 200, { client: id, remaining });
}

// work is the admitted request's real work: one call to the downstream service.
function work(id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(`${downstreamURL}/work?client=${encodeURIComponent(id)}`, { timeout: downstreamTimeoutMs }, (res) => {
      res.resume();
      res.on("end", () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve();
        else reject(new Error(`status ${code}`));
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("downstream timed out")));
    req.on("error", reject);
  });
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

server.listen(port, () => console.log(`listening on :${port} (${process.env.INSTANCE_ID ?? "app"})`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    redis.disconnect();
    process.exit(0);
  });
}
