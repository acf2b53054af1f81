// Webhook receiver (blind solution, TypeScript).
//
// Style: a state-machine table (pending -> applied | superseded), one INSERT … ON CONFLICT DO
// NOTHING … RETURNING + pg_notify to store and wake, workers that wait on LISTEN/NOTIFY, claim a
// row with SELECT … FOR UPDATE SKIP LOCKED and keep that transaction open across the downstream
// call (the row lock dies with the connection: nothing to expire after a SIGKILL). The order of
// balance updates is kept by one upsert, INSERT … ON CONFLICT (account) DO UPDATE … WHERE
// applied_version < EXCLUDED.applied_version RETURNING, in the same transaction: it locks the
// account's head row until the call's outcome is committed or rolled back.
import http from "node:http";
import crypto from "node:crypto";
import { EventEmitter } from "node:events";
import pg from "pg";

const SECRET = Buffer.from("holdfast-webhook-secret", "utf8");
const TOLERANCE_S = 300;
const CALL_DEADLINE_MS = 2500; // > the 1.2 s a slow downstream takes
const MAX_BACKOFF_MS = 1500; // < the 2 s bound between attempts
const WORKERS = 6;
const PORT = Number(process.env.PORT || 3000);
const DATABASE_URL = process.env.DATABASE_URL;
const DOWNSTREAM = (process.env.DOWNSTREAM_URL || "http://downstream:8070").replace(/\/+$/, "");
const INSTANCE = process.env.INSTANCE_ID || "app";

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
pool.on("error", (e) => console.error("pool error", e.message));
const wake = new EventEmitter();
wake.setMaxListeners(100);
let ready = false;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS wh_events (
  id          text PRIMARY KEY,
  kind        text NOT NULL,
  account     text NOT NULL,
  version     bigint,
  amount      bigint,
  balance     bigint,
  state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'applied', 'superseded')),
  attempts    integer NOT NULL DEFAULT 0,
  due_at      timestamptz NOT NULL DEFAULT now(),
  received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS wh_events_pending ON wh_events (due_at) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS wh_heads (
  account         text PRIMARY KEY,
  applied_version bigint NOT NULL
);`;

async function migrate(): Promise<void> {
  for (;;) {
    const c = await pool.connect().catch((e) => {
      console.error("db connect:", e.message);
      return null;
    });
    if (!c) {
      await sleep(500);
      continue;
    }
    try {
      await c.query("BEGIN");
      await c.query("SELECT pg_advisory_xact_lock(1)");
      await c.query(SCHEMA);
      await c.query("COMMIT");
      return;
    } catch (e: any) {
      await c.query("ROLLBACK").catch(() => {});
      console.error("migrate:", e.message);
      await sleep(300);
    } finally {
      c.release();
    }
  }
}

// ---------- receiving ----------

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined;
  return v;
}

function verify(id: string, ts: string, sig: string, raw: Buffer): boolean {
  if (!/^v1=[0-9a-f]{64}$/.test(sig)) return false;
  const mac = crypto.createHmac("sha256", SECRET);
  mac.update(Buffer.from(`${id}.${ts}.`, "utf8"));
  mac.update(raw);
  const expected = mac.digest();
  const given = Buffer.from(sig.slice(3), "hex");
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

type Event = {
  id: string;
  type: "account.credited" | "account.balance_updated";
  account: string;
  amount?: number;
  version?: number;
  balance?: number;
};

function parseEvent(raw: Buffer): Event | null {
  let v: any;
  try {
    v = JSON.parse(raw.toString("utf8"));
  } catch {
    return null;
  }
  if (!v || typeof v !== "object" || typeof v.account !== "string" || v.account === "") return null;
  if (v.type === "account.credited" && Number.isSafeInteger(v.amount)) return v;
  if (v.type === "account.balance_updated" && Number.isSafeInteger(v.version) && Number.isSafeInteger(v.balance)) return v;
  return null;
}

async function receive(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer): Promise<void> {
  const id = header(req, "webhook-id");
  const ts = header(req, "webhook-timestamp");
  const sig = header(req, "webhook-signature");
  if (!id || !ts || !sig || !verify(id, ts, sig, raw)) return reply(res, 401, { error: "bad signature" });
  if (!/^[0-9]{1,12}$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE_S) {
    return reply(res, 401, { error: "timestamp outside the tolerance" });
  }
  const ev = parseEvent(raw);
  if (!ev) return reply(res, 400, { error: "not an event" });
  // The event is stored (committed) before the 2xx; a duplicate changes nothing. pg_notify is
  // sent at commit, only for a new row.
  await pool.query(
    `WITH ins AS (
       INSERT INTO wh_events (id, kind, account, version, amount, balance)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO NOTHING
       RETURNING id)
     SELECT pg_notify('wh_events', id) FROM ins`,
    [id, ev.type, ev.account, ev.version ?? null, ev.amount ?? null, ev.balance ?? null],
  );
  reply(res, 202, { accepted: id });
}

function reply(res: http.ServerResponse, code: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(s) });
  res.end(s);
}

const server = http.createServer((req, res) => {
  const url = (req.url || "/").split("?")[0];
  if (req.method === "GET" && url === "/healthz") {
    req.resume();
    return reply(res, ready ? 200 : 503, { status: ready ? "ok" : "starting", instance: INSTANCE });
  }
  if (req.method === "POST" && url === "/webhooks") {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 1 << 20) {
        reply(res, 413, { error: "too large" });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (res.headersSent) return;
      receive(req, res, Buffer.concat(chunks)).catch((e) => {
        console.error("receive:", e.message);
        if (!res.headersSent) reply(res, 503, { error: "could not store the event" });
      });
    });
    return;
  }
  req.resume();
  reply(res, 404, { error: "not found" });
});

// ---------- applying ----------

type Row = {
  id: string;
  kind: string;
  account: string;
  version: string | null;
  amount: string | null;
  balance: string | null;
  attempts: number;
};

async function callDownstream(r: Row): Promise<string | null> {
  const acct = encodeURIComponent(r.account);
  const [method, path, body] =
    r.kind === "account.credited"
      ? ["POST", `/accounts/${acct}/credits`, `{"event_id":${JSON.stringify(r.id)},"amount":${r.amount}}`]
      : ["PUT", `/accounts/${acct}`, `{"event_id":${JSON.stringify(r.id)},"version":${r.version},"balance":${r.balance}}`];
  try {
    const resp = await fetch(DOWNSTREAM + path, {
      method,
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(CALL_DEADLINE_MS),
    });
    await resp.arrayBuffer().catch(() => undefined);
    return resp.status >= 200 && resp.status < 300 ? null : `status ${resp.status}`;
  } catch (e: any) {
    return e?.cause?.code || e?.name || String(e);
  }
}

function backoff(attempts: number): number {
  const base = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(attempts, 10));
  return Math.floor(base / 2 + Math.random() * (base / 2));
}

// One pass: claim one due event and settle it. Returns whether it found one.
async function step(c: pg.Client): Promise<boolean> {
  await c.query("BEGIN");
  let r: Row | undefined;
  try {
    const q = await c.query<Row>(
      `SELECT id, kind, account, version::text, amount::text, balance::text, attempts
         FROM wh_events
        WHERE state = 'pending' AND due_at <= now()
        ORDER BY version NULLS FIRST, received_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED`,
    );
    r = q.rows[0];
    if (!r) {
      await c.query("COMMIT");
      return false;
    }
    if (r.kind === "account.balance_updated") {
      // Newer than the head? The upsert locks the head row (waiting for another worker's
      // outcome on the same account) and moves it only forward.
      const h = await c.query(
        `INSERT INTO wh_heads AS h (account, applied_version) VALUES ($1, $2)
         ON CONFLICT (account) DO UPDATE SET applied_version = EXCLUDED.applied_version
          WHERE h.applied_version < EXCLUDED.applied_version
         RETURNING applied_version`,
        [r.account, r.version],
      );
      if (h.rowCount === 0) {
        await c.query(`UPDATE wh_events SET state = 'superseded' WHERE id = $1`, [r.id]);
        await c.query("COMMIT");
        return true;
      }
    }
  } catch (e) {
    await c.query("ROLLBACK").catch(() => {});
    throw e;
  }
  const err = await callDownstream(r);
  if (err === null) {
    await c.query(`UPDATE wh_events SET state = 'applied' WHERE id = $1`, [r.id]);
    await c.query("COMMIT");
    return true;
  }
  await c.query("ROLLBACK");
  const wait = backoff(r.attempts);
  console.log(`apply ${r.id}: ${err}; attempt ${r.attempts + 1}, next in ${wait} ms`);
  await c.query(
    `UPDATE wh_events SET attempts = attempts + 1, due_at = now() + make_interval(secs => $2::float8 / 1000)
      WHERE id = $1 AND state = 'pending'`,
    [r.id, wait],
  );
  return true;
}

function waitForWork(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      wake.off("wake", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    wake.on("wake", done);
  });
}

async function worker(n: number): Promise<void> {
  for (;;) {
    const c = new pg.Client({ connectionString: DATABASE_URL });
    c.on("error", (e) => console.error(`worker ${n} connection:`, e.message));
    try {
      await c.connect();
      for (;;) {
        const found = await step(c);
        if (!found) await waitForWork(200);
      }
    } catch (e: any) {
      console.error(`worker ${n}:`, e.message);
      await c.end().catch(() => {});
      await sleep(300);
    }
  }
}

async function listener(): Promise<void> {
  for (;;) {
    const c = new pg.Client({ connectionString: DATABASE_URL });
    try {
      await new Promise<void>(async (_resolve, reject) => {
        c.on("error", reject);
        c.on("end", () => reject(new Error("listener connection ended")));
        c.on("notification", () => wake.emit("wake"));
        try {
          await c.connect();
          await c.query("LISTEN wh_events");
        } catch (e) {
          reject(e);
        }
      });
    } catch (e: any) {
      console.error("listener:", e.message);
      await c.end().catch(() => {});
      await sleep(500);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  server.listen(PORT, () => console.log(`listening on :${PORT} (${INSTANCE})`));
  await migrate();
  void listener();
  for (let i = 0; i < WORKERS; i++) void worker(i);
  ready = true;
  console.log("ready");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
