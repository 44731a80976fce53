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
use super::{Api, Summary};
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

fn details(d: &Maybe<Details>) -> (u64, u64, u64) {
    d.0.as_ref().map_or((0, 0, 0), |d| {
        (d.cached_tokens.0, d.audio_tokens.0, d.reasoning_tokens.0)
    })
}

/// Splits an OpenAI usage object into the disjoint buckets of `api`.
fn buckets(api: Api, u: &Usage) -> Tokens {
    match api {
        Api::Responses => {
            let (cached, _, _) = details(&u.input_tokens_details);
            let (_, _, reasoning) = details(&u.output_tokens_details);
            let input = u.input_tokens.0.saturating_sub(cached);
            let output = u.output_tokens.0.saturating_sub(reasoning);
            [input, cached, 0, 0, output, reasoning, 0, 0]
        }
        Api::Embeddings => [u.prompt_tokens.0.max(u.input_tokens.0), 0, 0, 0, 0, 0, 0, 0],
        _ => {
            let (mut cached, audio_in, _) = details(&u.prompt_tokens_details);
            if cached == 0 {
                cached = u.prompt_cache_hit_tokens.0;
            }
            let (_, audio_out, reasoning) = details(&u.completion_tokens_details);
            let input = u
                .prompt_tokens
                .0
                .saturating_sub(cached)
                .saturating_sub(audio_in);
            let output = u
                .completion_tokens
                .0
                .saturating_sub(reasoning)
                .saturating_sub(audio_out);
            [input, cached, 0, 0, output, reasoning, audio_in, audio_out]
        }
    }
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
