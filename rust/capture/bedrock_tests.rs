//! Claude on Bedrock: the Anthropic events inside AWS event-stream messages give the same
//! summary as the same events over SSE; exceptions end the call as failed; the invocation
//! metrics are the fallback; any split and any corrupt byte are handled.

use std::path::PathBuf;

use base64::Engine;
use proptest::prelude::*;

use super::super::eventstream::tests::{encode, Value};
use super::super::{Api, Summary, UsageParser, UsageSource};

fn chunk(event: &str) -> Vec<u8> {
    let bytes = base64::engine::general_purpose::STANDARD.encode(event);
    encode(
        &[
            (":event-type", Value::Str("chunk")),
            (":content-type", Value::Str("application/json")),
            (":message-type", Value::Str("event")),
        ],
        format!(r#"{{"bytes":"{bytes}","p":"abcdefghij"}}"#).as_bytes(),
    )
}

fn exception(kind: &str, message: &str) -> Vec<u8> {
    encode(
        &[
            (":exception-type", Value::Str(kind)),
            (":content-type", Value::Str("application/json")),
            (":message-type", Value::Str("exception")),
        ],
        format!(r#"{{"message":"{message}"}}"#).as_bytes(),
    )
}

/// The `data:` payloads of an SSE fixture from `tests/fixtures/`.
fn sse_events(name: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let events = text.lines().filter_map(|l| l.strip_prefix("data: "));
    events.map(str::to_owned).collect()
}

fn bedrock(events: &[String]) -> Vec<u8> {
    events.iter().flat_map(|e| chunk(e)).collect()
}

fn parse(chunks: &[&[u8]]) -> Summary {
    let mut p = UsageParser::event_stream(Api::Messages);
    for c in chunks {
        p.feed(c);
    }
    p.finish()
}

fn parse_sse(name: &str) -> Summary {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let mut p = UsageParser::new(Api::Messages, true);
    p.feed(&std::fs::read(path).unwrap());
    p.finish()
}

const THINKING: &str = "anthropic_messages_stream_thinking_cache.sse";
const TOOLS: &str = "anthropic_messages_stream_tool_use.sse";

#[test]
fn the_events_inside_give_the_summary_the_same_events_give_over_sse() {
    for name in [THINKING, TOOLS] {
        let s = parse(&[&bedrock(&sse_events(name))]);
        assert_eq!(s, parse_sse(name), "{name}");
        assert_eq!(s.error, None);
    }
    // 472 input, 2048 cache reads, 1024 one-hour cache writes, 187 output (thinking included)
    let s = parse(&[&bedrock(&sse_events(THINKING))]);
    assert_eq!(s.usage, Some([472, 2048, 0, 1024, 187, 0, 0, 0]));
    assert_eq!(s.usage_source, Some(UsageSource::StreamFinal));
}

const METRICS: &str = r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":30,"outputTokenCount":7,"invocationLatency":512,"firstByteLatency":201,"cacheReadInputTokenCount":100,"cacheWriteInputTokenCount":40}}"#;

#[test]
fn the_events_usage_wins_over_the_invocation_metrics() {
    let mut events = sse_events(THINKING);
    *events.last_mut().unwrap() = METRICS.to_owned();
    let s = parse(&[&bedrock(&events)]);
    assert_eq!(s.usage, Some([472, 2048, 0, 1024, 187, 0, 0, 0]));
    let raw = s.raw_usage.unwrap();
    assert!(raw.contains(r#""input_tokens":472,"#) && !raw.contains("inputTokenCount"));
}

#[test]
fn the_invocation_metrics_are_the_usage_when_the_events_carry_none() {
    let events = [
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        METRICS,
    ];
    let s = parse(&[&bedrock(&events.map(str::to_owned))]);
    assert_eq!(s.usage, Some([30, 100, 40, 0, 7, 0, 0, 0]));
    assert_eq!(s.usage_source, Some(UsageSource::StreamFinal));
    let metrics = METRICS.split_once(r#"Metrics":"#).unwrap().1;
    assert_eq!(s.raw_usage.as_deref(), Some(&metrics[..metrics.len() - 1]));
    assert_eq!((s.events, s.output_text.as_str()), (2, "Hi"));
}

#[test]
fn an_exception_ends_the_call_as_failed_and_keeps_the_usage_seen() {
    let events = sse_events(THINKING);
    let mut body = bedrock(&events[..3]);
    body.extend(exception(
        "throttlingException",
        "Too many requests, please wait.",
    ));
    let s = parse(&[&body]);
    assert_eq!(s.failure.as_deref(), Some("throttlingException"));
    assert_eq!(
        s.error.as_deref(),
        Some("provider error: throttlingException: Too many requests, please wait.")
    );
    // message_start's side: 472 input, the cache, 2 output so far
    assert_eq!(s.usage, Some([472, 2048, 0, 1024, 2, 0, 0, 0]));
}

#[test]
fn an_error_message_names_its_code() {
    let body = encode(
        &[
            (":message-type", Value::Str("error")),
            (":error-code", Value::Str("InternalFailure")),
            (":error-message", Value::Str("boom")),
        ],
        b"",
    );
    let s = parse(&[&body]);
    assert_eq!(s.failure.as_deref(), Some("InternalFailure"));
    assert_eq!(
        s.error.as_deref(),
        Some("provider error: InternalFailure: boom")
    );
}

#[test]
fn chunks_that_are_not_json_or_not_base64_are_errors() {
    let not_b64 = encode(
        &[
            (":message-type", Value::Str("event")),
            (":event-type", Value::Str("chunk")),
        ],
        br#"{"bytes":"%%%"}"#,
    );
    let s = parse(&[&not_b64]);
    assert!(s
        .error
        .unwrap()
        .starts_with("a Bedrock chunk is not base64"));
    let not_json = encode(
        &[
            (":message-type", Value::Str("event")),
            (":event-type", Value::Str("chunk")),
        ],
        b"nope",
    );
    assert!(parse(&[&not_json])
        .error
        .unwrap()
        .starts_with("a Bedrock chunk is not JSON"));
    assert_eq!(parse(&[&not_json]).failure, None);
}

#[test]
fn a_stream_cut_inside_a_message_keeps_the_usage_seen_and_says_so() {
    let body = bedrock(&sse_events(THINKING));
    let s = parse(&[&body[..body.len() - 5]]);
    assert_eq!(s.usage, Some([472, 2048, 0, 1024, 187, 0, 0, 0]));
    assert!(s
        .error
        .unwrap()
        .starts_with("the event stream ended inside a message"));
    assert_eq!(s.failure, None);
}

proptest! {
    #[test]
    fn any_split_gives_the_same_summary(
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let body = bedrock(&sse_events(THINKING));
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in at {
            chunks.push(&body[from..cut]);
            from = cut;
        }
        chunks.push(&body[from..]);
        prop_assert_eq!(parse(&chunks), parse(&[&body]));
    }

    #[test]
    fn a_corrupt_byte_is_a_clean_error(at in any::<prop::sample::Index>(), flip in 1u8..) {
        let mut body = bedrock(&sse_events(THINKING));
        let i = at.index(body.len());
        body[i] ^= flip;
        let s = parse(&[&body]);
        prop_assert!(s.error.unwrap().contains("CRC mismatch"));
        prop_assert_eq!(s.failure, None);
    }
}

#[test]
fn every_single_byte_split_and_every_bit_flip_of_one_message() {
    let body = chunk(&sse_events(THINKING)[0]);
    let whole = parse(&[&body]);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(parse(&bytes), whole);
    for i in 0..body.len() {
        for bit in 0..8 {
            let mut bad = body.clone();
            bad[i] ^= 1 << bit;
            let s = parse(&[&bad]);
            assert!(
                s.error.unwrap().contains("CRC mismatch"),
                "byte {i} bit {bit}"
            );
            assert_eq!(s.usage, None);
        }
    }
}

#[test]
fn the_shared_fixtures_give_the_hand_worked_summaries() {
    // Built by tests/fakeprovider/eventstream.py and read back by botocore in the Python tests.
    let read = |name: &str| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        parse(&[&std::fs::read(path).unwrap()])
    };
    let s = read("bedrock_messages_stream.eventstream");
    assert_eq!(s.usage, Some([25, 10000, 1000, 2000, 120, 0, 0, 0]));
    assert_eq!(
        s.response_id.as_deref(),
        Some("msg_bdrk_01XFDUDYJgAACzvnptvVoYEL")
    );
    assert_eq!((s.events, s.error, s.failure), (8, None, None));
    let s = read("bedrock_messages_stream_throttled.eventstream");
    assert_eq!(s.usage, Some([25, 10000, 1000, 2000, 1, 0, 0, 0]));
    assert_eq!(s.failure.as_deref(), Some("throttlingException"));
}
