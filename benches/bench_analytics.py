"""Re-price + rollup by (feature, tenant) + rollup by (day, model), in memory: llmledger's Rust
kernels versus Polars (lazy `join_asof` + `group_by`) and DuckDB (`ASOF JOIN` + `GROUP BY`)
doing the same work on the same frame in the same run (workload: `analytics_workload.py`).

In the test suite (`pytest benches --benchmark-disable`) it runs once on a small ledger and
checks the three engines agree exactly. To measure:

    LLMLEDGER_BENCH_ROWS=10000000 pytest benches/bench_analytics.py --benchmark-only
    python benches/bench_analytics.py 1000000 10000000   # medians, ratios, peak memory

The script form runs each engine in its own process on the same ledger (read from an Arrow
IPC file), so the memory it reports is the engine's own: the peak resident set size during
the runs (sampled from /proc, so Linux only; it sees Rust and C++ allocations that
tracemalloc does not) above the resident size once the input is loaded. Ledgers above 10M
rows are generated and held as 10M-row chunks (each its own 90 days, so not in time order
across chunks), which keeps generating them within memory; `--engines llmledger,polars`
skips an engine that would not fit (DuckDB needs about five times the input at 10M rows).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import analytics_workload as wl

ROWS = int(os.environ.get("LLMLEDGER_BENCH_ROWS", "100000"))
ENGINES = ("llmledger", "polars", "duckdb")


def _runner(engine: str, models: list, frame: pl.DataFrame):
    if engine == "llmledger":
        p = wl.pricer(models)
        return lambda: wl.run_llmledger(frame, p)
    rates = wl.rate_table(models)
    return (
        (lambda: wl.run_polars(frame, rates))
        if engine == "polars"
        else (lambda: wl.run_duckdb(frame, rates))
    )


@pytest.fixture(scope="module")
def workload():
    models = wl.price_histories()
    return models, wl.ledger(ROWS, models)


@pytest.mark.parametrize("engine", ENGINES)
def test_reprice_and_two_rollups(benchmark, workload, engine):
    models, frame = workload
    benchmark.group = f"re-price + 2 rollups, {ROWS:,} rows"
    out = benchmark.pedantic(_runner(engine, models, frame), rounds=5, warmup_rounds=1)
    assert [o.height for o in out] == [o.height for o in _runner("llmledger", models, frame)()]


def _totals(out: list[pl.DataFrame]) -> list[tuple]:
    def pico(o: pl.DataFrame, column: str) -> int:
        # USD as Decimal(38, 12) (llmledger, recorded costs) or pico-USD integers (baselines).
        dtype = o.schema[column]
        total = o[column].sum()
        return int(total.scaleb(12)) if getattr(dtype, "scale", 0) == 12 else int(total)

    return [
        (
            o.height,
            int(o["calls"].sum()),
            int(o["unpriced_calls"].sum()),
            int(o["repriced_unpriced_calls"].sum()),
            pico(o, "cost"),
            pico(o, "repriced_cost"),
            int(o["input_tokens"].sum()),
            round(float(o["latency_ms_p95"].sum()), 3),
        )
        for o in out
    ]


def test_engines_agree(workload):
    models, frame = workload
    ours, polars, duck = (_totals(_runner(e, models, frame)()) for e in ENGINES)
    assert ours == polars == duck


# --- script: each engine in its own process, medians, ratios, peak memory -----------------


CHUNK_ROWS = 10_000_000


def _child(engine: str, path: str, repeat: int) -> None:
    # Read into memory (not memory-mapped), as a frame from `llmledger.calls()` would be.
    # One chunk per column, as `calls()` and the in-process benchmark produce, up to 10M rows.
    # Batch by batch: a whole pyarrow table beside its Polars copy would hold it twice.
    with pa.OSFile(path) as source:
        reader = pa.ipc.open_file(source)
        parts = [pl.from_arrow(reader.get_batch(i)) for i in range(reader.num_record_batches)]
    frame = pl.concat(parts, rechunk=False)
    del parts
    if frame.height <= CHUNK_ROWS:
        frame = frame.rechunk()
    run = _runner(engine, wl.price_histories(), frame)
    loaded = _rss_kb()
    times = []
    with _PeakRss() as peak:
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    print(json.dumps({"times": times, "loaded_kb": loaded, "peak_kb": peak.kb}))


def _rss_kb() -> int:
    """The resident set size now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class _PeakRss:
    """The largest resident set size seen while inside, sampled every 2 ms. Not the process's
    high-water mark (`ru_maxrss`): loading the input peaks above what stays loaded (the
    allocators give memory back), and an engine's memory would hide under that peak."""

    def __enter__(self) -> _PeakRss:
        self.kb = _rss_kb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.002):
            self.kb = max(self.kb, _rss_kb())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.kb = max(self.kb, _rss_kb())


def _write_ledger(path: str, n: int, models: list) -> float:
    """Writes an `n`-row ledger to `path` in chunks of at most 10M rows; returns its MiB."""
    size = 0.0
    writer = None
    for k, start in enumerate(range(0, n, CHUNK_ROWS)):
        frame = wl.ledger(min(CHUNK_ROWS, n - start), models, seed=2 + k)
        size += frame.estimated_size() / 2**20
        table = frame.to_arrow()
        if writer is None:
            writer = pa.ipc.new_file(path, table.schema)
        writer.write_table(table)
        del frame, table
    assert writer is not None
    writer.close()
    return size


def main(sizes: list[int], engines: tuple[str, ...] = ENGINES, repeat: int = 3) -> None:
    models = wl.price_histories()
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ledger.arrow")
            size_mb = _write_ledger(path, n, models)
            results = {}
            for engine in engines:
                cmd = [sys.executable, __file__, "--child", engine, path, str(repeat)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                results[engine] = json.loads(out.strip().splitlines()[-1])
        baselines = [e for e in engines if e != "llmledger"]
        best = min((statistics.median(results[e]["times"]) for e in baselines), default=None)
        print(f"\n{n:,} rows (input frame {size_mb:,.0f} MiB), median of {repeat}:")
        for engine in engines:
            r = results[engine]
            med = statistics.median(r["times"])
            ratio = f"x{best / med:6.2f} vs best baseline" if best else ""
            extra = (r["peak_kb"] - r["loaded_kb"]) / 1024
            print(
                f"  {engine:10s} {med * 1000:9.1f} ms  {ratio}"
                f"  peak RSS {r['peak_kb'] / 1024:8,.0f} MiB (+{extra:,.0f} over the loaded input)"
            )


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        args = sys.argv[1:]
        chosen = ENGINES
        if "--engines" in args:
            i = args.index("--engines")
            chosen = tuple(args[i + 1].split(","))
            del args[i : i + 2]
        main([int(a) for a in args], chosen)
