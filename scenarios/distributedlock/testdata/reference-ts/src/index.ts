// The reference solution of the distributed-lock challenge, in TypeScript.
//
// POST /api/report/run takes a lease on the report in Redis and, in the same atomic step, a
// fencing token from a counter that only goes up. It then writes the report's five steps to the
// fenced store with that token and releases the lease only if it still holds it. The lease
// expires by itself, so a holder that dies or freezes cannot block the others for longer than
// the lease; the token makes the store refuse a frozen holder that wakes up after someone else
// took over, and the holder stops at the first refusal.
import { randomBytes } from "node:crypto";
import { Agent, createServer, IncomingMessage, request, ServerResponse } from "node:http";
import { createClient } from "redis";

const port = Number(process.env.PORT || "3000");
const instance = process.env.INSTANCE_ID || "app";
const storeURL = new URL("/fenced/report", process.env.DOWNSTREAM_URL || "http://downstream:8070");

const LOCK_KEY = "report:lock";
const TOKEN_KEY = "report:fencing-token";
const LEASE_MS = 2000; // the contract: the lock expires 2 s after it was taken
const STEPS = 5;
const STEP_PAUSE_MS = 250;
const STORE_TIMEOUT_MS = 1000;
const REDIS_TIMEOUT_MS = 1000;

// Takes the lock only if nobody holds it, and the next fencing token with it: one script, so
// no other client can run between the two.
const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0`;

// Deletes the lock only if it still holds this holder's value: after the lease ran out someone
// else may hold it.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

const redis = createClient({
  url: process.env.REDIS_URL || "redis://redis:6379/0",
  socket: { connectTimeout: REDIS_TIMEOUT_MS, reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 1000) },
});
// Without an "error" listener a dropped connection would crash the process; the client
// reconnects by itself.
redis.on("error", (err: Error) => console.error("redis:", err.message));

// Store calls reuse connections; a write that passes its deadline is aborted with its socket.
const storeAgent = new Agent({ keepAlive: true });

class Fenced extends Error {}

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

// run handles POST /api/report/run.
async function run(res: ServerResponse): Promise<void> {
  const owner = `${instance}:${randomBytes(8).toString("hex")}`;
  let token: number;
  try {
    token = Number(
      await withTimeout(
        redis.eval(ACQUIRE, { keys: [LOCK_KEY, TOKEN_KEY], arguments: [owner, String(LEASE_MS)] }),
        REDIS_TIMEOUT_MS,
      ),
    );
  } catch (err) {
    console.error("acquire lock:", (err as Error).message);
    return sendJSON(res, 503, { ran: false, error: "lock service unavailable" });
  }
  if (!token) {
    return sendJSON(res, 409, { ran: false });
  }

  let failure: unknown = null;
  try {
    await writeSteps(token);
  } catch (err) {
    failure = err;
  }

  try {
    await withTimeout(redis.eval(RELEASE, { keys: [LOCK_KEY], arguments: [owner] }), REDIS_TIMEOUT_MS);
  } catch (err) {
    console.error(`release lock (token ${token}):`, (err as Error).message); // it expires by itself
  }

  if (failure === null) {
    sendJSON(res, 200, { ran: true, token });
  } else if (failure instanceof Fenced) {
    console.log(`token ${token}: fenced out, stopped`);
    sendJSON(res, 409, { ran: false, token });
  } else {
    console.error(`token ${token}:`, (failure as Error).message);
    sendJSON(res, 502, { ran: false, token, error: "the store failed" });
  }
}

// writeSteps writes the report's steps under token, and stops at the first refusal.
async function writeSteps(token: number): Promise<void> {
  for (let step = 1; step <= STEPS; step++) {
    if (step > 1) await sleep(STEP_PAUSE_MS);
    const status = await write(token, step);
    if (status === 409) throw new Fenced(`step ${step} refused`);
    if (status !== 200) throw new Error(`step ${step}: store answered ${status}`);
  }
}

function write(token: number, step: number): Promise<number> {
  const body = JSON.stringify({ step });
  return new Promise((resolve, reject) => {
    const req = request(
      storeURL,
      {
        method: "POST",
        agent: storeAgent,
        timeout: STORE_TIMEOUT_MS,
        headers: {
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(body),
          "Fencing-Token": String(token),
          "X-Instance-Id": instance,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${STORE_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sendJSON(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

redis.connect().catch((err: Error) => console.error("redis connect:", err.message));
server.listen(port, () => console.log(`${instance} listening on :${port}`));

// As PID 1 in a container, node ignores SIGTERM unless it handles it.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    redis.quit().finally(() => process.exit(0));
  });
}
