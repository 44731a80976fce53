"""A realistic synthetic quarter of LLM calls, recorded through the same `track()` path.

Deterministic for a seed. What it contains, so the report has something to say:
several providers and real catalog models; features with their own model mix; a long Zipf tail
of tenants and their users; streaming and prompt-cached calls; batch and flex traffic; two
catalog price changes inside the window (deepseek-v4-flash on 2026-09-10, mistral-large-4 on
2026-10-20 and 2026-10-29); a prompt change on the summarize feature that doubles its input
three weeks before the end; and a few models no catalog prices.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from dataclasses import dataclass

from ..progress import Progress
from ..record.recorder import track

__all__ = ["DEMO_DAYS", "generate"]

DEMO_DAYS = 90


@dataclass(frozen=True)
class Profile:
    """Typical token sizes of one (feature, model) traffic stream (log-normal medians)."""

    provider: str
    model: str
    input_median: int
    output_median: int
    cache_share: float = 0.0
    """Share of calls that hit the prompt cache."""
    reasoning: float = 0.0
    """Reasoning tokens as a multiple of visible output."""


FEATURES: dict[str, tuple[float, list[tuple[float, Profile]]]] = {
    "chat": (
        0.34,
        [
            (0.45, Profile("openai", "gpt-4o-mini", 1800, 350, cache_share=0.5)),
            (0.25, Profile("openai", "gpt-4o", 2200, 400, cache_share=0.5)),
            (0.20, Profile("anthropic", "claude-sonnet-4-5", 2500, 450, cache_share=0.6)),
            (0.10, Profile("deepseek", "deepseek-v4-flash", 1500, 300)),
        ],
    ),
    "search": (
        0.20,
        [
            (0.60, Profile("google", "gemini-2.5-flash", 6000, 300)),
            (0.30, Profile("openai", "gpt-4o-mini", 4000, 250)),
            (0.10, Profile("acme-gateway", "acme-rerank-v2", 3000, 20)),
        ],
    ),
    "summarize": (
        0.16,
        [
            (0.50, Profile("anthropic", "claude-3-5-haiku-latest", 9000, 600, cache_share=0.3)),
            (0.35, Profile("google", "gemini-2.5-pro", 40000, 900)),
            (0.15, Profile("mistral", "mistral-large-4", 8000, 700)),
        ],
    ),
    "extract": (
        0.10,
        [
            (0.70, Profile("openai", "gpt-4o-mini", 3500, 500)),
            (0.30, Profile("mistral", "mistral-large-4", 3000, 400)),
        ],
    ),
    "agent": (
        0.10,
        [
            (0.50, Profile("openai", "o4-mini", 5000, 600, cache_share=0.7, reasoning=3.0)),
            (0.40, Profile("anthropic", "claude-sonnet-4-5", 12000, 800, cache_share=0.8)),
            (0.10, Profile("openai", "gpt-internal-router", 800, 50)),
        ],
    ),
    "classify": (
        0.06,
        [
            (0.80, Profile("openai", "gpt-4o-mini", 600, 5)),
            (0.20, Profile("deepseek", "deepseek-v4-flash", 600, 5)),
        ],
    ),
    "translate": (0.04, [(1.0, Profile("google", "gemini-2.5-flash", 1200, 1300))]),
}


def _pick(rng: random.Random, weighted: list[tuple[float, object]]):
    return rng.choices([v for _, v in weighted], weights=[w for w, _ in weighted])[0]


def _lognormal(rng: random.Random, median: int, sigma: float = 0.6) -> int:
    return max(1, int(rng.lognormvariate(math.log(median), sigma)))


def _zipf_cum_weights(n: int, s: float = 1.1) -> list[float]:
    # Cumulative, so each draw is a bisection rather than a pass over every tenant.
    return list(itertools.accumulate(1 / (k**s) for k in range(1, n + 1)))


def generate(
    calls: int, *, seed: int = 7, end: dt.datetime | None = None, tenants: int = 1500
) -> int:
    """Records `calls` synthetic calls over the DEMO_DAYS days before `end` (default: today,
    00:00 UTC)."""
    rng = random.Random(seed)
    end = end or dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(days=DEMO_DAYS)
    prompt_change = end - dt.timedelta(days=21)
    tenant_names = [f"tenant-{i:04d}" for i in range(1, tenants + 1)]
    tenant_weights = _zipf_cum_weights(tenants)
    features = [(weight, name) for name, (weight, _) in FEATURES.items()]
    span_s = int((end - start).total_seconds())
    with Progress(calls, "demo: recording calls") as bar:
        for _ in range(calls):
            feature = _pick(rng, features)
            profile: Profile = _pick(rng, FEATURES[feature][1])
            at = start + dt.timedelta(
                seconds=rng.randrange(span_s), microseconds=rng.randrange(10**6)
            )
            tenant = rng.choices(tenant_names, cum_weights=tenant_weights)[0]
            total_in = _lognormal(rng, profile.input_median)
            if feature == "summarize" and at >= prompt_change:
                total_in *= 2  # the prompt change the report should surface
            cached = (
                int(total_in * rng.uniform(0.5, 0.9)) if rng.random() < profile.cache_share else 0
            )
            buckets = {
                "input_tokens": total_in - cached,
                "output_tokens": _lognormal(rng, profile.output_median),
            }
            if profile.provider == "anthropic" and cached:
                # Anthropic reports cache writes separately: first call writes, later ones read.
                if rng.random() < 0.2:
                    key = "cache_write_1h_tokens" if feature == "agent" else "cache_write_tokens"
                    buckets[key] = cached
                else:
                    buckets["cache_read_tokens"] = cached
            elif cached:
                buckets["cache_read_tokens"] = cached
            if profile.reasoning:
                buckets["reasoning_tokens"] = int(
                    buckets["output_tokens"] * profile.reasoning * rng.uniform(0.3, 1.7)
                )
            mode = "standard"
            if feature == "summarize" and rng.random() < 0.15:
                mode = "batch"
            elif profile.model == "o4-mini" and rng.random() < 0.2:
                mode = "flex"
            streamed = feature in ("chat", "translate") and rng.random() < 0.7
            track(
                profile.provider,
                profile.model,
                at=at,
                pricing_mode=mode,
                latency_ms=round(
                    rng.lognormvariate(math.log(350 + buckets["output_tokens"] * 8), 0.4), 1
                ),
                provider_response_id=f"demo_{rng.getrandbits(64):016x}",
                tags={
                    "feature": feature,
                    "tenant": tenant,
                    "user_id": f"{tenant}-u{int(rng.paretovariate(1.2)) % 60:02d}",
                    "stream": "true" if streamed else "false",
                },
                **buckets,
            )
            bar.advance()
    return calls
