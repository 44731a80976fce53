//! Claude on Amazon Bedrock: `InvokeModelWithResponseStream` answers in AWS event-stream
//! messages ([`super::eventstream`]), each wrapping one Anthropic stream event.
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModelWithResponseStream.html>
//!
//! - `:message-type` `event` with `:event-type` `chunk`: the payload is JSON
//!   `{"bytes": "<base64>", "p": "<padding>"}`, and the decoded bytes are one Anthropic
//!   Messages stream event (`message_start`, `content_block_delta`, `message_delta`...). Each
//!   goes to the Anthropic dialect, so usage is read exactly as on api.anthropic.com.
//! - `:message-type` `exception` (`:exception-type` `throttlingException`,
//!   `modelStreamErrorException`, ...; payload `{"message": ...}`) or `error` (`:error-code`,
//!   `:error-message`): the provider ended the stream with an error. It is noted in
//!   [`Summary::error`] and [`Summary::failure`] (the type), and the call is recorded as errored.
//!
//! The last chunk's event also carries `amazon-bedrock-invocationMetrics`
//! (`inputTokenCount`, `outputTokenCount`, and the cache counts when caching was used). It is
//! the fallback only: the Anthropic events' usage is the one with the disjoint cache split
//! (5-minute and 1-hour writes), and it wins whenever the stream carried it. The metrics are
//! used, with their raw object kept, only when no Anthropic usage arrived at all.

use std::borrow::Cow;

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::eventstream::{EventStreamDecoder, Message};
use super::lenient::{Count, Text};
use super::{compact_json, Summary, UsageCheck};

const METRICS_KEY: &str = "amazon-bedrock-invocationMetrics";

/// The longest provider message kept in [`Summary::error`].
const MAX_MESSAGE: usize = 500;

/// A `chunk` event's payload.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    bytes: Option<Cow<'a, str>>,
}

/// An `exception` message's payload.
#[derive(Deserialize)]
struct Exception<'a> {
    #[serde(borrow, default)]
    message: Text<'a>,
}

/// The final Anthropic event, as far as Bedrock's metrics go.
#[derive(Deserialize)]
struct WithMetrics<'a> {
    #[serde(rename = "amazon-bedrock-invocationMetrics", borrow, default)]
    metrics: Option<&'a RawValue>,
}

/// The state of one Bedrock stream between reads.
#[derive(Debug, Default)]
pub(crate) struct BedrockStream {
    decoder: EventStreamDecoder,
    /// `amazon-bedrock-invocationMetrics` as compact JSON text, once seen.
    metrics: Option<String>,
}

impl BedrockStream {
    /// Consumes one read; `on_event` gets each Anthropic event's JSON.
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        summary: &mut Summary,
        on_event: &mut impl FnMut(&mut Summary, &[u8]),
    ) {
        let Self { decoder, metrics } = self;
        let fed = decoder.feed(chunk, &mut |m| on_message(&m, summary, metrics, on_event));
        if let Err(e) = fed {
            summary.note_error(|| e);
        }
    }

    /// Ends the stream: a message cut off is an error, and the invocation metrics become the
    /// usage if the events carried none.
    pub(crate) fn finish(&mut self, summary: &mut Summary) {
        if let Err(e) = self.decoder.finish() {
            summary.note_error(|| e);
        }
        if let (None, Some(metrics)) = (&summary.raw_usage, &self.metrics) {
            summary.set_usage(metrics_buckets(metrics), metrics);
        }
    }
}

fn on_message(
    message: &Message<'_>,
    summary: &mut Summary,
    metrics: &mut Option<String>,
    on_event: &mut impl FnMut(&mut Summary, &[u8]),
) {
    match message.header(":message-type") {
        Some("event") => {
            if message.header(":event-type") == Some("chunk") {
                on_chunk(message.payload, summary, metrics, on_event);
            }
        }
        Some("exception") => {
            let kind = message.header(":exception-type").unwrap_or("exception");
            let text = serde_json::from_slice::<Exception>(message.payload)
                .ok()
                .and_then(|e| e.message.get().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(message.payload).into_owned());
            failed(summary, kind, &text);
        }
        Some("error") => {
            let kind = message.header(":error-code").unwrap_or("error");
            failed(
                summary,
                kind,
                message.header(":error-message").unwrap_or(""),
            );
        }
        other => summary.note_error(|| format!("event-stream message of unknown type {other:?}")),
    }
}

/// The provider ended the stream with an error of type `kind`.
fn failed(summary: &mut Summary, kind: &str, message: &str) {
    let mut cut = message.len().min(MAX_MESSAGE);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    summary.note_error(|| format!("provider error: {kind}: {}", &message[..cut]));
    if summary.failure.is_none() {
        summary.failure = Some(kind.to_owned());
    }
}

fn on_chunk(
    payload: &[u8],
    summary: &mut Summary,
    metrics: &mut Option<String>,
    on_event: &mut impl FnMut(&mut Summary, &[u8]),
) {
    let encoded = match serde_json::from_slice::<Chunk>(payload) {
        Ok(Chunk { bytes: Some(b) }) => b,
        Ok(Chunk { bytes: None }) => {
            return summary.note_error(|| "a Bedrock chunk without \"bytes\"".to_owned())
        }
        Err(e) => return summary.note_error(|| format!("a Bedrock chunk is not JSON: {e}")),
    };
    let event = match base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()) {
        Ok(event) => event,
        Err(e) => return summary.note_error(|| format!("a Bedrock chunk is not base64: {e}")),
    };
    // Only the last event carries the metrics: skip the second parse on every other one.
    if memchr::memmem::find(&event, METRICS_KEY.as_bytes()).is_some() {
        if let Ok(WithMetrics { metrics: Some(m) }) = serde_json::from_slice(&event) {
            *metrics = Some(compact_json(m.get()));
        }
    }
    on_event(summary, &event);
}

/// The buckets of the invocation metrics. Bedrock bills Claude's cache reads and writes
/// apart from its input, as Anthropic does; the metrics do not split writes by TTL, so they
/// are 5-minute writes here.
fn metrics_buckets(json: &str) -> Result<(crate::pricing::Tokens, Option<String>), String> {
    let fields: Map<String, Value> = match serde_json::from_str(json) {
        Ok(Value::Object(fields)) => fields,
        _ => return Err(format!("{METRICS_KEY} is not an object")),
    };
    let mut check = UsageCheck::default();
    let mut count = |key: &str| check.count(key, Count::from_value(fields.get(key)));
    let tokens = [
        count("inputTokenCount"),
        count("cacheReadInputTokenCount"),
        count("cacheWriteInputTokenCount"),
        0,
        count("outputTokenCount"),
        0,
        0,
        0,
    ];
    check.finish(tokens)
}

#[cfg(test)]
#[path = "bedrock_tests.rs"]
mod tests;
