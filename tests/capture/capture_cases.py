"""One real SDK call per endpoint, with the fixture it is answered with and the row it must
leave, worked out by hand from the fixture's usage and the catalog's prices.

Prices (USD per million tokens, catalog in force in 2026): gpt-4o-mini 0.15 in, 0.075 cached,
0.60 out; o4-mini 1.10 / 0.275 / 4.40; gpt-4.1-mini 0.40 / 0.10 / 1.60;
text-embedding-3-small 0.02; gpt-3.5-turbo-instruct 1.50 / 2.00; claude-haiku-4-5 1.00 in,
0.10 cache read, 1.25 cache write (5 min), 2.00 cache write (1 h), 5.00 out;
gemini-2.5-flash 0.30 in, 0.03 cached, 2.50 out (thinking billed as output).
$X per million tokens is X * 1e6 pico-USD per token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@dataclass(frozen=True)
class Case:
    id: str
    sdk: str
    fixture: str
    stream: bool
    call: Callable[[Any, bool], Any]
    model: str
    tokens: dict[str, int]
    cost_pico: int
    response_id: str | None
    usage_source: str
    extra: dict[str, Any] = field(default_factory=dict)


def chat(c: Any, stream: bool) -> Any:
    return c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=stream)


def responses(c: Any, stream: bool) -> Any:
    return c.responses.create(model="o4-mini", input="Tell me a unicorn story.", stream=stream)


def responses_41(c: Any, stream: bool) -> Any:
    return c.responses.create(model="gpt-4.1-mini", input="Tell me a unicorn story.", stream=stream)


def embeddings(c: Any, stream: bool) -> Any:
    return c.embeddings.create(model="text-embedding-3-small", input="The food was delicious")


def completions(c: Any, stream: bool) -> Any:
    return c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test")


def messages(c: Any, stream: bool) -> Any:
    return c.messages.create(
        model="claude-haiku-4-5", max_tokens=1024, messages=MESSAGES, stream=stream
    )


def beta_messages(c: Any, stream: bool) -> Any:
    return c.beta.messages.create(
        model="claude-haiku-4-5", max_tokens=1024, messages=MESSAGES, stream=stream
    )


def generate(c: Any, stream: bool) -> Any:
    fn = c.models.generate_content_stream if stream else c.models.generate_content
    return fn(model="gemini-2.5-flash", contents="What is the capital of France?")


CHAT_ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
CHAT_STREAM_ID = "chatcmpl-C2fGZ8u4Vq0rj3wTnKx1d9Yb7Hs5A"
ANTHROPIC_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
ANTHROPIC_STREAM_ID = "msg_014p7gG3wDgGV9EUtLvnow3U"

CASES = [
    # prompt 2006 incl. 1920 cached -> 86 input; 86*150_000 + 1920*75_000 + 300*600_000
    Case("openai-chat", "openai", "openai_chat.json", False, chat, "gpt-4o-mini-2024-07-18",
         {"input_tokens": 86, "cache_read_tokens": 1920, "output_tokens": 300},
         336_900_000, CHAT_ID, "response"),
    # 19*150_000 + 10*600_000
    Case("openai-chat-stream", "openai", "openai_chat_stream.sse", True, chat,
         "gpt-4o-mini-2024-07-18", {"input_tokens": 19, "output_tokens": 10},
         8_850_000, CHAT_STREAM_ID, "stream_final"),
    # input 1500 incl. 1024 cached -> 476; output 900 incl. 640 reasoning -> 260
    # 476*1_100_000 + 1024*275_000 + 260*4_400_000 + 640*4_400_000
    Case("openai-responses", "openai", "openai_responses.json", False, responses,
         "o4-mini-2025-04-16",
         {"input_tokens": 476, "cache_read_tokens": 1024, "output_tokens": 260,
          "reasoning_tokens": 640},
         4_765_200_000, "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "response"),
    # 37*400_000 + 11*1_600_000
    Case("openai-responses-stream", "openai", "openai_responses_stream.sse", True,
         responses_41, "gpt-4.1-mini-2025-04-14", {"input_tokens": 37, "output_tokens": 11},
         32_400_000, "resp_68a1f3c2d4e88193a5b0c7e9f1d2a4b60e3c5a7b9d1f2e4c", "stream_final"),
    # 8*20_000
    Case("openai-embeddings", "openai", "openai_embeddings.json", False, embeddings,
         "text-embedding-3-small", {"input_tokens": 8}, 160_000, None, "response"),
    # 5*1_500_000 + 7*2_000_000
    Case("openai-completions", "openai", "openai_completions.json", False, completions,
         "gpt-3.5-turbo-instruct", {"input_tokens": 5, "output_tokens": 7},
         21_500_000, "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", "response"),
    # 25*1_000_000 + 10_000*100_000 + 1000*1_250_000 + 2000*2_000_000 + 120*5_000_000
    Case("anthropic-messages", "anthropic", "anthropic_messages.json", False, messages,
         "claude-haiku-4-5-20251001",
         {"input_tokens": 25, "cache_read_tokens": 10_000, "cache_write_tokens": 1000,
          "cache_write_1h_tokens": 2000, "output_tokens": 120},
         6_875_000_000, ANTHROPIC_ID, "response"),
    # 472*1_000_000 + 15*5_000_000 (message_delta's cumulative 15 replaces message_start's 2)
    Case("anthropic-messages-stream", "anthropic", "anthropic_messages_stream.sse", True,
         messages, "claude-haiku-4-5-20251001", {"input_tokens": 472, "output_tokens": 15},
         547_000_000, ANTHROPIC_STREAM_ID, "stream_final"),
    Case("anthropic-beta-messages", "anthropic", "anthropic_messages.json", False,
         beta_messages, "claude-haiku-4-5-20251001",
         {"input_tokens": 25, "cache_read_tokens": 10_000, "cache_write_tokens": 1000,
          "cache_write_1h_tokens": 2000, "output_tokens": 120},
         6_875_000_000, ANTHROPIC_ID, "response"),
    # prompt 1200 incl. 1000 cached -> 200; thoughts 200 are reasoning, billed as output
    # 200*300_000 + 1000*30_000 + 50*2_500_000 + 200*2_500_000
    Case("gemini-generate", "google", "gemini_generate.json", False, generate,
         "gemini-2.5-flash",
         {"input_tokens": 200, "cache_read_tokens": 1000, "output_tokens": 50,
          "reasoning_tokens": 200},
         715_000_000, "7Q2DaOy6Ma2vz7IP6-6nqQ4", "response"),
    # usageMetadata is cumulative per chunk: the last one counts. 8*300_000 + 12*2_500_000
    Case("gemini-stream", "google", "gemini_stream.sse", True, generate, "gemini-2.5-flash",
         {"input_tokens": 8, "output_tokens": 12}, 32_400_000, "sFeDaPvGBtiFz7IPnOS0yQk",
         "stream_final"),
]  # fmt: skip
