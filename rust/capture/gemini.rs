//! The Gemini dialect: `generateContent` and `streamGenerateContent` (Gemini API and Vertex AI).
//!
//! Which count includes which (<https://ai.google.dev/api/generate-content#UsageMetadata>):
//! `promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount` excludes
//! `thoughtsTokenCount` (thoughts are billed as output: they go to reasoning);
//! `toolUsePromptTokenCount` (the prompt of built-in tools) is outside `promptTokenCount` and
//! counts as input. Audio is reported per modality in `promptTokensDetails`,
//! `cacheTokensDetails` and `candidatesTokensDetails`; cached audio stays in the cache-read
//! bucket, so input audio is the prompt's audio less the cache's.
//!
//! Streams (`streamGenerateContent?alt=sse`, or a JSON array without it) repeat
//! `usageMetadata` in chunks with running totals, so the last one wins.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::lenient::{Count, Maybe, Text};
use super::{Summary, UsageCheck};
use crate::pricing::Tokens;

/// One `GenerateContentResponse`, or an error body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    #[serde(borrow, default)]
    candidates: Option<Vec<Candidate<'a>>>,
    #[serde(borrow, default)]
    usage_metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    model_version: Text<'a>,
    #[serde(borrow, default)]
    response_id: Text<'a>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Candidate<'a> {
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow, default)]
    parts: Option<Vec<Part<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part<'a> {
    #[serde(borrow, default)]
    text: Text<'a>,
    #[serde(borrow, default)]
    function_call: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata<'a> {
    #[serde(default)]
    prompt_token_count: Count,
    #[serde(default)]
    candidates_token_count: Count,
    #[serde(default)]
    cached_content_token_count: Count,
    #[serde(default)]
    thoughts_token_count: Count,
    #[serde(default)]
    tool_use_prompt_token_count: Count,
    #[serde(borrow, default)]
    prompt_tokens_details: Maybe<Vec<ModalityCount<'a>>>,
    #[serde(borrow, default)]
    cache_tokens_details: Maybe<Vec<ModalityCount<'a>>>,
    #[serde(borrow, default)]
    candidates_tokens_details: Maybe<Vec<ModalityCount<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModalityCount<'a> {
    #[serde(borrow, default)]
    modality: Text<'a>,
    #[serde(default)]
    token_count: Count,
}

fn audio(check: &mut UsageCheck, details: &Maybe<Vec<ModalityCount<'_>>>, of: &str) -> u64 {
    let mut sum = 0u64;
    for d in details.0.iter().flatten() {
        if d.modality.get() == Some("AUDIO") {
            let n = check.count(&format!("{of}.tokenCount"), d.token_count);
            sum = sum.saturating_add(n);
        }
    }
    sum
}

/// Splits a `usageMetadata` object into the disjoint buckets. Cached tokens are part of the
/// prompt and audio part of its total, so each is clamped to what is left of it.
fn buckets(u: &UsageMetadata<'_>) -> Result<(Tokens, Option<String>), String> {
    let mut check = UsageCheck::default();
    let prompt = check.count("promptTokenCount", u.prompt_token_count);
    let candidates = check.count("candidatesTokenCount", u.candidates_token_count);
    let cached = check.count("cachedContentTokenCount", u.cached_content_token_count);
    let thoughts = check.count("thoughtsTokenCount", u.thoughts_token_count);
    let tool_prompt = check.count("toolUsePromptTokenCount", u.tool_use_prompt_token_count);
    let audio_prompt = audio(&mut check, &u.prompt_tokens_details, "promptTokensDetails");
    let audio_cache = audio(&mut check, &u.cache_tokens_details, "cacheTokensDetails");
    let audio_out = audio(
        &mut check,
        &u.candidates_tokens_details,
        "candidatesTokensDetails",
    );
    let cached = check.within(
        cached,
        "cachedContentTokenCount",
        prompt,
        "promptTokenCount",
    );
    let audio_in = check.within(
        audio_prompt.saturating_sub(audio_cache),
        "uncached audio",
        prompt - cached,
        "promptTokenCount less cached",
    );
    let audio_out = check.within(
        audio_out,
        "candidates audio",
        candidates,
        "candidatesTokenCount",
    );
    check.finish([
        prompt - cached - audio_in + tool_prompt,
        cached,
        0,
        0,
        candidates - audio_out,
        thoughts,
        audio_in,
        audio_out,
    ])
}

/// Reads one JSON payload: a whole body, one element of a JSON array stream, or the data of
/// one SSE event.
pub(crate) fn on_payload(summary: &mut Summary, data: &str) -> serde_json::Result<()> {
    let p: Payload = serde_json::from_str(data)?;
    Summary::first(&mut summary.response_id, &p.response_id);
    Summary::first(&mut summary.model, &p.model_version);
    if let Some(error) = p.error {
        summary.provider_error(error);
    }
    for candidate in p.candidates.iter().flatten() {
        for part in candidate
            .content
            .iter()
            .flat_map(|c| c.parts.iter().flatten())
        {
            // Thought summaries (`"thought": true`) are text too; they stand in for the
            // reasoning tokens in an estimate.
            summary.push_text(&part.text);
            if let Some(call) = part.function_call {
                summary.output_text.push_str(call.get());
            }
        }
    }
    if let Some(raw) = p.usage_metadata {
        let usage: UsageMetadata = serde_json::from_str(raw.get())?;
        summary.set_usage(buckets(&usage), raw.get());
    }
    Ok(())
}
