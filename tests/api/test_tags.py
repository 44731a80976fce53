import asyncio
import threading

import pytest

import llmledger


def tags_of(call):
    return dict(call.tags)


def test_precedence_explicit_over_scoped_over_default(tmp_path):
    llmledger.configure(
        f"sqlite:///{tmp_path / 'l.db'}", default_tags={"env": "prod", "feature": "default"}
    )
    try:
        with llmledger.tags(feature="chat", tenant="acme"):
            call = llmledger.track("openai", "gpt-4o", tags={"tenant": "globex", "user_id": 42})
        assert tags_of(call) == {
            "env": "prod",
            "feature": "chat",
            "tenant": "globex",
            "user_id": "42",
        }
    finally:
        llmledger.shutdown()


def test_default_tags_callable_is_evaluated_per_call(tmp_path):
    requests = iter(["r1", "r2"])
    llmledger.configure(
        f"sqlite:///{tmp_path / 'l.db'}", default_tags=lambda: {"request": next(requests)}
    )
    try:
        assert tags_of(llmledger.track("openai", "gpt-4o")) == {"request": "r1"}
        assert tags_of(llmledger.track("openai", "gpt-4o")) == {"request": "r2"}
        # A failing callable is logged; the call is still recorded, without defaults.
        assert tags_of(llmledger.track("openai", "gpt-4o")) == {}
    finally:
        llmledger.shutdown()


def test_nested_scopes_merge_and_unwind(ledger):
    with llmledger.tags(feature="chat", tenant="acme"):
        with llmledger.tags(tenant="globex", step="rerank"):
            inner = llmledger.track("openai", "gpt-4o")
        outer = llmledger.track("openai", "gpt-4o")
    after = llmledger.track("openai", "gpt-4o")
    assert tags_of(inner) == {"feature": "chat", "tenant": "globex", "step": "rerank"}
    assert tags_of(outer) == {"feature": "chat", "tenant": "acme"}
    assert tags_of(after) == {}


def test_decorator_sync_and_async(ledger):
    @llmledger.tags(job="nightly")
    def sync_job():
        return llmledger.track("openai", "gpt-4o")

    @llmledger.tags(job="async-job")
    async def async_job():
        return llmledger.track("openai", "gpt-4o")

    assert tags_of(sync_job()) == {"job": "nightly"}
    assert tags_of(asyncio.run(async_job())) == {"job": "async-job"}


def test_isolated_across_threads(ledger):
    barrier = threading.Barrier(8)
    results = {}

    def work(i):
        with llmledger.tags(tenant=f"t{i}"):
            barrier.wait()  # every thread is inside its scope at once
            results[i] = llmledger.track("openai", "gpt-4o")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: tags_of(c) for i, c in results.items()} == {i: {"tenant": f"t{i}"} for i in range(8)}


def test_isolated_across_asyncio_tasks(ledger):
    async def work(i):
        with llmledger.tags(tenant=f"t{i}"):
            await asyncio.sleep(0.01 * (8 - i))  # interleave the tasks
            return llmledger.track("openai", "gpt-4o")

    async def main():
        return await asyncio.gather(*(work(i) for i in range(8)))

    calls = asyncio.run(main())
    assert [tags_of(c) for c in calls] == [{"tenant": f"t{i}"} for i in range(8)]


def test_secrets_redacted_and_sizes_capped(ledger):
    call = llmledger.track(
        "openai",
        "gpt-4o",
        tags={
            "api_key": "sk-live-123",
            "Authorization": "Bearer x",
            "db_password": "p",
            "note": "x" * 1000,
        },
    )
    assert (
        call.tags["api_key"]
        == call.tags["Authorization"]
        == call.tags["db_password"]
        == "[redacted]"
    )
    assert call.tags["note"] == "x" * llmledger.tagging.MAX_VALUE_LENGTH
    many = llmledger.track("openai", "gpt-4o", tags={f"k{i}": i for i in range(100)})
    assert len(many.tags) == llmledger.tagging.MAX_TAGS


def test_bad_tag_keys_raise_where_called(ledger):
    with pytest.raises(TypeError, match="tag keys"):
        llmledger.track("openai", "gpt-4o", tags={1: "x"})
    with pytest.raises(ValueError, match="at most 64"):
        llmledger.tags(**{"k" * 65: "v"})
