"""The REST API under load: 100 concurrent clients opening and closing positions.

A real `workbench serve` runs in a subprocess on 127.0.0.1 (`--feed backpack` on a fake
Backpack that publishes a steady BTC_USDC quote every 100 ms, data directory in a temp
dir). Each client is a registered user with its own token (registered before the timed
part) and loops: POST /trade/create (0.001 BTC at 10x, far from any margin limit), then
POST /trade/close/{orderId}. Both requests count as orders. The load generator runs in
its own process: asyncio (uvloop) with one HTTP/1.1 keep-alive connection per client,
raw by default (`--http httpx` uses one shared httpx.AsyncClient instead: it is the
bottleneck, see benchmarks/README.md).

The same load (same generator, concurrency, request bytes and tokens) also runs against
a bare FastAPI app served by uvicorn with the same settings, whose routes only parse the
JSON body and return a canned order of the same shape. The two take turns, `--rounds`
windows each (3 by default), so both see the same machine; the medians are reported,
with the load average. The last line is `ratio: <median of our orders/s / bare orders/s
per round>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request

sys.path.insert(0, str(Path(__file__).parent))
from _servers import Proc, cpu_seconds, free_port  # noqa: E402

SYMBOL = "BTC_USDC"
BID, ASK = "60000", "60000.5"
OPEN_BODY = json.dumps({"asset": "BTC", "side": "long", "leverage": "10", "qty": "0.001"}).encode()
QUOTE_EVERY = 0.1
TARGET_RATE, TARGET_P99_MS, TARGET_RATIO = 1000.0, 50.0, 0.5


# ---------------------------------------------------------------- the bare app
def _canned_order(order_id: str, closed: bool) -> dict[str, Any]:
    """An order shaped like ours (same keys, similar sizes) for the bare app to return."""
    return {
        "id": order_id, "userId": "9c268415-9711-4960-81f4-c31450d608c2", "asset": SYMBOL,
        "side": "long", "qty": "0.001", "margin": "6.00005", "leverage": "10",
        "openingPrice": ASK, "closingPrice": BID if closed else None,
        "status": "closed" if closed else "open", "takeProfit": None, "stopLoss": None,
        "pnl": "-0.0005" if closed else None, "closeReason": "manual" if closed else None,
        "openedAt": "2026-11-21T14:21:30.123456Z",
        "closedAt": "2026-11-21T14:21:30.133456Z" if closed else None,
        "fee": "0.0360003", "upnl": None if closed else "-0.0005",
        "liquidationPrice": None if closed else "54300.5", "swap": "0",
    }  # fmt: skip


def serve_bare(port: int) -> None:
    """The baseline: FastAPI routes that parse the JSON body and return JSON, nothing else."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/trade/create", status_code=201)
    async def create(request: Request) -> dict:
        body = await request.json()
        order_id = str(uuid.uuid4())
        return {"orderId": order_id, "order": {**_canned_order(order_id, False), **body}}

    @app.post("/trade/close/{order_id}")
    async def close(order_id: str) -> dict:
        return {"order": _canned_order(order_id, True)}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------ the load generator
class RawConnection:
    """One HTTP/1.1 keep-alive connection, requests written and responses parsed by hand."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            b"POST %s HTTP/1.1\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode(), self.head, len(body), body)
        )
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, close = None, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length is None:
                raise RuntimeError(f"no content-length in {head[:200]!r}")
            data = await self.reader.readexactly(length)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def aclose(self) -> None:
        self.close()


class HttpxConnection:
    """The same requests through httpx: one AsyncClient (one keep-alive connection) per
    client. (One client shared by all, with a pool of `clients` connections, is far slower:
    its pool bookkeeping grows with the number of connections.)"""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, timeout=30.0,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )  # fmt: skip
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def request(self, path: str, body: bytes = b"") -> tuple[int, bytes]:
        r = await self.client.post(path, content=body, headers=self.headers)
        return r.status_code, r.content

    async def aclose(self) -> None:
        await self.client.aclose()


async def _load(
    url: str, tokens: list[str], http: str, warmup: float, seconds: float,
    marks: tuple[Any, Any],
) -> dict[str, Any]:  # fmt: skip
    host, port = url.removeprefix("http://").split(":")
    start = time.perf_counter()
    t0, t1 = start + warmup, start + warmup + seconds
    lat: list[float] = []
    errors: list[str] = []

    async def timed(conn: Any, path: str, body: bytes, ok_status: int) -> bytes | None:
        began = time.perf_counter()
        try:
            status, data = await conn.request(path, body)
        except Exception as e:
            status, data = 0, repr(e).encode()
        done = time.perf_counter()
        if status != ok_status:
            if began >= t0:
                what = data[:160].decode(errors="replace")
                errors.append(f"{status} from {path.split('/')[2]}: {what}")
            return None
        if t0 <= began and done <= t1:
            lat.append(done - began)
        return data

    async def user(token: str) -> None:
        conn: Any = HttpxConnection(url, token) if http == "httpx" else (
            RawConnection(host, int(port), token))  # fmt: skip
        try:
            while time.perf_counter() < t1:
                data = await timed(conn, "/trade/create", OPEN_BODY, 201)
                if data is None:
                    await asyncio.sleep(0.01)
                    continue
                order_id = json.loads(data)["orderId"]
                await timed(conn, f"/trade/close/{order_id}", b"", 200)
        finally:
            await conn.aclose()

    async def mark() -> None:
        await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
        marks[0].set()
        await asyncio.sleep(max(0.0, t1 - time.perf_counter()))
        marks[1].set()

    marker = asyncio.create_task(mark())
    await asyncio.gather(*(user(t) for t in tokens))
    await marker
    return {"latencies": lat, "errors": errors, "seconds": seconds}


def run_load(
    url: str, tokens: list[str], http: str, warmup: float, seconds: float,
    marks: tuple[Any, Any], out: Any,
) -> None:  # fmt: skip
    """The generator process: runs the clients and sends the results back on `out`."""
    import uvloop

    out.send(uvloop.run(_load(url, tokens, http, warmup, seconds, marks)))
    out.close()


class Quotes:
    """A fake Backpack in this process, publishing the same quote every 100 ms."""

    def __init__(self) -> None:
        from workbench.testing.fake_backpack_thread import FakeBackpackThread

        self.fake = FakeBackpackThread()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="quotes", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return self.fake.url

    def _run(self) -> None:
        from workbench.feeds.backpack_client import now_us
        from workbench.testing.backpack_frames import book_ticker_frame

        update = 0
        while not self._stop.is_set():
            update += 1
            frame = book_ticker_frame(SYMBOL, bid=BID, ask=ASK, bid_qty="1", ask_qty="1",
                                      update_id=update, t=now_us())  # fmt: skip
            with contextlib.suppress(Exception):
                self.fake.publish(frame)
            self._stop.wait(QUOTE_EVERY)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.fake.stop()


def register_users(url: str, n: int) -> list[str]:
    """n users registered over the API (a few at a time: argon2 is slow on purpose)."""
    run = uuid.uuid4().hex[:8]

    def one(i: int) -> str:
        with httpx.Client(base_url=url, timeout=60) as c:
            body = {"name": f"load{i}", "email": f"load{i}-{run}@bench.example",
                    "password": "correct horse 1"}  # fmt: skip
            r = c.post("/auth/register", json=body)
            if r.status_code != 201:
                raise RuntimeError(f"register failed: {r.status_code} {r.text}")
            return str(r.json()["token"])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


def measure(name: str, target: Proc, tokens: list[str], args: argparse.Namespace) -> dict:
    """Run the generator process against `target`; figures plus CPU use in the window."""
    ctx = mp.get_context("spawn")
    marks = (ctx.Event(), ctx.Event())
    recv, send = ctx.Pipe(duplex=False)
    work = (target.url, tokens, args.http, args.warmup, args.seconds, marks, send)
    gen = ctx.Process(target=run_load, name=f"load-{name}", args=work)
    gen.start()
    try:
        cpu: dict[str, float] = {}
        if marks[0].wait(args.warmup + 120):
            cpu = {"srv0": cpu_seconds(target.proc.pid), "gen0": cpu_seconds(gen.pid),
                   "w0": time.perf_counter()}  # fmt: skip
            if marks[1].wait(args.seconds + 60):
                w = time.perf_counter() - cpu["w0"]
                cpu = {"server": (cpu_seconds(target.proc.pid) - cpu["srv0"]) / w,
                       "generator": (cpu_seconds(gen.pid) - cpu["gen0"]) / w}  # fmt: skip
        if not recv.poll(args.seconds + args.warmup + 120):
            raise RuntimeError(f"the load generator against {name} did not finish")
        res = recv.recv()
        gen.join(30)
    finally:
        if gen.is_alive():
            gen.terminate()
            gen.join(5)
    lat = sorted(res["latencies"])
    n = len(lat)
    return {
        "rate": n / res["seconds"],
        "p50": lat[n // 2] * 1e3 if n else float("nan"),
        "p99": lat[min(n - 1, int(n * 0.99))] * 1e3 if n else float("nan"),
        "n": n, "errors": res["errors"], "cpu": cpu,
    }  # fmt: skip


def show(name: str, r: dict) -> None:
    cpu = r["cpu"]
    load = (f"  (CPU: server {cpu['server']:.0%} of a core, generator {cpu['generator']:.0%}; "
            f"{cpu['server'] / r['rate'] * 1e6:,.0f} µs server CPU per order)"
            if cpu and r["rate"] else "")  # fmt: skip
    print(f"{name}: {r['rate']:8,.0f} orders/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms   "
          f"errors {len(r['errors'])}   ({r['n']:,} requests){load}")  # fmt: skip
    for e in r["errors"][:5]:
        print(f"    error: {e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100, help="concurrent clients (users)")
    ap.add_argument("--seconds", type=float, default=15.0, help="timed part, after the warm-up")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds, not counted")
    ap.add_argument(
        "--http",
        choices=("raw", "httpx"),
        default="raw",
        help="the generator's HTTP client (default: raw asyncio keep-alive)",
    )
    ap.add_argument("--only", choices=("ours", "bare"), help="run against one server only")
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed windows per server, taking turns (medians are reported)",
    )
    ap.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="api-load-"))
    # the users register from this one address: past the default 10 per 10 minutes
    os.environ["WORKBENCH_REGISTER_LIMIT"] = f"{args.clients + 10}/600"
    print(f"{args.clients} clients, each a user looping open + close (both count as orders); "
          f"{args.warmup:g} s warm-up + {args.seconds:g} s timed; generator: "
          f"{'raw asyncio HTTP/1.1 keep-alive' if args.http == 'raw' else 'httpx.AsyncClient'}"
          " on uvloop, in its own process")  # fmt: skip
    runs: dict[str, list[dict]] = {"ours": [], "bare": []}
    loads: list[float] = []
    quotes: Quotes | None = None
    procs: list[Proc] = []
    try:
        quotes = Quotes()
        port = free_port()
        ours = Proc("workbench serve", [sys.executable, "-m", "workbench.cli", "serve",
                    "--port", str(port), "--data-dir", str(tmp / "data"), "--feed", "backpack",
                    "--backpack-url", quotes.url], port, tmp / "serve.log")  # fmt: skip
        procs.append(ours)
        ours.wait_ready(lambda h: h["feed"]["state"] == "LIVE" and h["engine"]["quotes"] > 0)
        started = time.perf_counter()
        tokens = register_users(ours.url, args.clients)
        print(f"registered {len(tokens)} users in {time.perf_counter() - started:.1f} s "
              "(argon2 hashing, before the timed part)")  # fmt: skip
        targets = {"ours": ours}
        if args.only != "ours":
            port = free_port()
            bare = Proc("bare FastAPI", [sys.executable, __file__, "--serve-bare", str(port)],
                        port, tmp / "bare.log")  # fmt: skip
            procs.append(bare)
            bare.wait_ready()
            targets["bare"] = bare
        if args.only == "bare":
            del targets["ours"]
        # the two take turns, so that both see the same machine (other jobs come and go)
        for k in range(args.rounds):
            for name, target in targets.items():
                loads.append(os.getloadavg()[0])
                runs[name].append(measure(name, target, tokens, args))
                show(f"{name} (round {k + 1})", runs[name][-1])
        if "ours" in targets:
            h = httpx.get(ours.url + "/health", timeout=10).json()
            e = h["engine"]
            print(f"      engine since start: {e['commands']:,} commands, {e['syncs']:,} fsyncs "
                  f"({e['commands'] / max(1, e['syncs']):.1f} commands per fsync), "
                  f"{e['refused']} refused, {e['errors']} errors; "
                  f"{h['api']['fast_lane']:,} calls answered on the lean path")  # fmt: skip
    finally:
        for p in procs:
            p.stop()
        if quotes is not None:
            quotes.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average (1 min) at the start of each window: "
          f"{', '.join(f'{x:.1f}' for x in loads)}")  # fmt: skip
    med = {name: _median_run(rs) for name, rs in runs.items() if rs}
    for name, r in med.items():
        show(f"{name} median of {len(runs[name])}", r)
    if "ours" in med:
        r = med["ours"]
        ok = [r["rate"] >= TARGET_RATE, r["p99"] < TARGET_P99_MS, not r["errors"]]
        print(f"targets at {args.clients} clients: ≥ {TARGET_RATE:,.0f} orders/s "
              f"{'ok' if ok[0] else 'MISSED'}, p99 < {TARGET_P99_MS:g} ms "
              f"{'ok' if ok[1] else 'MISSED'}, 0 errors {'ok' if ok[2] else 'MISSED'}")  # fmt: skip
    if len(med) == 2:
        pairs = [o["rate"] / b["rate"] for o, b in zip(runs["ours"], runs["bare"], strict=True)]
        ratio = statistics.median(pairs)
        print(f"ours / bare per round: {', '.join(f'{x:.2f}' for x in pairs)}; median {ratio:.2f}"
              f" (target ≥ {TARGET_RATIO})")  # fmt: skip
        print(f"ratio: {ratio:.2f}")
    return 0


def _median_run(rs: list[dict]) -> dict:
    """The median of each figure over the rounds (errors: all of them)."""
    out: dict = {k: statistics.median(r[k] for r in rs) for k in ("rate", "p50", "p99", "n")}
    out["n"] = int(out["n"])
    out["errors"] = [e for r in rs for e in r["errors"]]
    cpus = [r["cpu"] for r in rs if r["cpu"]]
    out["cpu"] = {k: statistics.median(c[k] for c in cpus) for k in ("server", "generator")} \
        if cpus else {}  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(main())
