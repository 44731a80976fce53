"""What the kill switch leaves of capture: a switched-off instrumented transport against the
bare transport it wraps, in the same process, answering from memory (no network), so the
difference is the wrapper's own check. Target: no more than a flag read (well under 1 us).
Run: `make bench` (or `pytest benches/bench_kill_switch.py --benchmark-only`).
"""

import httpx2
import pytest

import llmledger
from llmledger.capture import TeeTransport

REQUEST = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions", content=b"{}")
ROUNDS, ITERATIONS = 200, 100


class _Answer(httpx2.BaseTransport):
    """Answers at once from memory: the time measured is the transports' own."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"{}")


@pytest.fixture
def switched_off(tmp_path):
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", enabled=False)
    yield
    llmledger.shutdown()


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "switched-off"])
def test_transport(benchmark, switched_off, wrapped, tmp_path):
    transport = TeeTransport(_Answer(), provider="openai") if wrapped else _Answer()
    benchmark.pedantic(transport.handle_request, (REQUEST,), rounds=ROUNDS, iterations=ITERATIONS)
    benchmark.group = "kill switch"
    assert not (tmp_path / "ledger.db").exists()  # switched off: no database was opened
