"""SIGKILL mid-load: what a killed process loses is bounded, and nothing is ever doubled.

A process killed with SIGKILL runs no exit handler, so the calls still in the writer's queue
or in the batch it is collecting are lost. Every call accepted (`track()` returned) more than
`LOSS_WINDOW` seconds before the kill is in the ledger exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

import sqlalchemy as sa

# The writer's flush_interval (0.2 s) plus the time to write a batch and to be scheduled, on
# a machine whose cores are busy. The README states this figure.
LOSS_WINDOW = 0.5

CHILD = textwrap.dedent(
    """
    import os, sys, time
    import llmledger

    llmledger.configure(sys.argv[1])
    out = sys.stdout.fileno()
    i = 0
    while True:
        i += 1
        call = llmledger.track("openai", "gpt-4o-mini", input_tokens=i, output_tokens=1)
        # After track() returned: the call is accepted.
        os.write(out, f"{call.event_id} {time.time():.6f}\\n".encode())
        time.sleep(float(sys.argv[2]))
    """
)


def run_and_kill(
    url: str, run_for: float, pause: float = 0.0005
) -> tuple[list[tuple[str, float]], float]:
    """Start a recording child, SIGKILL it after `run_for` seconds of load; the calls it
    accepted (event_id, time) and the time of the kill."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not lines and time.monotonic() < deadline:  # configured and recording
        time.sleep(0.01)
    assert lines, child.stderr.read().decode()
    time.sleep(run_for)
    killed_at = time.time()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    reader.join(timeout=30)
    child.stdout.close()
    child.stderr.close()
    accepted = []
    for line in lines:
        event_id, at = line.split()
        accepted.append((event_id.decode(), float(at)))
    return accepted, killed_at


def test_sigkill_loses_only_the_last_window_and_doubles_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    accepted, killed_at = run_and_kill(url, run_for=1.5)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = Counter(conn.execute(sa.text("SELECT event_id FROM llmledger_calls")).scalars())
    engine.dispose()
    assert len(accepted) > 300  # the load was real
    assert max(stored.values()) == 1  # nothing doubled
    old_enough = [event_id for event_id, at in accepted if at < killed_at - LOSS_WINDOW]
    assert old_enough and all(stored[event_id] == 1 for event_id in old_enough)
    # And nothing in the ledger the process did not accept (a call may be stored in the
    # instant between track() returning and its line being written: at most one).
    assert len(set(stored) - {event_id for event_id, _ in accepted}) <= 1
