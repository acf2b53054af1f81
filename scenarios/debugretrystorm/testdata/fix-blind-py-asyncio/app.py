"""Prices service: answers product prices for the shop's pages from the catalog service, with a
cache in front. Owned by the storefront team; see README.md for the open incident.

INC-2291 fix, rewritten on asyncio (one event loop, no threads, no locks):

- Root cause: v2.14 invalidated a price update by bumping ONE cache-wide epoch, so every price
  update made every product, in every currency, a miss. During the import (about 2 updates/s)
  the hit ratio fell to a few percent, the catalog got the whole page traffic, slowed past the
  300 ms attempt budget, and every miss then made 3 attempts: the retry storm.
- Fix: a generation counter per product. A price update bumps that product's generation only;
  an entry is served only while it carries its product's current generation, so every currency
  of the updated product misses, and every other product stays cached.
- Bonus (P13's older race): a read remembers the generation it started under and its answer
  is cached only if no write was accepted meanwhile.

Standard library only: asyncio streams serve the pages and talk HTTP/1.1 to the catalog.
"""

import asyncio
import json
import os
import re
import signal
import sys
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, unquote, urlsplit

# Catalog calls. Reads are retried (they are idempotent); writes are not.
ATTEMPT_TIMEOUT = 0.3  # seconds per catalog read attempt (SLO: p99 page < 1.5 s)
READ_BACKOFF = (0.05, 0.1)  # the wait before the 2nd and the 3rd attempt: 3 attempts in all
WRITE_TIMEOUT = 2.0  # seconds
CACHE_TTL = 60.0  # seconds
MAX_BODY = 64 << 10
MAX_HEAD = 32 << 10

CURRENCIES = ("EUR", "USD", "GBP")


class Cache:
    """Catalog answers per (product, currency), each tagged with its product's generation."""

    def __init__(self):
        self._gen = {}  # product -> generation, bumped by each accepted price write
        self._items = {}  # (product, currency) -> (version, expires, generation)

    def generation(self, product_id):
        return self._gen.get(product_id, 0)

    def get(self, product_id, currency):
        """The cached version, or None on a miss."""
        e = self._items.get((product_id, currency))
        if e is None or e[2] != self.generation(product_id) or time.monotonic() > e[1]:
            return None
        return e[0]

    def put(self, product_id, currency, version, generation):
        """Caches an answer read under generation, unless a write was accepted since."""
        if generation != self.generation(product_id):
            return False
        self._items[(product_id, currency)] = (version, time.monotonic() + CACHE_TTL, generation)
        return True

    def invalidate(self, product_id):
        """Makes the next read of this product, in every currency, go to the catalog."""
        g = self.generation(product_id) + 1
        self._gen[product_id] = g
        return g

    async def sweep(self):
        while True:
            await asyncio.sleep(30)
            now = time.monotonic()
            for k in [k for k, e in self._items.items() if now > e[1] or e[2] != self.generation(k[0])]:
                del self._items[k]


class CatalogTimeout(Exception):
    def __init__(self):
        super().__init__("catalog did not answer in time")


class CatalogError(Exception):
    pass


CATALOG = urlsplit(os.environ.get("DOWNSTREAM_URL", "").rstrip("/"))
CACHE = Cache()


async def read_http_body(reader, headers, until_eof_ok):
    """Reads a message body as its headers frame it; keeps at most MAX_BODY bytes."""
    out = bytearray()

    def keep(chunk):
        if len(out) < MAX_BODY:
            out.extend(chunk[: MAX_BODY - len(out)])

    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = await reader.readline()
            if not line:
                raise asyncio.IncompleteReadError(b"", None)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, up to the blank line
                    t = await reader.readline()
                    if t in (b"\r\n", b"\n", b""):
                        break
                break
            left = size
            while left > 0:
                chunk = await reader.read(min(left, 65536))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", left)
                keep(chunk)
                left -= len(chunk)
            await reader.readexactly(2)  # CRLF after the chunk
    elif "content-length" in headers:
        left = int(headers["content-length"])
        if left < 0:
            raise ValueError("negative Content-Length")
        while left > 0:
            chunk = await reader.read(min(left, 65536))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", left)
            keep(chunk)
            left -= len(chunk)
    elif until_eof_ok:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            keep(chunk)
    return bytes(out)


async def read_head(reader):
    """The start line and the headers (lower-cased names); (None, None) at a clean EOF."""
    start = await reader.readline()
    while start in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests
        start = await reader.readline()
    if not start:
        return None, None
    headers = {}
    size = len(start)
    while True:
        line = await reader.readline()
        size += len(line)
        if size > MAX_HEAD:
            raise ValueError("header too large")
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return start.decode("latin-1").rstrip("\r\n"), headers


async def catalog_call(method, path, body=None):
    """One HTTP/1.1 exchange with the catalog on a fresh connection (closed afterwards, also when
    the caller's timeout cancels it). Returns (status, body)."""
    host, port = CATALOG.hostname, CATALOG.port or 80
    writer = None
    try:
        reader, writer = await asyncio.open_connection(host, port)
        lines = [f"{method} {(CATALOG.path or '') + path} HTTP/1.1", f"Host: {CATALOG.netloc}", "Connection: close", "Accept: application/json"]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        await writer.drain()
        while True:
            start, headers = await read_head(reader)
            if start is None:
                raise CatalogError("catalog closed the connection without an answer")
            parts = start.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise CatalogError(f"catalog answered a malformed status line: {start!r}")
            status = int(parts[1])
            if 100 <= status < 200:
                continue  # 100 Continue and friends: the real answer follows
            break
        if status in (204, 304) or method == "HEAD":
            return status, b""
        return status, await read_http_body(reader, headers, until_eof_ok=True)
    finally:
        if writer is not None:
            writer.close()


async def with_retries(op, *, per_attempt, backoff, on_retry):
    """Runs op() up to 1 + len(backoff) times, each attempt under its own deadline; every failure
    (a timeout, a failed connection, a 5xx) is retried after the matching backoff. The last
    failure is raised, a timed-out attempt as CatalogTimeout."""
    err = None
    for attempt, wait in enumerate((None,) + tuple(backoff), start=1):
        if wait is not None:
            on_retry(attempt, err)
            await asyncio.sleep(wait)
        try:
            async with asyncio.timeout(per_attempt):
                return await op()
        except TimeoutError:
            err = CatalogTimeout()
        except CatalogTimeout as e:
            err = e
        except (OSError, EOFError, ValueError, CatalogError) as e:
            err = e
    raise err


async def read_product(product_id, currency):
    async def once():
        status, body = await catalog_call("GET", f"/catalog/products/{quote(product_id)}?currency={currency}")
        if status != 200:
            raise CatalogError(f"catalog answered {status}")
        try:
            rec = json.loads(body)
        except ValueError as e:
            raise CatalogError(f"catalog record: {e}") from None
        if not isinstance(rec, dict):
            raise CatalogError("catalog record: not an object")
        version = rec.get("version")
        if version is None:
            version = 0
        if not isinstance(version, int) or isinstance(version, bool):
            raise CatalogError("catalog record: version is not an integer")
        return version

    def on_retry(attempt, err):
        log("WARN", "catalog read failed, retrying", product=product_id, currency=currency, attempt=attempt, err=err)

    return await with_retries(once, per_attempt=ATTEMPT_TIMEOUT, backoff=READ_BACKOFF, on_retry=on_retry)


def price_of(body):
    """The body's price when it is a positive integer (cents), else None."""

    def pairs(kv):
        price = None
        for k, v in kv:
            if k.lower() == "price":
                price = v
        return {"price": price}

    try:
        v = json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return None
    price = v.get("price") if isinstance(v, dict) else None
    if isinstance(price, int) and not isinstance(price, bool) and 0 < price < 1 << 63:
        return price
    return None


PRODUCT = re.compile(r"^/api/products/([^/]+)$")


def json_answer(status, obj):
    return status, "application/json", (json.dumps(obj) + "\n").encode()


async def get_product(product_id, currency):
    currency = currency or "EUR"
    if currency not in CURRENCIES:
        return json_answer(400, {"error": "unsupported currency"})
    version = CACHE.get(product_id, currency)
    if version is not None:
        return json_answer(200, {"id": product_id, "currency": currency, "version": version})
    generation = CACHE.generation(product_id)
    log("INFO", "cache miss", product=product_id, currency=currency, generation=generation)
    start = time.monotonic()
    try:
        version = await read_product(product_id, currency)
    except CatalogTimeout as e:
        log("ERROR", "catalog read gave up", product=product_id, currency=currency, after=duration(time.monotonic() - start), err=e)
        return json_answer(504, {"error": "catalog timeout"})
    except Exception as e:
        log("ERROR", "catalog read gave up", product=product_id, currency=currency, after=duration(time.monotonic() - start), err=e)
        return json_answer(502, {"error": "catalog unavailable"})
    CACHE.put(product_id, currency, version, generation)
    return json_answer(200, {"id": product_id, "currency": currency, "version": version})


async def update_price(product_id, body):
    price = price_of(body)
    if price is None:
        return json_answer(400, {"error": "price must be a positive integer (cents)"})
    try:
        async with asyncio.timeout(WRITE_TIMEOUT):
            status, _ = await catalog_call("POST", f"/catalog/products/{quote(product_id)}", body=body)
    except Exception as e:  # a timeout, a failed connection, a broken answer: never retried
        log("ERROR", "catalog write failed", product=product_id, err=e if str(e) else type(e).__name__)
        return json_answer(502, {"error": "catalog unavailable"})
    if status // 100 != 2:
        log("ERROR", "catalog write refused", product=product_id, status=status)
        return json_answer(502, {"error": "catalog unavailable"})
    generation = CACHE.invalidate(product_id)
    log("INFO", "price updated", product=product_id, price=price, generation=generation)
    return 204, None, b""


async def route(method, target, body):
    url = urlsplit(target)
    path = url.path
    if path == "/healthz":
        if method != "GET":
            return json_answer(405, {"error": "method not allowed"})
        return 200, "text/plain; charset=utf-8", b"ok"
    m = PRODUCT.match(path)
    if not m:
        return json_answer(404, {"error": "not found"})
    product_id = unquote(m.group(1))
    if method == "GET":
        return await get_product(product_id, parse_qs(url.query).get("currency", [""])[0])
    if method == "PUT":
        return await update_price(product_id, body)
    return json_answer(405, {"error": "method not allowed"})


REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}


async def serve_connection(reader, writer):
    try:
        while True:
            try:
                start, headers = await read_head(reader)
            except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            if start is None:
                return
            parts = start.split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            method, target, version = parts
            try:
                body = await read_http_body(reader, headers, until_eof_ok=False)
            except (ValueError, asyncio.IncompleteReadError):
                return
            conn = headers.get("connection", "").lower()
            keep_alive = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
            try:
                status, ctype, data = await route(method, target, body)
            except Exception as e:
                log("ERROR", "request failed", method=method, path=target, err=e)
                status, ctype, data = json_answer(500, {"error": "internal error"})
            head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
            if status != 204:
                head += [f"Content-Type: {ctype}", f"Content-Length: {len(data)}"]
            if not keep_alive:
                head.append("Connection: close")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (data if status != 204 else b""))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()


def duration(seconds):
    ms = round(seconds * 1000)
    return f"{ms}ms" if ms < 1000 else f"{ms / 1000:g}s"


def log(level, msg, **attrs):
    """One logfmt line: time=… level=… msg=… key=value…."""

    def q(v):
        s = str(v)
        return json.dumps(s) if s == "" or re.search(r'[\s="\\]', s) else s

    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    print(" ".join([f"time={now}", f"level={level}", f"msg={q(msg)}"] + [f"{k}={q(v)}" for k, v in attrs.items()]), flush=True)


async def main():
    if not CATALOG.hostname:
        log("ERROR", "DOWNSTREAM_URL is not set: the catalog service's base URL")
        sys.exit(1)
    port = int(os.environ.get("PORT") or "3000")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    server = await asyncio.start_server(serve_connection, "0.0.0.0", port, backlog=128, limit=MAX_HEAD)
    sweeper = asyncio.create_task(CACHE.sweep())
    log("INFO", "prices listening", port=port, catalog=CATALOG.geturl())
    await stop.wait()
    sweeper.cancel()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
