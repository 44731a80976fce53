//! Fixture tests: each normalisation rule on a real-shaped body from `tests/fixtures/`, the
//! whole manifest `tests/fixtures/cases.json` (shared with the Python tests), and the same
//! result for every split of every fixture.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;

use super::{Api, Summary, UsageParser, UsageSource};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cases() -> Vec<(String, Value)> {
    let manifest: serde_json::Map<String, Value> =
        serde_json::from_slice(&fixture("cases.json")).unwrap();
    manifest.into_iter().collect()
}

fn parse_chunks<'a>(
    api: Api,
    streaming: bool,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Summary {
    let mut p = UsageParser::new(api, streaming);
    for c in chunks {
        p.feed(c);
    }
    p.finish()
}

fn parse(name: &str, api: Api, streaming: bool) -> Summary {
    parse_chunks(api, streaming, [fixture(name).as_slice()])
}

fn case_api(case: &Value) -> (Api, bool) {
    (
        case["api"].as_str().unwrap().parse().unwrap(),
        case["streaming"].as_bool().unwrap(),
    )
}

#[test]
fn openai_chat_prompt_includes_cached_and_completion_includes_reasoning() {
    let s = parse("openai_chat_reasoning_cached.json", Api::Chat, false);
    // prompt 1840 = 304 + cached 1536; completion 912 = 208 + reasoning 704.
    assert_eq!(s.usage, Some([304, 1536, 0, 0, 208, 704, 0, 0]));
    assert_eq!(s.usage_source, Some(UsageSource::Response));
    assert_eq!(s.service_tier.as_deref(), Some("default"));
}

#[test]
fn openai_chat_audio_is_split_out_of_prompt_and_completion() {
    let s = parse("openai_chat_audio.json", Api::Chat, false);
    // prompt 95 = 47 text + 48 audio; completion 146 = 18 text + 128 audio.
    assert_eq!(s.usage, Some([47, 0, 0, 0, 18, 0, 48, 128]));
}

#[test]
fn openai_chat_stream_takes_the_final_usage_chunk() {
    let s = parse("openai_chat_stream.sse", Api::Chat, true);
    // prompt 2006 = 86 + cached 1920.
    assert_eq!(s.usage, Some([86, 1920, 0, 0, 10, 0, 0, 0]));
    assert_eq!(s.usage_source, Some(UsageSource::StreamFinal));
    assert_eq!(s.output_text, "Hello! How can I help you today?");
    assert!(s
        .raw_usage
        .unwrap()
        .starts_with(r#"{"prompt_tokens":2006,"#));
}

#[test]
fn openai_chat_stream_without_usage_keeps_the_text_for_estimation() {
    let s = parse("openai_chat_stream_no_usage.sse", Api::Chat, true);
    assert_eq!((s.usage, s.usage_source, s.error), (None, None, None));
    assert_eq!(s.output_text, "Hello! How can I help you today?");
}

#[test]
fn openai_stream_cut_midway_reports_the_text_seen_and_the_truncation() {
    let s = parse("openai_chat_stream_cut.sse", Api::Chat, true);
    assert_eq!(s.usage, None);
    assert_eq!(s.output_text, "Hello! How can");
    assert!(s.error.unwrap().starts_with("event 6 is not JSON"));
}

#[test]
fn deepseek_cache_hits_count_as_cache_reads() {
    let s = parse("deepseek_chat_cache_hit.json", Api::Chat, false);
    // prompt 1200 = 176 misses + 1024 hits.
    assert_eq!(s.usage, Some([176, 1024, 0, 0, 50, 0, 0, 0]));
}

#[test]
fn groq_usage_in_x_groq_is_taken() {
    let s = parse("groq_chat_stream_x_groq_usage.sse", Api::Chat, true);
    assert_eq!(s.usage, Some([40, 0, 0, 0, 6, 0, 0, 0]));
}

#[test]
fn openai_responses_input_includes_cached_and_output_includes_reasoning() {
    let s = parse(
        "openai_responses_reasoning_cached.json",
        Api::Responses,
        false,
    );
    // input 1200 = 176 + cached 1024; output 640 = 64 + reasoning 576.
    assert_eq!(s.usage, Some([176, 1024, 0, 0, 64, 576, 0, 0]));
    assert_eq!(s.output_text, "Paris.");
}

#[test]
fn openai_responses_stream_takes_completed_usage_and_the_final_tier() {
    let s = parse("openai_responses_stream.sse", Api::Responses, true);
    assert_eq!(s.usage, Some([37, 0, 0, 0, 11, 0, 0, 0]));
    // `response.created` echoes the requested "auto"; `response.completed` says what ran.
    assert_eq!(s.service_tier.as_deref(), Some("default"));
    assert_eq!(s.output_text, "Hi there!");
}

#[test]
fn openai_responses_incomplete_stream_still_carries_usage() {
    let s = parse(
        "openai_responses_stream_incomplete.sse",
        Api::Responses,
        true,
    );
    // input 2150 = 102 + cached 2048; output 16 = 1 + reasoning 15.
    assert_eq!(s.usage, Some([102, 2048, 0, 0, 1, 15, 0, 0]));
    assert_eq!(s.service_tier.as_deref(), Some("flex"));
}

#[test]
fn openai_embeddings_prompt_is_all_input() {
    let s = parse("openai_embeddings.json", Api::Embeddings, false);
    assert_eq!(s.usage, Some([8, 0, 0, 0, 0, 0, 0, 0]));
}

#[test]
fn an_error_body_to_a_streamed_request_is_read_as_json() {
    let s = parse("openai_error_429.json", Api::Chat, true);
    assert_eq!((s.usage, s.events), (None, 1));
    let error = s.error.unwrap();
    assert!(error.starts_with("provider error: {"), "{error}");
    assert!(error.contains(r#""code":"rate_limit_exceeded""#), "{error}");
}

#[test]
fn anthropic_cache_writes_split_by_ttl() {
    let s = parse("anthropic_messages_cache_1h.json", Api::Messages, false);
    // input 21 excludes reads (1800) and writes (2300 = 300 at 5m + 2000 at 1h).
    assert_eq!(s.usage, Some([21, 1800, 300, 2000, 393, 0, 0, 0]));
    assert_eq!(s.service_tier.as_deref(), Some("standard"));
}

#[test]
fn anthropic_cache_writes_without_breakdown_are_5_minute_writes() {
    let s = parse(
        "anthropic_messages_cache_total_only.json",
        Api::Messages,
        false,
    );
    assert_eq!(s.usage, Some([50, 0, 1200, 0, 20, 0, 0, 0]));
}

#[test]
fn anthropic_stream_merges_message_start_and_cumulative_message_delta() {
    let s = parse(
        "anthropic_messages_stream_thinking_cache.sse",
        Api::Messages,
        true,
    );
    // Input side and the 1h breakdown from message_start, output 187 from message_delta.
    assert_eq!(s.usage, Some([472, 2048, 0, 1024, 187, 0, 0, 0]));
    let raw: Value = serde_json::from_str(&s.raw_usage.unwrap()).unwrap();
    assert_eq!(raw["output_tokens"], 187);
    assert_eq!(raw["cache_creation"]["ephemeral_1h_input_tokens"], 1024);
}

#[test]
fn anthropic_delta_with_only_output_tokens_keeps_the_input_side() {
    let s = parse(
        "anthropic_messages_stream_tool_use.sse",
        Api::Messages,
        true,
    );
    assert_eq!(s.usage, Some([400, 0, 0, 0, 89, 0, 0, 0]));
    assert_eq!(s.output_text, r#"{"location": "San Francisco, CA"}"#);
}

#[test]
fn anthropic_error_event_midway_keeps_usage_so_far_and_reports_it() {
    let s = parse(
        "anthropic_messages_stream_overloaded.sse",
        Api::Messages,
        true,
    );
    assert_eq!(s.usage, Some([30, 0, 0, 0, 1, 0, 0, 0]));
    assert!(s.error.unwrap().contains("overloaded_error"));
}

#[test]
fn gemini_prompt_includes_cache_candidates_exclude_thoughts_tool_prompt_is_input() {
    let s = parse(
        "gemini_generate_cached_thoughts_tools.json",
        Api::GenerateContent,
        false,
    );
    // prompt 5400 = 1304 + cached 4096, plus 120 tool-use prompt = 1424 input.
    assert_eq!(s.usage, Some([1424, 4096, 0, 0, 230, 1000, 0, 0]));
    assert_eq!(s.model.as_deref(), Some("gemini-2.5-flash"));
}

#[test]
fn gemini_audio_modality_is_split_out() {
    let s = parse("gemini_generate_audio.json", Api::GenerateContent, false);
    // prompt 1032 = 32 text + 1000 audio.
    assert_eq!(s.usage, Some([32, 0, 0, 0, 50, 0, 1000, 0]));
}

#[test]
fn gemini_stream_usage_is_cumulative_and_the_last_wins() {
    let s = parse("gemini_stream_crlf.sse", Api::GenerateContent, true);
    assert_eq!(s.usage, Some([12, 0, 0, 0, 17, 30, 0, 0]));
    assert_eq!(s.events, 4);
    let a = parse("gemini_stream_array.json", Api::GenerateContent, true);
    assert_eq!(a.usage, Some([12, 0, 0, 0, 5, 30, 0, 0]));
}

#[test]
fn every_manifest_case_matches() {
    for (name, case) in cases() {
        let (api, streaming) = case_api(&case);
        let s = parse(&name, api, streaming);
        let usage: Option<[u64; 8]> = serde_json::from_value(case["usage"].clone()).unwrap();
        assert_eq!(s.usage, usage, "{name}");
        let text = |k: &str| case[k].as_str().map(str::to_owned);
        assert_eq!(s.model, text("model"), "{name}");
        assert_eq!(s.response_id, text("response_id"), "{name}");
        assert_eq!(s.service_tier, text("service_tier"), "{name}");
        assert_eq!(
            s.output_text,
            case["output_text"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            s.error.is_some(),
            case["error"].as_bool().unwrap(),
            "{name}: {:?}",
            s.error
        );
        assert_eq!(s.events, case["events"].as_u64().unwrap(), "{name}");
        assert_eq!(s.usage.is_some(), s.raw_usage.is_some(), "{name}");
    }
}

#[test]
fn every_split_point_of_every_fixture_gives_the_same_summary() {
    for (name, case) in cases() {
        let (api, streaming) = case_api(&case);
        let body = fixture(&name);
        let whole = parse_chunks(api, streaming, [body.as_slice()]);
        for i in 0..=body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(
                parse_chunks(api, streaming, [a, b]),
                whole,
                "{name} split at {i}"
            );
        }
        let bytes = parse_chunks(api, streaming, body.chunks(1));
        assert_eq!(bytes, whole, "{name} byte by byte");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_chunkings_give_the_same_summary(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        for (name, case) in cases() {
            let (api, streaming) = case_api(&case);
            let body = fixture(&name);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for p in points {
                chunks.push(&body[start..p]);
                start = p;
            }
            chunks.push(&body[start..]);
            let whole = parse_chunks(api, streaming, [body.as_slice()]);
            prop_assert_eq!(parse_chunks(api, streaming, chunks), whole, "{}", name);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), split in any::<prop::sample::Index>()) {
        let (a, b) = bytes.split_at(split.index(bytes.len() + 1));
        for api in [Api::Chat, Api::Responses, Api::Messages, Api::GenerateContent, Api::Embeddings] {
            for streaming in [false, true] {
                parse_chunks(api, streaming, [a, b]);
            }
        }
    }
}
