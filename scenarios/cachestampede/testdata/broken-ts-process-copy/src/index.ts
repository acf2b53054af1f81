// cache-stampede: read-through cache where the whole decision "serve / refresh / fill / wait"
// is one atomic Redis Lua script, and waiters are woken by Redis pub/sub instead of polling.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import Redis from "ioredis";

const port = Number(process.env.PORT || "3000");
const originURL = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");
const instance = process.env.INSTANCE_ID || "app";

const FRESH_MS = 2000; // P7: measured from when the value was stored (after the origin answered)
const MAX_AGE_MS = 3700; // P8: hard limit, measured from when the origin call *started* (< 4000)
const LOCK_MS = 3000; // P13: > origin deadline (2 s) so a live fill never loses it, < 5 s
const ORIGIN_TIMEOUT_MS = 2000; // P5
const WAIT_MS = 2300; // P4/P10: give up waiting before 2.5 s
const REPOLL_MS = 200; // safety net: re-run the decision script if no wake-up came

const redisURL = process.env.REDIS_URL || "redis://redis:6379/0";
const redis = new Redis(redisURL, { maxRetriesPerRequest: 1, connectTimeout: 1000 });
const sub = new Redis(redisURL, { maxRetriesPerRequest: 1, connectTimeout: 1000 });
redis.on("error", (err) => console.error("redis:", err.message));
sub.on("error", (err) => console.error("redis sub:", err.message));

// KEYS: value, fresh-marker, lock. ARGV: token, lock ttl.
// Returns {state, value?}: hit | stale | refresh (stale, caller refreshes) | fill | wait.
const DECIDE = `
local v = redis.call('GET', KEYS[1])
if v then
  if redis.call('EXISTS', KEYS[2]) == 1 then return {'hit', v} end
  if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'refresh', v} end
  return {'stale', v}
end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'fill'} end
return {'wait'}
`;
// KEYS: value, fresh-marker, lock. ARGV: token, value json, hard ttl, fresh ttl, channel.
const STORE = `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
local f = tonumber(ARGV[4])
if f > 0 then redis.call('SET', KEYS[2], '1', 'PX', f) else redis.call('DEL', KEYS[2]) end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
redis.call('PUBLISH', ARGV[5], ARGV[2])
return 1
`;
// KEYS: lock. ARGV: token, channel, failure message.
const FAIL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

const keys = (id: string) => [`p:{${id}}:v`, `p:{${id}}:fresh`, `p:{${id}}:lock`];
const channel = (id: string) => `p:fill:${id}`;

// Local fan-out of pub/sub wake-ups: one pattern subscription for the whole process.
type Msg = { ok: true; version: number } | { ok: false; status: number };
const waiters = new Map<string, Set<(m: Msg) => void>>();
sub.psubscribe("p:fill:*").catch((e) => console.error("psubscribe:", e));
sub.on("pmessage", (_pattern: string, ch: string, payload: string) => {
  const id = ch.slice("p:fill:".length);
  const set = waiters.get(id);
  if (!set) return;
  let m: Msg;
  try {
    m = JSON.parse(payload);
  } catch {
    return;
  }
  for (const fn of set) fn(m);
});

function listen(id: string): { next: (ms: number) => Promise<Msg | null>; close: () => void } {
  let queue: Msg[] = [];
  let wake: (() => void) | null = null;
  const fn = (m: Msg) => {
    queue.push(m);
    if (wake) wake();
  };
  let set = waiters.get(id);
  if (!set) waiters.set(id, (set = new Set()));
  set.add(fn);
  return {
    next: (ms) =>
      new Promise((resolve) => {
        if (queue.length) return resolve(queue.shift()!);
        const t = setTimeout(() => {
          wake = null;
          resolve(null);
        }, Math.max(0, ms));
        wake = () => {
          clearTimeout(t);
          wake = null;
          resolve(queue.shift()!);
        };
      }),
    close: () => {
      set!.delete(fn);
      if (set!.size === 0 && waiters.get(id) === set) waiters.delete(id);
      queue = [];
    },
  };
}

type Origin = { ok: true; version: number; startedAt: number } | { ok: false; status: number };

async function callOrigin(id: string): Promise<Origin> {
  const startedAt = Date.now();
  try {
    const r = await fetch(`${originURL}/products/${encodeURIComponent(id)}`, {
      signal: AbortSignal.timeout(ORIGIN_TIMEOUT_MS),
    });
    if (r.status !== 200) {
      await r.body?.cancel().catch(() => {});
      return { ok: false, status: 502 };
    }
    const body = (await r.json()) as { version?: unknown };
    if (typeof body.version !== "number" || !Number.isInteger(body.version)) return { ok: false, status: 502 };
    return { ok: true, version: body.version, startedAt };
  } catch (e: any) {
    const name = e?.name ?? "";
    if (name === "TimeoutError" || name === "AbortError") return { ok: false, status: 504 };
    return { ok: false, status: 502 };
  }
}

// fill calls the origin under the lock `token` and stores or reports the outcome.
async function fill(id: string, token: string): Promise<Msg> {
  const [vk, fk, lk] = keys(id);
  const o = await callOrigin(id);
  if (!o.ok) {
    const m: Msg = { ok: false, status: o.status };
    await redis.eval(FAIL, 1, lk, token, channel(id), JSON.stringify(m)).catch((e) => console.error("fail:", e.message));
    return m;
  }
  const now = Date.now();
  const hard = MAX_AGE_MS - (now - o.startedAt);
  const m: Msg = { ok: true, version: o.version };
  local.set(id, { version: o.version, until: o.startedAt + FRESH_MS });
  if (hard > 0) {
    const fresh = Math.min(FRESH_MS, hard);
    const value = JSON.stringify({ ok: true, version: o.version, fetchedAt: o.startedAt, by: instance });
    await redis.eval(STORE, 3, vk, fk, lk, token, value, hard, fresh, channel(id)).catch((e) => console.error("store:", e.message));
  } else {
    await redis.eval(FAIL, 1, lk, token, channel(id), JSON.stringify(m)).catch(() => {});
  }
  return m;
}

// Hot products are read thousands of times a second: keep a copy for the fresh window to
// spare Redis a round trip.
const local = new Map<string, { version: number; until: number }>();

async function getProduct(res: ServerResponse, id: string): Promise<void> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return sendJSON(res, 400, { error: "invalid id" });
  const hit = local.get(id);
  if (hit && hit.until > Date.now()) return sendJSON(res, 200, { id, version: hit.version, cache: "local" });
  const deadline = Date.now() + WAIT_MS;
  const token = `${instance}:${randomUUID()}`;
  const [vk, fk, lk] = keys(id);
  // Subscribe (locally) before deciding, so a fill that completes in between is not missed.
  const l = listen(id);
  try {
    for (;;) {
      let r: [string, string?];
      try {
        r = (await redis.eval(DECIDE, 3, vk, fk, lk, token, LOCK_MS)) as [string, string?];
      } catch (e: any) {
        return sendJSON(res, 503, { error: "cache unavailable" });
      }
      const [state, raw] = r;
      if (state === "hit" || state === "stale" || state === "refresh") {
        const v = JSON.parse(raw!);
        if (state === "hit") local.set(id, { version: v.version, until: v.fetchedAt + FRESH_MS });
        if (state === "refresh") void fill(id, token).catch(() => {});
        return sendJSON(res, 200, { id, version: v.version, cache: state });
      }
      if (state === "fill") {
        const m = await fill(id, token);
        return answer(res, id, m);
      }
      // wait: another request (maybe on the other replica) is filling.
      const left = deadline - Date.now();
      if (left <= 0) return sendJSON(res, 503, { error: "timed out waiting for the cache" });
      const m = await l.next(Math.min(REPOLL_MS, left));
      if (m) return answer(res, id, m);
      // no wake-up: loop and decide again (the holder may have died and its lock expired).
    }
  } finally {
    l.close();
  }
}

function answer(res: ServerResponse, id: string, m: Msg): void {
  if (m.ok) return sendJSON(res, 200, { id, version: m.version });
  sendJSON(res, m.status, { error: m.status === 504 ? "origin timed out" : "origin failed" });
}

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(`${req.method} ${req.url}:`, err);
    if (!res.headersSent) sendJSON(res, 500, { error: "internal error" });
    else res.destroy();
  });
});

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method === "GET" && path === "/healthz") return sendJSON(res, 200, { status: "ok" });
  const m = /^\/api\/products\/([^/]*)$/.exec(path);
  if (req.method === "GET" && m) return getProduct(res, pathSegment(m[1]));
  sendJSON(res, 404, { error: "not found" });
}

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

server.listen(port, () => console.log(`listening on :${port} (origin ${originURL})`));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    redis.disconnect();
    sub.disconnect();
    process.exit(0);
  });
}
