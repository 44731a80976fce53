//! The Anthropic dialect: Messages (and the beta Messages), plain and streamed.
//!
//! Which count includes which (<https://docs.anthropic.com/en/api/messages>,
//! <https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching>): `input_tokens`
//! excludes both cache reads and cache writes; `cache_read_input_tokens` are reads;
//! `cache_creation_input_tokens` are writes, split by TTL in `cache_creation
//! .ephemeral_5m_input_tokens` and `.ephemeral_1h_input_tokens` when the breakdown is sent.
//! `output_tokens` includes extended thinking (no separate count is reported), so reasoning
//! stays 0 here.
//!
//! Streams (<https://docs.anthropic.com/en/docs/build-with-claude/streaming>):
//! `message_start` carries the input side and an initial output count; each `message_delta`
//! carries cumulative counts, sometimes only `output_tokens`. So the usage objects are merged
//! field by field, the last non-null value winning, and the stream's raw usage is that merged
//! object (the last object alone may lack the input side).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::lenient::{Count, Text};
use super::{Summary, UsageCheck};
use crate::pricing::Tokens;

/// The usage fields seen so far in one response.
#[derive(Debug, Default)]
pub struct UsageMerge {
    fields: Map<String, Value>,
    objects: usize,
}

/// A Messages body, or one stream event.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Text<'a>,
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    model: Text<'a>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    /// A body's content blocks.
    #[serde(borrow, default)]
    content: Option<Vec<Block<'a>>>,
    /// The message that `message_start` opens.
    #[serde(borrow, default)]
    message: Option<Box<Payload<'a>>>,
    /// A `content_block_delta` increment (`message_delta`'s delta holds no text).
    #[serde(borrow, default)]
    delta: Option<Block<'a>>,
}

/// A content block of a body, or the delta of a streamed one.
#[derive(Deserialize)]
struct Block<'a> {
    #[serde(borrow, default)]
    text: Text<'a>,
    #[serde(borrow, default)]
    thinking: Text<'a>,
    /// A streamed tool call's input, a JSON fragment per delta.
    #[serde(borrow, default)]
    partial_json: Text<'a>,
    /// A body's tool call input, as JSON.
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

fn count(check: &mut UsageCheck, fields: &Map<String, Value>, key: &str) -> u64 {
    check.count(key, Count::from_value(fields.get(key)))
}

/// Splits an Anthropic usage object into the disjoint buckets (its counts are disjoint
/// already, so nothing is clamped).
fn buckets(u: &Map<String, Value>) -> Result<(Tokens, Option<String>), String> {
    let mut check = UsageCheck::default();
    let (write_5m, write_1h) = match u.get("cache_creation") {
        Some(Value::Object(split))
            if split.contains_key("ephemeral_5m_input_tokens")
                || split.contains_key("ephemeral_1h_input_tokens") =>
        {
            (
                count(&mut check, split, "ephemeral_5m_input_tokens"),
                count(&mut check, split, "ephemeral_1h_input_tokens"),
            )
        }
        _ => (count(&mut check, u, "cache_creation_input_tokens"), 0),
    };
    let tokens = [
        count(&mut check, u, "input_tokens"),
        count(&mut check, u, "cache_read_input_tokens"),
        write_5m,
        write_1h,
        count(&mut check, u, "output_tokens"),
        0,
        0,
        0,
    ];
    check.finish(tokens)
}

impl UsageMerge {
    fn take(&mut self, summary: &mut Summary, raw: &RawValue) -> serde_json::Result<()> {
        let object: Map<String, Value> = serde_json::from_str(raw.get())?;
        for (key, value) in object {
            if !value.is_null() {
                self.fields.insert(key, value);
            }
        }
        self.objects += 1;
        let tokens = buckets(&self.fields);
        if self.objects == 1 {
            summary.set_usage(tokens, raw.get());
        } else {
            summary.set_usage(tokens, &Value::Object(self.fields.clone()).to_string());
        }
        if let Some(Value::String(tier)) = self.fields.get("service_tier") {
            Summary::last(&mut summary.service_tier, &Text(Some(tier.as_str().into())));
        }
        Ok(())
    }
}

fn take_message(
    merge: &mut UsageMerge,
    summary: &mut Summary,
    m: &Payload<'_>,
) -> serde_json::Result<()> {
    Summary::first(&mut summary.response_id, &m.id);
    Summary::first(&mut summary.model, &m.model);
    if let Some(error) = m.error {
        summary.provider_error(error);
    }
    for block in m.content.iter().flatten() {
        summary.push_text(&block.thinking);
        summary.push_text(&block.text);
        if let Some(input) = block.input {
            summary.output_text.push_str(input.get());
        }
    }
    if let Some(delta) = &m.delta {
        summary.push_text(&delta.thinking);
        summary.push_text(&delta.text);
        summary.push_text(&delta.partial_json);
    }
    match m.usage {
        Some(raw) => merge.take(summary, raw),
        None => Ok(()),
    }
}

/// Reads one JSON payload: a whole body, or the data of one SSE event.
pub(crate) fn on_payload(
    merge: &mut UsageMerge,
    summary: &mut Summary,
    data: &str,
) -> serde_json::Result<()> {
    let p: Payload = serde_json::from_str(data)?;
    if p.kind.get() == Some("message_start") {
        if let Some(message) = &p.message {
            take_message(merge, summary, message)?;
        }
    }
    take_message(merge, summary, &p)
}
