"""One spending process of the overshoot test: `python overshoot_process.py PROVIDER_URL
THREADS`, then, for each run, a line "DATABASE_URL LIMIT_USD RESERVE" on stdin.

For each run it configures one whole-app daily block budget (reserving when RESERVE is 1),
says "ready", waits for a line on stdin, then spends from THREADS threads through one
instrumented OpenAI client until each thread's request is refused (or `STOP_AFTER_S` passes),
and prints what it did as JSON: calls made, calls refused, calls failed otherwise, the seconds
it spent, the budget problems counted. One process serves every run: starting four
interpreters that import the SDK is most of what the test would otherwise wait for."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider

import openai
from fakeprovider.clients import make_client

import llmledger
from llmledger.budgets import preflight

# About 2,100 tokens, more than the 2,006 prompt tokens the provider's reply reports: a
# provider counts the prompt it was sent, and the reservation prices the same prompt.
MESSAGES = [{"role": "user", "content": "budget " * 2100}]
MAX_TOKENS = 300  # the reply's completion tokens: what a provider may not exceed
STOP_AFTER_S = 40.0


def run(client: openai.OpenAI, threads: int) -> dict:
    made, refused, failed = [0], [0], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + STOP_AFTER_S

    def spend() -> None:
        while time.monotonic() < deadline:
            try:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, max_tokens=MAX_TOKENS
                )
            except llmledger.BudgetExceeded:
                with lock:
                    refused[0] += 1
                return
            except openai.APIError:  # counted, for the test to show: there should be none
                with lock:
                    failed[0] += 1
                return
            with lock:
                made[0] += 1

    start = time.monotonic()
    workers = [threading.Thread(target=spend) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.monotonic() - start
    return {"made": made[0], "refused": refused[0], "failed": failed[0], "seconds": seconds}


def main() -> None:
    provider_url, threads = sys.argv[1], int(sys.argv[2])
    client = make_client("openai", provider_url)
    for line in sys.stdin:
        database_url, limit, reserve = line.split()
        budget = llmledger.Budget("day", usd=limit, action="block", reserve=reserve == "1")
        llmledger.configure(database_url, budgets=[budget])
        llmledger.instrument(client, provider="openai")
        preflight.problems.clear()
        print("ready", flush=True)
        sys.stdin.readline()
        done = run(client, threads)
        assert llmledger.flush(timeout=60) is True
        llmledger.shutdown()
        print(json.dumps({**done, "problems": dict(preflight.problems)}), flush=True)


if __name__ == "__main__":
    main()
