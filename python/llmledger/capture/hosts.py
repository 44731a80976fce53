"""Which requests are LLM calls: a host registry, and endpoint recognition from the path.

A host maps to the provider that bills the call (the id the price catalog uses, e.g.
"openrouter") and to the wire dialect it speaks ("openai", "anthropic" or "google"), which
decides how its paths and bodies are read. OpenAI-compatible hosts speak "openai"; Claude on
Amazon Bedrock ("aws") speaks "anthropic" on its own paths.

Users add their own hosts (a gateway, a local vLLM) with `register_host`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DIALECTS",
    "Api",
    "Dialect",
    "Host",
    "Route",
    "dialect_of",
    "guess_route",
    "host_for",
    "register_host",
    "route",
    "unregister_host",
]

Dialect = Literal["openai", "anthropic", "google"]
Api = Literal["chat", "responses", "completions", "embeddings", "messages", "generate_content"]
DIALECTS: tuple[Dialect, ...] = ("openai", "anthropic", "google")


@dataclass(frozen=True, slots=True)
class Host:
    """A provider and the wire dialect it speaks."""

    provider: str
    dialect: Dialect


@dataclass(frozen=True, slots=True)
class Route:
    """A recognised LLM call: who bills it, how to parse it, and the model named in the URL."""

    provider: str
    dialect: Dialect
    api: Api
    url_model: str | None
    url_model_billed: bool = False
    """The URL's model is the one billed, whatever the response names: Bedrock's model or
    inference-profile id ("us.anthropic.claude-..."), whose prefix sets the price, where the
    response names only Claude's own model."""

    def url_model_first(self) -> str | None:
        """The URL's model when it, not the request body, says which model was asked for:
        Gemini's path and Bedrock's name it (Bedrock's body does not)."""
        return self.url_model if self.dialect == "google" or self.url_model_billed else None


# Exact host names; a key starting with "." matches any subdomain (Azure resources, Vertex
# regions). The provider ids are those of the bundled price catalog (genai-prices).
_HOSTS: dict[str, Host] = {
    "api.openai.com": Host("openai", "openai"),
    "api.anthropic.com": Host("anthropic", "anthropic"),
    # Gemini API and Vertex AI ("us-central1-aiplatform.googleapis.com"); other Google APIs
    # on these hosts (OAuth, storage) have no ":generateContent" path, so are not LLM calls.
    ".googleapis.com": Host("google", "google"),
    "openrouter.ai": Host("openrouter", "openai"),
    "api.deepseek.com": Host("deepseek", "openai"),
    "api.groq.com": Host("groq", "openai"),
    "api.together.xyz": Host("together", "openai"),
    "api.mistral.ai": Host("mistral", "openai"),
    "api.x.ai": Host("x-ai", "openai"),
    "api.fireworks.ai": Host("fireworks", "openai"),
    "api.cerebras.ai": Host("cerebras", "openai"),
    ".openai.azure.com": Host("azure", "openai"),
    ".services.ai.azure.com": Host("azure", "openai"),
    ".cognitiveservices.azure.com": Host("azure", "openai"),
}

# Hosts with a region in their name, tried when no registered name matches: Bedrock's runtime
# endpoints ("bedrock-runtime.us-east-1.amazonaws.com", and the FIPS ones), which the price
# catalog names "aws". The path decides which calls are Claude's (`_bedrock_model`).
_HOST_PATTERNS: tuple[tuple[re.Pattern[str], Host], ...] = (
    (re.compile(r"bedrock-runtime(-fips)?\.[a-z0-9-]+\.amazonaws\.com"), Host("aws", "anthropic")),
)

# The dialect a provider speaks when it is named without a registered host.
_NATIVE_DIALECT: dict[str, Dialect] = {"anthropic": "anthropic", "google": "google"}


def register_host(host: str, provider: str, dialect: Dialect | None = None) -> None:
    """Record calls to `host` as `provider`'s. `host` is a host name, optionally with a port
    ("localhost:8000"); a leading dot matches every subdomain (".example-gateway.com").
    `dialect` defaults to the provider's own for "anthropic" and "google", else "openai"."""
    dialect = dialect or _NATIVE_DIALECT.get(provider, "openai")
    if dialect not in DIALECTS:
        raise ValueError(f"register_host: dialect must be one of {DIALECTS}, got {dialect!r}")
    _HOSTS[host.lower()] = Host(provider, dialect)


def unregister_host(host: str) -> None:
    """Forget a host added by `register_host` (or a built-in one)."""
    _HOSTS.pop(host.lower(), None)


def host_for(host: str, port: int | None = None) -> Host | None:
    """The registered provider of a host, trying "host:port", the host, then its parent domains."""
    if port is not None and (hit := _HOSTS.get(f"{host}:{port}")):
        return hit
    if hit := _HOSTS.get(host):
        return hit
    dot = host.find(".")
    while dot != -1:
        if hit := _HOSTS.get(host[dot:]):
            return hit
        dot = host.find(".", dot + 1)
    for pattern, found in _HOST_PATTERNS:
        if pattern.fullmatch(host):
            return found
    return None


def dialect_of(provider: str) -> Dialect:
    """The dialect a provider named without a host speaks (OpenAI-compatible unless native)."""
    return _NATIVE_DIALECT.get(provider, "openai")


@functools.lru_cache(maxsize=4096)  # on every request; an app calls few distinct endpoints
def route(dialect: Dialect, provider: str, method: str, path: str) -> Route | None:
    """The LLM endpoint a POST to `path` is, in `dialect`; None for anything else."""
    if method != "POST":
        return None
    if dialect == "openai":
        # Path suffixes, so "/v1", "/openai/v1", Azure's "/openai/deployments/<d>" and gateway
        # prefixes all match. https://platform.openai.com/docs/api-reference
        if path.endswith("/chat/completions"):
            return Route(provider, dialect, "chat", _azure_deployment(path))
        if path.endswith("/responses"):
            return Route(provider, dialect, "responses", None)
        if path.endswith("/embeddings"):
            return Route(provider, dialect, "embeddings", _azure_deployment(path))
        if path.endswith("/completions"):
            return Route(provider, dialect, "completions", _azure_deployment(path))
        return None
    if dialect == "anthropic":
        # The beta endpoint is the same path with "?beta=true"; count_tokens and batches differ.
        # https://docs.anthropic.com/en/api/messages
        if path.endswith("/messages"):
            return Route(provider, dialect, "messages", None)
        model = _bedrock_model(path)
        if model is not None:
            return Route(provider, dialect, "messages", model, url_model_billed=True)
        model = _vertex_claude(path)
        return None if model is None else Route(provider, dialect, "messages", model)
    # Gemini API and Vertex AI: ".../models/<model>:generateContent" (or :streamGenerateContent).
    # https://ai.google.dev/api/generate-content
    model = _vertex_claude(path)
    if model is not None:  # Claude on Vertex AI speaks Anthropic's format, not Gemini's
        return Route(provider, "anthropic", "messages", model)
    head, colon, verb = path.rpartition(":")
    if colon and verb in ("generateContent", "streamGenerateContent"):
        model = head.rpartition("/models/")[2] or None
        return Route(provider, dialect, "generate_content", model)
    return None


def guess_route(method: str, path: str) -> Route | None:
    """The LLM endpoint a request to a host the registry does not know is, judged from its
    path alone, in the first dialect that recognises it, billed to that dialect's own
    provider ("openai", "anthropic" or "google"); None for anything else."""
    for dialect in DIALECTS:
        found = route(dialect, dialect, method, path)
        if found is not None:
            return found
    return None


def _vertex_claude(path: str) -> str | None:
    """The model of a call to Claude on Vertex AI (`AnthropicVertex`), which posts Anthropic's
    Messages body to ".../publishers/anthropic/models/<model>:rawPredict" (or
    ":streamRawPredict") and gets Anthropic's reply; None for any other path.
    https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude"""
    head, colon, verb = path.rpartition(":")
    if colon and verb in ("rawPredict", "streamRawPredict") and "/publishers/anthropic/" in head:
        return head.rpartition("/models/")[2] or None
    return None


def _bedrock_model(path: str) -> str | None:
    """The model of a call to Claude on Amazon Bedrock (`AnthropicBedrock`), which posts
    Anthropic's body to "/model/<model>/invoke" (a JSON reply in Anthropic's shape) or
    "/model/<model>/invoke-with-response-stream" (Anthropic's events in AWS event-stream
    framing); None for any other path. `path` is URL-decoded: ids contain ":" and an
    inference-profile ARN contains "/", so the model is everything between the two.
    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html"""
    _, found, rest = path.partition("/model/")
    model, _, verb = rest.rpartition("/")
    if found and model and verb in ("invoke", "invoke-with-response-stream"):
        return model
    return None


def _azure_deployment(path: str) -> str | None:
    """Azure OpenAI names the deployment in the path: /openai/deployments/<name>/chat/completions.
    The response names the model; the deployment is the fallback when it does not."""
    _, found, rest = path.partition("/deployments/")
    return rest.partition("/")[0] or None if found else None
