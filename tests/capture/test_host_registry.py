"""Endpoint recognition from host and path, and the user-extensible host registry."""

from __future__ import annotations

import pytest

from llmledger.capture.hosts import Host, Route, host_for, register_host, route, unregister_host


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("api.openai.com", None, Host("openai", "openai")),
        ("api.anthropic.com", None, Host("anthropic", "anthropic")),
        ("generativelanguage.googleapis.com", None, Host("google", "google")),
        ("us-central1-aiplatform.googleapis.com", None, Host("google", "google")),
        ("europe-west4.aiplatform.googleapis.com", None, Host("google", "google")),
        ("openrouter.ai", None, Host("openrouter", "openai")),
        ("api.deepseek.com", None, Host("deepseek", "openai")),
        ("api.groq.com", None, Host("groq", "openai")),
        ("api.together.xyz", None, Host("together", "openai")),
        ("my-resource.openai.azure.com", None, Host("azure", "openai")),
        ("bedrock-runtime.us-east-1.amazonaws.com", None, Host("aws", "anthropic")),
        ("bedrock-runtime.eu-central-1.amazonaws.com", 443, Host("aws", "anthropic")),
        ("bedrock-runtime-fips.us-gov-west-1.amazonaws.com", None, Host("aws", "anthropic")),
        ("bedrock.us-east-1.amazonaws.com", None, None),  # the control plane: no model calls
        ("s3.us-east-1.amazonaws.com", None, None),
        ("example.com", None, None),
        ("localhost", 8000, None),
    ],
)
def test_builtin_hosts(host: str, port: int | None, expected: Host | None) -> None:
    assert host_for(host, port) == expected


def test_registered_hosts_with_port_and_subdomains() -> None:
    register_host("localhost:8000", "vllm")
    register_host(".gateway.example.com", "anthropic")
    try:
        assert host_for("localhost", 8000) == Host("vllm", "openai")
        assert host_for("localhost", 8001) is None
        assert host_for("eu.gateway.example.com", 443) == Host("anthropic", "anthropic")
    finally:
        unregister_host("localhost:8000")
        unregister_host(".gateway.example.com")
    assert host_for("localhost", 8000) is None


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        register_host("llm.internal", "acme", "soap")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dialect", "method", "path", "api", "url_model"),
    [
        ("openai", "POST", "/v1/chat/completions", "chat", None),
        ("openai", "POST", "/v1/responses", "responses", None),
        ("openai", "POST", "/v1/embeddings", "embeddings", None),
        ("openai", "POST", "/v1/completions", "completions", None),
        ("openai", "POST", "/api/v1/chat/completions", "chat", None),  # OpenRouter
        ("openai", "POST", "/openai/v1/chat/completions", "chat", None),  # Groq
        ("openai", "POST", "/openai/deployments/prod-4o/chat/completions", "chat", "prod-4o"),
        ("openai", "POST", "/openai/deployments/emb/embeddings", "embeddings", "emb"),
        ("openai", "GET", "/v1/chat/completions", None, None),  # listing stored completions
        ("openai", "GET", "/v1/models", None, None),
        ("openai", "POST", "/v1/responses/resp_123/cancel", None, None),
        ("openai", "POST", "/v1/moderations", None, None),
        ("openai", "POST", "/v1/files", None, None),
        ("anthropic", "POST", "/v1/messages", "messages", None),
        ("anthropic", "POST", "/v1/messages/count_tokens", None, None),
        ("anthropic", "POST", "/v1/messages/batches", None, None),
        ("google", "POST", "/v1beta/models/gemini-2.5-flash:generateContent", "generate_content",
         "gemini-2.5-flash"),
        ("google", "POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
         "generate_content", "gemini-2.5-pro"),
        ("google", "POST",
         "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent",
         "generate_content", "gemini-2.0-flash"),
        ("anthropic", "POST",
         "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001"
         ":streamRawPredict", "messages", "claude-haiku-4-5@20251001"),
        ("anthropic", "POST",
         "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5:rawPredict",
         "messages", "claude-haiku-4-5"),
        ("google", "POST", "/v1beta/models/gemini-2.5-flash:countTokens", None, None),
        ("google", "POST", "/v1/projects/p/locations/l/publishers/google/models/x:rawPredict",
         None, None),
        ("google", "POST", "/v1beta/models/text-embedding-004:embedContent", None, None),
    ],
)  # fmt: skip
def test_routes(
    dialect: str, method: str, path: str, api: str | None, url_model: str | None
) -> None:
    found = route(dialect, "p", method, path)  # type: ignore[arg-type]
    assert found == (None if api is None else Route("p", dialect, api, url_model))  # type: ignore[arg-type]


def test_claude_on_vertex_through_a_google_client_is_read_as_anthropic() -> None:
    path = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-x:rawPredict"
    assert route("google", "google", "POST", path) == Route(
        "google", "anthropic", "messages", "claude-x"
    )


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/model/global.anthropic.claude-haiku-4-5-20251001-v1:0/invoke",
         "global.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream",
         "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        # httpx2 hands the path URL-decoded: an ARN's "%2F" is a "/" here
        ("/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2"
         "/invoke", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2"),
        ("/model/anthropic.claude-3-haiku-20240307-v1:0/converse", None),
        ("/model//invoke", None),
        ("/models/x/invoke", None),
    ],
)  # fmt: skip
def test_bedrock_routes_take_the_model_from_the_url(path: str, model: str | None) -> None:
    found = route("anthropic", "aws", "POST", path)
    want = Route("aws", "anthropic", "messages", model, url_model_billed=True)
    assert found == (None if model is None else want)
    assert route("anthropic", "aws", "GET", path) is None


def test_a_bedrock_url_through_the_real_host_is_decoded_and_routed() -> None:
    # What the anthropic SDK sends: the model quoted with ":" kept, "/" as %2F.
    import httpx2

    from llmledger.capture.transport import _Router

    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2"
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/" + arn.replace("/", "%2F")
    request = httpx2.Request("POST", url + "/invoke-with-response-stream")
    found = _Router(None, "anthropic", "anthropic")(request)
    assert found == Route("aws", "anthropic", "messages", arn, url_model_billed=True)
