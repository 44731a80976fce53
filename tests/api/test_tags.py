import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

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


def test_values_are_made_storable_keys_are_refused(any_ledger):
    """A tag value from user data never makes a call unstorable: each NUL and lone surrogate
    becomes U+FFFD, after the cut to 256 characters. A key is the app's own name: refused."""
    name = b"report-\xff.pdf".decode("utf-8", "surrogateescape")  # "report-\udcff.pdf"
    with llmledger.tags(file=name, half="\ud83d" + "y" * 300):
        call = llmledger.track("openai", "gpt-4o", tags={"note": "a\x00b", "ok": "\N{ROBOT FACE}"})
    expected = {
        "file": "report-\ufffd.pdf",
        "half": "\ufffd" + "y" * 255,
        "note": "a\ufffdb",
        "ok": "\N{ROBOT FACE}",
    }
    assert tags_of(call) == expected
    (row,) = llmledger.calls().to_dicts()
    assert row["tags"] == expected
    for key in ["a\x00b", "file-\udcff"]:
        with pytest.raises(ValueError, match="tag key holds a NUL character or a lone surrogate"):
            llmledger.track("openai", "gpt-4o", tags={key: "v"})
        with pytest.raises(ValueError, match="tag key holds a NUL"):
            llmledger.tags(**{key: "v"})
    assert llmledger.calls().height == 1


def test_default_tags_are_made_storable_the_same_way(tmp_path):
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", default_tags={"host": "box-\udcc3\x00"})
    try:
        assert tags_of(llmledger.track("openai", "gpt-4o")) == {"host": "box-\ufffd\ufffd"}
        assert llmledger.calls()["tags"].to_list() == [{"host": "box-\ufffd\ufffd"}]
        with pytest.raises(ValueError, match="default_tags: tag key holds a NUL"):
            llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", default_tags={"\x00": "v"})
    finally:
        llmledger.shutdown()


def tenant_now():
    return dict(llmledger.tagging.current())


def test_bind_tags_carries_the_scope_into_a_thread_pool(ledger):
    with ThreadPoolExecutor(max_workers=4) as pool:
        with llmledger.tags(tenant="acme", feature="summary"):
            unbound = pool.submit(tenant_now).result()
            bound = pool.submit(llmledger.bind_tags(tenant_now)).result()
            record = llmledger.bind_tags(llmledger.track)
            call = pool.submit(record, "openai", "gpt-4o", input_tokens=3).result()
        # Bound in one scope, the function keeps it when run after the scope has closed.
        assert unbound == {}
        assert bound == tags_of(call) == {"tenant": "acme", "feature": "summary"}
        # The worker's own scope is back after the bound call.
        assert pool.submit(tenant_now).result() == {}
    assert llmledger.calls()["tags"].to_list() == [{"feature": "summary", "tenant": "acme"}]


def test_one_bound_function_runs_in_many_threads_at_once(ledger):
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()  # all eight run the same bound function at the same time
        return llmledger.track("openai", "gpt-4o", input_tokens=i, tags={"i": i})

    with llmledger.tags(job="batch"):
        bound = llmledger.bind_tags(work)
    with ThreadPoolExecutor(max_workers=8) as pool:
        calls = list(pool.map(bound, range(8)))
    assert [tags_of(c) for c in calls] == [{"job": "batch", "i": str(i)} for i in range(8)]


def test_bind_tags_with_asyncio_run_in_executor(ledger):
    async def main():
        loop = asyncio.get_running_loop()
        with llmledger.tags(tenant="acme"):
            unbound = await loop.run_in_executor(None, tenant_now)
            bound = await loop.run_in_executor(None, llmledger.bind_tags(tenant_now))
        return unbound, bound

    assert asyncio.run(main()) == ({}, {"tenant": "acme"})
