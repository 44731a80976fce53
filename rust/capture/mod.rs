//! Usage capture: reads a provider's response bytes, as they arrive, into the ledger's
//! disjoint token buckets.
//!
//! The Python transport tees every response body into a [`UsageParser`] chunk by chunk, and
//! calls [`UsageParser::finish`] once the body ends (exhausted, closed early, or errored).
//! The parser never fails: malformed bytes end up in [`Summary::error`], for logging.
//!
//! Provider-specific names live only here and in the dialect modules ([`openai`],
//! [`anthropic`], [`gemini`]; Claude on Bedrock is Anthropic's dialect inside AWS's
//! [`eventstream`] framing, unwrapped by `bedrock`); each says which of its counts include
//! which others, and turns them into [`crate::pricing::Tokens`] in the order of
//! [`crate::pricing::BUCKETS`].
//!
//! When a stream carries no usage, [`tokenize`] counts the streamed text and the request.
//!
//! Usage is checked where it enters ([`UsageCheck`]): a count that is not a non-negative
//! integer within [`MAX_TOKENS`] makes the whole usage unusable (the summary keeps the raw
//! object and says why, and no buckets), and a detail larger than the total that includes it
//! (`cached_tokens` over `prompt_tokens`) is clamped to that total, with a note.

pub mod anthropic;
mod bedrock;
pub mod eventstream;
pub mod gemini;
mod lenient;
pub mod openai;
pub mod sse;
pub mod tokenize;

#[cfg(test)]
mod bound_tests;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use serde_json::value::RawValue;

use crate::pricing::Tokens;
use lenient::{Count, Text};
use sse::{Event, SseDecoder};

/// The largest token count one bucket of one call may hold. A provider's count past it is
/// unusable, not clamped: no single call reads or writes a billion tokens, so such a count is
/// a host's bug. The recording side (`track()`) refuses the same bound (`_core.MAX_TOKENS`).
pub const MAX_TOKENS: u64 = 1_000_000_000;

/// Reads the counts of one usage object into buckets, keeping the first problem.
#[derive(Debug, Default)]
pub(crate) struct UsageCheck {
    unusable: Option<String>,
    clamped: Option<String>,
}

impl UsageCheck {
    /// The count of `field`, or 0 after noting that it is unusable.
    pub(crate) fn count(&mut self, field: &str, count: Count) -> u64 {
        match count.0 {
            Some(n) if n <= MAX_TOKENS => n,
            _ => {
                if self.unusable.is_none() {
                    self.unusable = Some(match count.0 {
                        Some(n) => format!("{field} is {n}, past the bound of {MAX_TOKENS}"),
                        None => format!("{field} is not a non-negative integer"),
                    });
                }
                0
            }
        }
    }

    /// `part`, a detail included in `whole` (cached tokens in the prompt), clamped to it:
    /// a provider that reports more cached tokens than the prompt had must not bill more input
    /// than the prompt had.
    pub(crate) fn within(
        &mut self,
        part: u64,
        part_name: &str,
        whole: u64,
        whole_name: &str,
    ) -> u64 {
        if part <= whole {
            return part;
        }
        if self.clamped.is_none() {
            self.clamped = Some(format!(
                "{part_name} {part} exceeds {whole_name} {whole}; clamped to {whole}"
            ));
        }
        whole
    }

    /// The buckets, or why the usage is unusable; a bucket made from several counts (Gemini's
    /// tool-use prompt added to its input) must be within the bound too.
    pub(crate) fn finish(self, tokens: Tokens) -> Result<(Tokens, Option<String>), String> {
        if let Some(why) = self.unusable {
            return Err(why);
        }
        if let Some((name, n)) = crate::pricing::BUCKETS
            .iter()
            .zip(tokens)
            .find(|(_, n)| *n > MAX_TOKENS)
        {
            return Err(format!(
                "{name} would be {n}, past the bound of {MAX_TOKENS}"
            ));
        }
        Ok((tokens, self.clamped))
    }
}

/// The endpoint family of a request, which fixes the shape of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenAI Chat Completions (`/v1/chat/completions`), also spoken by compatible hosts.
    Chat,
    /// OpenAI Responses (`/v1/responses`).
    Responses,
    /// OpenAI legacy Completions (`/v1/completions`).
    Completions,
    /// OpenAI Embeddings (`/v1/embeddings`).
    Embeddings,
    /// Anthropic Messages (`/v1/messages`).
    Messages,
    /// Gemini `generateContent` and `streamGenerateContent`.
    GenerateContent,
}

impl FromStr for Api {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "chat" => Api::Chat,
            "responses" => Api::Responses,
            "completions" => Api::Completions,
            "embeddings" => Api::Embeddings,
            "messages" => Api::Messages,
            "generate_content" => Api::GenerateContent,
            _ => return Err(format!("unknown api {s:?}")),
        })
    }
}

/// Where the usage of a [`Summary`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSource {
    /// The usage object of a plain JSON response body.
    Response,
    /// The usage carried by a stream's events (the last one wins, or the fields merged).
    StreamFinal,
}

impl UsageSource {
    /// The name stored in the ledger's `usage_source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSource::Response => "response",
            UsageSource::StreamFinal => "stream_final",
        }
    }
}

/// What one response said about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The model named by the response (the first one seen).
    pub model: Option<String>,
    /// The provider's id of the response, the join key against its invoice.
    pub response_id: Option<String>,
    /// The service tier as the provider reported it (the last one seen).
    pub service_tier: Option<String>,
    /// The usage in the canonical disjoint buckets; `None` when the response carried none,
    /// or none that could be used (then `raw_usage` is set and `usage_problem` says why).
    pub usage: Option<Tokens>,
    /// Where `usage` came from; `None` with it.
    pub usage_source: Option<UsageSource>,
    /// The provider's usage object as JSON text (see each dialect for streams).
    pub raw_usage: Option<String>,
    /// Why the usage is unusable, or which count was clamped to keep the buckets consistent.
    pub usage_problem: Option<String>,
    /// The generated text as streamed: visible text, refusals, tool-call arguments and
    /// streamed reasoning, concatenated. Only used to estimate output tokens.
    pub output_text: String,
    /// SSE events, or JSON bodies, seen.
    pub events: u64,
    /// The first problem met: a payload that is not JSON, or an error the provider reported.
    pub error: Option<String>,
    /// The type of the error the provider ended the response with in place of its end (a
    /// Bedrock exception message: `throttlingException`); the call failed.
    pub failure: Option<String>,
}

impl Summary {
    /// Keeps `value` unless a value was already seen.
    pub(crate) fn first(slot: &mut Option<String>, value: &Text<'_>) {
        if slot.is_none() {
            if let Some(v) = value.get() {
                *slot = Some(v.to_owned());
            }
        }
    }

    /// Replaces the slot with `value` when there is one.
    pub(crate) fn last(slot: &mut Option<String>, value: &Text<'_>) {
        if let Some(v) = value.get() {
            match slot {
                Some(s) if s == v => {}
                _ => *slot = Some(v.to_owned()),
            }
        }
    }

    /// Appends a streamed text fragment to [`Summary::output_text`].
    pub(crate) fn push_text(&mut self, text: &Text<'_>) {
        if let Some(t) = text.get() {
            self.output_text.push_str(t);
        }
    }

    /// Records the first problem; later ones are usually its consequences.
    pub(crate) fn note_error(&mut self, message: impl FnOnce() -> String) {
        if self.error.is_none() {
            self.error = Some(message());
        }
    }

    /// Records an error object the provider sent in place of (or inside) a response.
    pub(crate) fn provider_error(&mut self, error: &RawValue) {
        const MAX: usize = 500;
        self.note_error(|| {
            // Compact, so that the log line is one line whatever the provider's indentation.
            let compact = serde_json::from_str::<serde_json::Value>(error.get())
                .map_or_else(|_| error.get().to_owned(), |v| v.to_string());
            let text = compact.as_str();
            let mut cut = text.len().min(MAX);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("provider error: {}", &text[..cut])
        });
    }

    /// Records new usage (replacing any earlier one: the last usage of a stream wins) with
    /// its raw JSON text: the buckets and any clamp note, or why it is unusable.
    pub(crate) fn set_usage(
        &mut self,
        checked: Result<(Tokens, Option<String>), String>,
        raw: &str,
    ) {
        (self.usage, self.usage_problem) = match checked {
            Ok((tokens, clamped)) => (Some(tokens), clamped),
            Err(why) => (None, Some(why)),
        };
        self.raw_usage = Some(compact_json(raw));
    }
}

/// Valid JSON text without its insignificant whitespace: the same value, with its keys in the
/// same order. OpenAI indents its bodies, and the usage object is stored as text.
pub(crate) fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// How the body is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A stream was announced, but no telling byte arrived yet. A streaming request can
    /// still get a plain JSON body: an error status, or Gemini's array form without `alt=sse`.
    Undecided,
    /// `text/event-stream`.
    Sse,
    /// One JSON document (an object, or a JSON array of them), parsed at the end.
    Json,
    /// AWS event-stream messages (`application/vnd.amazon.eventstream`), from Bedrock.
    EventStream,
}

/// The dialect-specific state carried across events.
#[derive(Debug)]
enum Dialect {
    OpenAi,
    Anthropic(anthropic::UsageMerge),
    Gemini,
}

/// Reads one response body into a [`Summary`], from any split of its bytes.
#[derive(Debug)]
pub struct UsageParser {
    api: Api,
    framing: Framing,
    dialect: Dialect,
    sse: SseDecoder,
    bedrock: bedrock::BedrockStream,
    /// The body while framing is `Json` or `Undecided`.
    body: Vec<u8>,
    summary: Summary,
    finished: bool,
}

impl UsageParser {
    /// A parser for the response to a request of `api`; `streaming` when the request asked
    /// for a stream. The dialect follows the api, not the host: an OpenAI-compatible host
    /// (or Gemini's and Anthropic's OpenAI-compatible endpoints) speaks the OpenAI dialect.
    pub fn new(api: Api, streaming: bool) -> Self {
        let dialect = match api {
            Api::Messages => Dialect::Anthropic(anthropic::UsageMerge::default()),
            Api::GenerateContent => Dialect::Gemini,
            _ => Dialect::OpenAi,
        };
        UsageParser {
            api,
            framing: if streaming {
                Framing::Undecided
            } else {
                Framing::Json
            },
            dialect,
            sse: SseDecoder::new(),
            bedrock: bedrock::BedrockStream::default(),
            body: Vec::new(),
            summary: Summary::default(),
            finished: false,
        }
    }

    /// A parser for a Bedrock `invoke-with-response-stream` body, whose AWS event-stream
    /// messages carry the events of `api` (Anthropic's Messages for Claude).
    pub fn event_stream(api: Api) -> Self {
        UsageParser {
            framing: Framing::EventStream,
            ..Self::new(api, true)
        }
    }

    /// Consumes the next bytes of the body. Bytes fed after [`UsageParser::finish`] are ignored.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.finished {
            return;
        }
        if self.framing == Framing::Undecided {
            self.body.extend_from_slice(chunk);
            match sniff(&self.body) {
                None => return,
                Some(framing) => self.framing = framing,
            }
            if self.framing == Framing::Sse {
                let held = std::mem::take(&mut self.body);
                self.feed_sse(&held);
            }
            return;
        }
        match self.framing {
            Framing::Sse => self.feed_sse(chunk),
            Framing::EventStream => {
                let Self {
                    bedrock,
                    dialect,
                    summary,
                    api,
                    ..
                } = self;
                bedrock.feed(chunk, summary, &mut |summary, data| {
                    on_event(*api, dialect, summary, Event { kind: b"", data })
                });
            }
            _ => self.body.extend_from_slice(chunk),
        }
    }

    /// Bytes received but not parsed yet: a JSON body waits for `finish` to be parsed.
    pub fn unparsed_len(&self) -> usize {
        self.body.len()
    }

    /// Ends the body and returns what it said. Calling it again returns the same summary.
    pub fn finish(&mut self) -> Summary {
        if !self.finished {
            self.finished = true;
            match self.framing {
                Framing::Sse | Framing::Undecided => {
                    let Self {
                        sse,
                        dialect,
                        summary,
                        api,
                        ..
                    } = self;
                    sse.finish(&mut |e| on_event(*api, dialect, summary, e));
                }
                Framing::Json => self.parse_body(),
                Framing::EventStream => self.bedrock.finish(&mut self.summary),
            }
            if self.summary.usage.is_some() {
                self.summary.usage_source = Some(match self.framing {
                    Framing::Json => UsageSource::Response,
                    _ => UsageSource::StreamFinal,
                });
            }
        }
        self.summary.clone()
    }

    fn feed_sse(&mut self, chunk: &[u8]) {
        let Self {
            sse,
            dialect,
            summary,
            api,
            ..
        } = self;
        sse.feed(chunk, &mut |e| on_event(*api, dialect, summary, e));
    }

    fn parse_body(&mut self) {
        let body = std::mem::take(&mut self.body);
        // Gemini's `streamGenerateContent` without `alt=sse` answers a JSON array of responses.
        let is_array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if is_array {
            let items = std::str::from_utf8(&body)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    serde_json::from_str::<Vec<&RawValue>>(text).map_err(|e| e.to_string())
                });
            match items {
                Ok(items) => {
                    for item in items {
                        on_event(
                            self.api,
                            &mut self.dialect,
                            &mut self.summary,
                            Event {
                                kind: b"",
                                data: item.get().as_bytes(),
                            },
                        );
                    }
                }
                Err(e) => self
                    .summary
                    .note_error(|| format!("response body is not JSON: {e}")),
            }
        } else {
            on_event(
                self.api,
                &mut self.dialect,
                &mut self.summary,
                Event {
                    kind: b"",
                    data: &body,
                },
            );
        }
    }
}

/// Decides the framing of a streamed body from its first meaningful byte; `None` while only
/// whitespace (or a byte order mark) has arrived. A JSON body opens with `{` or `[`, which
/// no SSE line does.
fn sniff(head: &[u8]) -> Option<Framing> {
    let first = head
        .iter()
        .find(|b| !b.is_ascii_whitespace() && !matches!(b, 0xEF | 0xBB | 0xBF))?;
    Some(if matches!(first, b'{' | b'[') {
        Framing::Json
    } else {
        Framing::Sse
    })
}

/// Hands one JSON payload to its dialect.
fn on_event(api: Api, dialect: &mut Dialect, summary: &mut Summary, event: Event<'_>) {
    summary.events += 1;
    let n = summary.events;
    // One UTF-8 check of the whole payload is cheaper than serde_json's check of each string.
    let data = match std::str::from_utf8(event.data) {
        Ok(data) => data,
        Err(e) => return summary.note_error(|| format!("event {n} is not UTF-8: {e}")),
    };
    // OpenAI ends its streams with a literal `[DONE]`; an empty payload carries nothing.
    if data == "[DONE]" || data.trim_ascii().is_empty() {
        return;
    }
    let parsed = match dialect {
        Dialect::OpenAi => openai::on_payload(api, summary, data),
        Dialect::Anthropic(merge) => anthropic::on_payload(merge, summary, data),
        Dialect::Gemini => gemini::on_payload(summary, data),
    };
    if let Err(e) = parsed {
        summary.note_error(|| format!("event {n} is not JSON of the expected shape: {e}"));
    }
}
