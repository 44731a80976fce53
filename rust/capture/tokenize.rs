//! Token counts for streams that end without usage (an OpenAI chat stream without
//! `stream_options.include_usage`, a stream the client closed early).
//!
//! Counting is exact BPE for OpenAI's `o200k_base` (GPT-4o, GPT-4.1, GPT-5, o-series) and
//! `cl100k_base` (GPT-4, GPT-3.5) encodings, through the `bpe-openai` crate, which embeds the
//! rank tables at build time: nothing is downloaded at run time, and counts match `tiktoken`'s
//! `encode_ordinary` (special-token text such as `<|endoftext|>` counts as ordinary text).
//!
//! The approximations, on purpose and documented:
//! - Non-OpenAI models (Claude, Gemini, Llama, DeepSeek...) have tokenizers that are not
//!   public or not bundled; the caller counts them with `o200k_base` as a proxy. Their counts
//!   for the same text differ from it, by an amount not measured here (tens of percent is
//!   plausible, more for code and non-English text); the row says `estimated`, so nobody
//!   mistakes it for a billed figure.
//! - Request input ([`estimate_request_tokens`]) counts the text of the request's messages,
//!   plus OpenAI's documented chat overhead (3 tokens per message, 1 per `name`, 3 to prime
//!   the reply; see OpenAI's cookbook "How to count tokens with tiktoken"), applied to every
//!   chat-shaped api. Tool definitions count as their compact JSON text. Images, audio and
//!   files (base64 or URLs) are not counted: their price is not a function of their bytes.

use std::str::FromStr;

use serde_json::Value;

use super::Api;

/// The BPE encodings that can be counted exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, GPT-5 and the o-series; the proxy for other providers' models.
    O200kBase,
    /// GPT-4 and GPT-3.5.
    Cl100kBase,
}

impl FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "o200k_base" => Ok(Encoding::O200kBase),
            "cl100k_base" => Ok(Encoding::Cl100kBase),
            _ => Err(format!("unknown encoding {s:?} (o200k_base, cl100k_base)")),
        }
    }
}

/// Counts the tokens of `text` in `encoding`, exactly as `tiktoken`'s `encode_ordinary`.
pub fn count_tokens(text: &str, encoding: Encoding) -> usize {
    let tokenizer = match encoding {
        Encoding::O200kBase => bpe_openai::o200k_base(),
        Encoding::Cl100kBase => bpe_openai::cl100k_base(),
    };
    tokenizer.count(text)
}

/// Tokens of OpenAI's chat format around each message, and to prime the reply.
const PER_MESSAGE: usize = 3;
const PER_NAME: usize = 1;
const REPLY_PRIMING: usize = 3;

/// Keys whose values are media or identifiers, never text the model reads as tokens.
const NOT_TEXT: &[&str] = &[
    "type",
    "id",
    "tool_call_id",
    "tool_use_id",
    "call_id",
    "encrypted_content",
    "image_url",
    "input_image",
    "input_audio",
    "image",
    "source",
    "data",
    "inline_data",
    "inlineData",
    "file_data",
    "fileData",
    "file_id",
    "url",
    "cache_control",
    "signature",
    "mime_type",
    "mimeType",
];

/// The request fields that hold the prompt, per api, and whether the api is chat-shaped.
fn prompt_fields(api: Api) -> (&'static [&'static str], bool) {
    match api {
        Api::Chat => (&["messages"], true),
        Api::Responses => (&["instructions", "input"], true),
        Api::Messages => (&["system", "messages"], true),
        Api::GenerateContent => (
            &["systemInstruction", "system_instruction", "contents"],
            true,
        ),
        Api::Completions => (&["prompt"], false),
        Api::Embeddings => (&["input"], false),
    }
}

/// Estimates the input tokens of a JSON request body of `api` (see the module docs for the
/// approximation). A body that is not JSON counts as its raw text.
pub fn estimate_request_tokens(api: Api, request: &[u8], encoding: Encoding) -> usize {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(request) else {
        return count_tokens(&String::from_utf8_lossy(request), encoding);
    };
    let (fields, chat) = prompt_fields(api);
    let mut total = 0;
    for field in fields {
        if let Some(value) = body.get(*field) {
            total += count_value(value, encoding, chat);
        }
    }
    if let Some(tools) = body.get("tools") {
        total += count_tokens(&tools.to_string(), encoding);
    }
    if chat {
        total += REPLY_PRIMING;
    }
    total
}

/// Counts the text in a prompt value: strings, lists of token ids, nested content parts.
fn count_value(value: &Value, encoding: Encoding, chat: bool) -> usize {
    match value {
        Value::String(s) => count_tokens(s, encoding),
        // A prompt given as token ids (Completions, Embeddings) is its own count.
        Value::Number(_) => 1,
        Value::Array(items) => items.iter().map(|v| count_value(v, encoding, chat)).sum(),
        Value::Object(fields) => {
            let message = chat && (fields.contains_key("role") || fields.contains_key("parts"));
            let mut total = if message { PER_MESSAGE } else { 0 };
            if message && fields.contains_key("name") {
                total += PER_NAME;
            }
            for (key, v) in fields {
                if !NOT_TEXT.contains(&key.as_str()) {
                    total += count_value(v, encoding, chat);
                }
            }
            total
        }
        Value::Bool(_) | Value::Null => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_tiktoken_published_examples() {
        // tiktoken's README and OpenAI's cookbook: "hello world" is 2 tokens in cl100k_base,
        // "tiktoken is great!" is 6, and o200k_base agrees on both.
        assert_eq!(count_tokens("hello world", Encoding::Cl100kBase), 2);
        assert_eq!(count_tokens("tiktoken is great!", Encoding::Cl100kBase), 6);
        assert_eq!(count_tokens("hello world", Encoding::O200kBase), 2);
        assert_eq!(count_tokens("", Encoding::O200kBase), 0);
    }

    #[test]
    fn chat_request_counts_text_plus_documented_overhead() {
        // Two messages: 3 each, their roles and contents, 3 to prime the reply.
        let body = br#"{"model": "gpt-4o", "messages": [
            {"role": "system", "content": "hello world"},
            {"role": "user", "content": [{"type": "text", "text": "hello world"},
                                         {"type": "image_url", "image_url": {"url": "data:x"}}]}
        ]}"#;
        let e = Encoding::O200kBase;
        let roles = count_tokens("system", e) + count_tokens("user", e);
        assert_eq!(
            estimate_request_tokens(Api::Chat, body, e),
            3 + 3 + roles + 2 + 2 + 3
        );
    }

    #[test]
    fn responses_request_counts_instructions_and_input_items_but_not_ids() {
        let body = br#"{"model": "gpt-4.1", "instructions": "hello world", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hello world"}]},
            {"type": "function_call_output", "call_id": "call_Xk9qL2mP8vR3tY7wZ1aB",
             "output": "hello world"}
        ]}"#;
        let e = Encoding::O200kBase;
        // instructions 2; a user message 3 + role + 2; the tool output 2 (its id is no
        // text); 3 to prime the reply.
        let want = 2 + 3 + count_tokens("user", e) + 2 + 2 + 3;
        assert_eq!(estimate_request_tokens(Api::Responses, body, e), want);
    }

    #[test]
    fn embeddings_count_strings_and_token_ids_without_overhead() {
        let body = br#"{"model": "text-embedding-3-small", "input": ["hello world", [1, 2, 3]]}"#;
        assert_eq!(
            estimate_request_tokens(Api::Embeddings, body, Encoding::Cl100kBase),
            5
        );
    }

    #[test]
    fn a_body_that_is_not_json_counts_as_text() {
        assert_eq!(
            estimate_request_tokens(Api::Chat, b"hello world", Encoding::Cl100kBase),
            2
        );
    }
}
