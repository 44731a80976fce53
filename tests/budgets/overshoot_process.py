"""One spending process of the overshoot test:
`python overshoot_process.py DATABASE_URL PROVIDER_URL LIMIT_USD RESERVE THREADS`.

Configures one whole-app daily block budget (reserving when RESERVE is 1), says "ready", waits
for a line on stdin, then spends from THREADS threads through one instrumented OpenAI client
until each thread's request is refused (or `STOP_AFTER_S` passes), and prints what it did as
JSON: calls made, calls refused, calls failed otherwise, the seconds it spent, the budget
problems counted."""

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


def main() -> None:
    database_url, provider_url, limit, reserve, threads = sys.argv[1:6]
    budget = llmledger.Budget("day", usd=limit, action="block", reserve=reserve == "1")
    llmledger.configure(database_url, budgets=[budget])
    client = llmledger.instrument(make_client("openai", provider_url), provider="openai")
    made, refused, failed = [0], [0], [0]
    lock = threading.Lock()
    deadline = [0.0]

    def spend() -> None:
        while time.monotonic() < deadline[0]:
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

    print("ready", flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    deadline[0] = start + STOP_AFTER_S
    workers = [threading.Thread(target=spend) for _ in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.monotonic() - start
    assert llmledger.flush(timeout=60) is True
    llmledger.shutdown()
    print(json.dumps({"made": made[0], "refused": refused[0], "failed": failed[0],
                      "seconds": seconds,
                      "problems": dict(preflight.problems)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
