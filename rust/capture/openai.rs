//! The OpenAI dialect: Chat Completions, Responses, legacy Completions and Embeddings, as
//! OpenAI and the OpenAI-compatible hosts (OpenRouter, DeepSeek, Groq, vLLM...) send them.
//!
//! Which count includes which (<https://platform.openai.com/docs/api-reference/chat/object>,
//! <https://platform.openai.com/docs/api-reference/responses/object>):
//! - Chat and Completions: `prompt_tokens` includes `prompt_tokens_details.cached_tokens`
//!   and `.audio_tokens`; `completion_tokens` includes `completion_tokens_details
//!   .reasoning_tokens` and `.audio_tokens`. DeepSeek reports its cache hits as
//!   `prompt_cache_hit_tokens`, also inside `prompt_tokens`.
//! - Responses: `input_tokens` includes `input_tokens_details.cached_tokens`; `output_tokens`
//!   includes `output_tokens_details.reasoning_tokens`.
//! - Embeddings: `prompt_tokens` is all input.
//!
//! Streams: a chat stream carries usage only in its last chunk, and only when the request set
//! `stream_options.include_usage` (Groq puts it in `x_groq.usage`); a Responses stream
//! carries it in `response.completed` (or `response.incomplete` / `response.failed`). If a
//! host repeats usage, the last one wins.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::lenient::{Count, Maybe, Text};
use super::{Api, Summary, UsageCheck};
use crate::pricing::Tokens;

/// One chat chunk, chat or completions body, Responses event or object, or embeddings body.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Text<'a>,
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    model: Text<'a>,
    #[serde(borrow, default)]
    service_tier: Text<'a>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    choices: Option<Vec<Choice<'a>>>,
    #[serde(borrow, default)]
    x_groq: Option<Groq<'a>>,
    /// A Responses stream event's text fragment.
    #[serde(borrow, default)]
    delta: Text<'a>,
    /// The response object that `response.*` stream events carry.
    #[serde(borrow, default)]
    response: Option<Box<Payload<'a>>>,
    /// A Responses object's output items (plain bodies only; streams send deltas).
    #[serde(borrow, default)]
    output: Option<Vec<OutputItem<'a>>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    /// A chunk's increment.
    #[serde(borrow, default)]
    delta: Option<Message<'a>>,
    /// A chat body's message.
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    /// A legacy Completions choice.
    #[serde(borrow, default)]
    text: Text<'a>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    content: Text<'a>,
    #[serde(borrow, default)]
    refusal: Text<'a>,
    /// DeepSeek's and several hosts' streamed reasoning.
    #[serde(borrow, default)]
    reasoning_content: Text<'a>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow, default)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(borrow, default)]
    arguments: Text<'a>,
}

#[derive(Deserialize)]
struct Groq<'a> {
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OutputItem<'a> {
    #[serde(borrow, default)]
    arguments: Text<'a>,
    #[serde(borrow, default)]
    content: Option<Vec<Part<'a>>>,
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(borrow, default)]
    text: Text<'a>,
}

/// OpenAI's usage object; Chat names and Responses names side by side.
#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Count,
    #[serde(default)]
    completion_tokens: Count,
    #[serde(default)]
    input_tokens: Count,
    #[serde(default)]
    output_tokens: Count,
    #[serde(default)]
    prompt_cache_hit_tokens: Count,
    #[serde(default)]
    prompt_tokens_details: Maybe<Details>,
    #[serde(default)]
    completion_tokens_details: Maybe<Details>,
    #[serde(default)]
    input_tokens_details: Maybe<Details>,
    #[serde(default)]
    output_tokens_details: Maybe<Details>,
}

#[derive(Deserialize, Default)]
struct Details {
    #[serde(default)]
    cached_tokens: Count,
    #[serde(default)]
    audio_tokens: Count,
    #[serde(default)]
    reasoning_tokens: Count,
}

/// The `(cached, audio, reasoning)` counts of a details object; all 0 when it is absent.
fn details(check: &mut UsageCheck, d: &Maybe<Details>, of: &str) -> (u64, u64, u64) {
    d.0.as_ref().map_or((0, 0, 0), |d| {
        (
            check.count(&format!("{of}.cached_tokens"), d.cached_tokens),
            check.count(&format!("{of}.audio_tokens"), d.audio_tokens),
            check.count(&format!("{of}.reasoning_tokens"), d.reasoning_tokens),
        )
    })
}

/// Splits an OpenAI usage object into the disjoint buckets of `api`. The details are parts of
/// the totals, so each is clamped to what is left of its total.
fn buckets(api: Api, u: &Usage) -> Result<(Tokens, Option<String>), String> {
    let mut check = UsageCheck::default();
    let tokens = match api {
        Api::Responses => {
            let total_in = check.count("input_tokens", u.input_tokens);
            let total_out = check.count("output_tokens", u.output_tokens);
            let (cached, _, _) =
                details(&mut check, &u.input_tokens_details, "input_tokens_details");
            let (_, _, reasoning) = details(
                &mut check,
                &u.output_tokens_details,
                "output_tokens_details",
            );
            let cached = check.within(cached, "cached_tokens", total_in, "input_tokens");
            let reasoning = check.within(reasoning, "reasoning_tokens", total_out, "output_tokens");
            [
                total_in - cached,
                cached,
                0,
                0,
                total_out - reasoning,
                reasoning,
                0,
                0,
            ]
        }
        Api::Embeddings => {
            let prompt = check.count("prompt_tokens", u.prompt_tokens);
            let input = check.count("input_tokens", u.input_tokens);
            [prompt.max(input), 0, 0, 0, 0, 0, 0, 0]
        }
        _ => {
            let prompt = check.count("prompt_tokens", u.prompt_tokens);
            let completion = check.count("completion_tokens", u.completion_tokens);
            let (mut cached, audio_in, _) = details(
                &mut check,
                &u.prompt_tokens_details,
                "prompt_tokens_details",
            );
            let hits = check.count("prompt_cache_hit_tokens", u.prompt_cache_hit_tokens);
            if cached == 0 {
                cached = hits;
            }
            let (_, audio_out, reasoning) = details(
                &mut check,
                &u.completion_tokens_details,
                "completion_tokens_details",
            );
            let cached = check.within(cached, "cached_tokens", prompt, "prompt_tokens");
            let audio_in = check.within(
                audio_in,
                "audio_tokens",
                prompt - cached,
                "prompt_tokens less cached",
            );
            let reasoning = check.within(
                reasoning,
                "reasoning_tokens",
                completion,
                "completion_tokens",
            );
            let audio_out = check.within(
                audio_out,
                "audio_tokens",
                completion - reasoning,
                "completion_tokens less reasoning",
            );
            [
                prompt - cached - audio_in,
                cached,
                0,
                0,
                completion - reasoning - audio_out,
                reasoning,
                audio_in,
                audio_out,
            ]
        }
    };
    check.finish(tokens)
}

fn take_usage(api: Api, summary: &mut Summary, raw: &RawValue) -> serde_json::Result<()> {
    let usage: Usage = serde_json::from_str(raw.get())?;
    summary.set_usage(buckets(api, &usage), raw.get());
    Ok(())
}

/// Takes the id, model, tier, usage and error of a response object or chunk.
fn take_meta(api: Api, summary: &mut Summary, p: &Payload<'_>) -> serde_json::Result<()> {
    Summary::first(&mut summary.response_id, &p.id);
    Summary::first(&mut summary.model, &p.model);
    Summary::last(&mut summary.service_tier, &p.service_tier);
    if let Some(error) = p.error {
        summary.provider_error(error);
    }
    let usage = p.usage.or_else(|| p.x_groq.as_ref().and_then(|g| g.usage));
    match usage {
        Some(raw) => take_usage(api, summary, raw),
        None => Ok(()),
    }
}

/// Reads one JSON payload: a whole body, or the data of one SSE event.
pub(crate) fn on_payload(api: Api, summary: &mut Summary, data: &str) -> serde_json::Result<()> {
    let p: Payload = serde_json::from_str(data)?;
    if let Some(response) = &p.response {
        // A Responses stream event: the object is metadata only, the text came as deltas.
        return take_meta(api, summary, response);
    }
    match p.kind.get() {
        Some(
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_text.delta",
        ) => {
            summary.push_text(&p.delta);
            return Ok(());
        }
        Some("error") => {
            // A Responses stream's error event carries code and message at the top level.
            let raw: &RawValue = serde_json::from_str(data)?;
            summary.provider_error(raw);
            return Ok(());
        }
        _ => {}
    }
    for choice in p.choices.iter().flatten() {
        summary.push_text(&choice.text);
        for m in [&choice.delta, &choice.message].into_iter().flatten() {
            summary.push_text(&m.reasoning_content);
            summary.push_text(&m.content);
            summary.push_text(&m.refusal);
            for call in m.tool_calls.iter().flatten() {
                if let Some(f) = &call.function {
                    summary.push_text(&f.arguments);
                }
            }
        }
    }
    for item in p.output.iter().flatten() {
        summary.push_text(&item.arguments);
        for part in item.content.iter().flatten() {
            summary.push_text(&part.text);
        }
    }
    take_meta(api, summary, &p)
}
