//! Usage checked where it enters: counts that are not non-negative integers within
//! [`MAX_TOKENS`] make the usage unusable (raw object kept, reason given, no buckets); details
//! larger than their totals are clamped, with a note. Each dialect, and a property over any
//! JSON value in any count field.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{compact_json, Api, Summary, UsageParser, UsageSource, MAX_TOKENS};

fn body(api: Api, streaming: bool, body: &str) -> Summary {
    let mut p = UsageParser::new(api, streaming);
    p.feed(body.as_bytes());
    p.finish()
}

fn chat(usage: Value) -> Summary {
    body(
        Api::Chat,
        false,
        &json!({"id": "c1", "model": "gpt-4o", "usage": usage}).to_string(),
    )
}

fn problem(s: &Summary) -> &str {
    s.usage_problem.as_deref().unwrap_or("")
}

#[test]
fn a_digit_string_is_read_as_its_number() {
    let s = chat(json!({"prompt_tokens": "100", "completion_tokens": "7"}));
    assert_eq!(s.usage, Some([100, 0, 0, 0, 7, 0, 0, 0]));
    assert_eq!(s.usage_problem, None);
    assert_eq!(s.usage_source, Some(UsageSource::Response));
}

#[test]
fn an_unusable_count_leaves_no_buckets_but_keeps_the_raw_usage_and_says_why() {
    for (bad, why) in [
        (
            json!("a hundred"),
            "prompt_tokens is not a non-negative integer",
        ),
        (json!(-3), "prompt_tokens is not a non-negative integer"),
        (json!(2.5), "prompt_tokens is not a non-negative integer"),
        (json!(true), "prompt_tokens is not a non-negative integer"),
        (json!([100]), "prompt_tokens is not a non-negative integer"),
        (
            json!(1u64 << 63),
            "prompt_tokens is 9223372036854775808, past the bound of 1000000000",
        ),
        (
            json!(MAX_TOKENS + 1),
            "prompt_tokens is 1000000001, past the bound of 1000000000",
        ),
    ] {
        let usage = json!({"prompt_tokens": bad, "completion_tokens": 7});
        let s = chat(usage.clone());
        assert_eq!(s.usage, None, "{bad}");
        assert_eq!(s.usage_source, None, "{bad}");
        assert_eq!(problem(&s), why, "{bad}");
        let raw: Value = serde_json::from_str(s.raw_usage.as_deref().unwrap()).unwrap();
        assert_eq!(raw, usage);
        assert_eq!(s.model.as_deref(), Some("gpt-4o"));
    }
}

#[test]
fn the_bound_itself_is_usable() {
    let s = chat(json!({"prompt_tokens": MAX_TOKENS, "completion_tokens": 0}));
    assert_eq!(s.usage, Some([MAX_TOKENS, 0, 0, 0, 0, 0, 0, 0]));
}

#[test]
fn an_unusable_detail_makes_the_usage_unusable_and_is_named() {
    let s = chat(json!({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": "x"}}));
    assert_eq!(s.usage, None);
    assert_eq!(
        problem(&s),
        "prompt_tokens_details.cached_tokens is not a non-negative integer"
    );
}

#[test]
fn cached_tokens_above_the_prompt_are_clamped_to_it() {
    let s = chat(json!({
        "prompt_tokens": 2000, "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 3000}
    }));
    // Input billed: the 2000 prompt tokens, all as cache reads; never 3000.
    assert_eq!(s.usage, Some([0, 2000, 0, 0, 10, 0, 0, 0]));
    assert_eq!(
        problem(&s),
        "cached_tokens 3000 exceeds prompt_tokens 2000; clamped to 2000"
    );
    assert_eq!(s.usage_source, Some(UsageSource::Response));
}

#[test]
fn reasoning_and_audio_above_their_totals_are_clamped() {
    let s = chat(json!({
        "prompt_tokens": 100, "completion_tokens": 50,
        "prompt_tokens_details": {"cached_tokens": 60, "audio_tokens": 70},
        "completion_tokens_details": {"reasoning_tokens": 40, "audio_tokens": 30}
    }));
    assert_eq!(s.usage, Some([0, 60, 0, 0, 0, 40, 40, 10]));
    assert_eq!(
        problem(&s),
        "audio_tokens 70 exceeds prompt_tokens less cached 40; clamped to 40"
    );
    let r = body(
        Api::Responses,
        false,
        &json!({"usage": {
            "input_tokens": 5, "output_tokens": 8,
            "input_tokens_details": {"cached_tokens": 9},
            "output_tokens_details": {"reasoning_tokens": 20}
        }})
        .to_string(),
    );
    assert_eq!(r.usage, Some([0, 5, 0, 0, 0, 8, 0, 0]));
    assert_eq!(
        problem(&r),
        "cached_tokens 9 exceeds input_tokens 5; clamped to 5"
    );
}

#[test]
fn anthropic_counts_are_checked_too() {
    let msg = |usage: Value| {
        body(
            Api::Messages,
            false,
            &json!({"id": "m", "model": "claude", "usage": usage}).to_string(),
        )
    };
    let s = msg(json!({"input_tokens": "12", "output_tokens": 3, "cache_read_input_tokens": null}));
    assert_eq!(s.usage, Some([12, 0, 0, 0, 3, 0, 0, 0]));
    let s = msg(json!({"input_tokens": 12, "output_tokens": -3}));
    assert_eq!(
        (s.usage, problem(&s)),
        (None, "output_tokens is not a non-negative integer")
    );
    let s = msg(json!({"input_tokens": 12, "cache_creation": {"ephemeral_1h_input_tokens": 1e12}}));
    assert_eq!(
        problem(&s),
        "ephemeral_1h_input_tokens is 1000000000000, past the bound of 1000000000"
    );
}

#[test]
fn gemini_sums_past_the_bound_are_unusable_and_cache_is_clamped() {
    let gem = |usage: Value| {
        body(
            Api::GenerateContent,
            false,
            &json!({"usageMetadata": usage}).to_string(),
        )
    };
    let s = gem(json!({"promptTokenCount": MAX_TOKENS, "toolUsePromptTokenCount": 1}));
    assert_eq!(s.usage, None);
    assert_eq!(
        problem(&s),
        "input_tokens would be 1000000001, past the bound of 1000000000"
    );
    let s = gem(
        json!({"promptTokenCount": 10, "cachedContentTokenCount": 25, "candidatesTokenCount": 4}),
    );
    assert_eq!(s.usage, Some([0, 10, 0, 0, 4, 0, 0, 0]));
    let s = gem(
        json!({"promptTokenCount": 10, "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": "lots"}]}),
    );
    assert_eq!(
        problem(&s),
        "promptTokensDetails.tokenCount is not a non-negative integer"
    );
}

#[test]
fn in_a_stream_the_last_usage_wins_with_its_own_verdict() {
    let chunk = |usage: Value| format!("data: {}\n\n", json!({"choices": [], "usage": usage}));
    let bad_then_good = chunk(json!({"prompt_tokens": -1})) + &chunk(json!({"prompt_tokens": 4}));
    let s = body(Api::Chat, true, &bad_then_good);
    assert_eq!(
        (s.usage, s.usage_problem.clone()),
        (Some([4, 0, 0, 0, 0, 0, 0, 0]), None)
    );
    let good_then_bad = chunk(json!({"prompt_tokens": 4})) + &chunk(json!({"prompt_tokens": -1}));
    let s = body(Api::Chat, true, &good_then_bad);
    assert_eq!((s.usage, s.usage_source), (None, None));
    assert!(s.raw_usage.unwrap().contains("-1"));
}

#[test]
fn raw_usage_is_kept_compact_with_its_keys_in_order() {
    let s = body(
        Api::Chat,
        false,
        "{\"usage\": {\n  \"z_note\": \"a \\\" b\\\\\",\n  \"prompt_tokens\": 3\r\n}}",
    );
    assert_eq!(
        s.raw_usage.as_deref(),
        Some(r#"{"z_note":"a \" b\\","prompt_tokens":3}"#)
    );
    assert_eq!(s.usage, Some([3, 0, 0, 0, 0, 0, 0, 0]));
}

/// Any JSON value a host might put in a count field.
fn any_count() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => (0..=MAX_TOKENS).prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter("JSON has no NaN", |f| f.is_finite()).prop_map(Value::from),
        1 => (0..=MAX_TOKENS).prop_map(|n| Value::from(n.to_string())),
        1 => "[ -~]{0,6}".prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!([1])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the counts, a chat usage either gives buckets that stay within the bound and
    /// add up to no more input than the prompt and no more output than the completion, or no
    /// buckets and a reason; the raw object is kept either way.
    #[test]
    fn chat_buckets_are_bounded_and_never_exceed_their_totals(
        prompt in any_count(), completion in any_count(), cached in any_count(),
        audio_in in any_count(), reasoning in any_count(), audio_out in any_count(),
    ) {
        let usage = json!({
            "prompt_tokens": prompt, "completion_tokens": completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": audio_in},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": audio_out},
        });
        let s = chat(usage);
        prop_assert!(s.raw_usage.is_some());
        match s.usage {
            None => prop_assert!(s.usage_problem.is_some()),
            Some(t) => {
                prop_assert!(t.iter().all(|&n| n <= MAX_TOKENS));
                let as_count = |v: &Value| match v {
                    Value::Null => 0,
                    Value::String(s) => s.parse::<u64>().unwrap(),
                    v => v.as_f64().unwrap() as u64,
                };
                let usage = &serde_json::from_str::<Value>(s.raw_usage.as_deref().unwrap()).unwrap();
                prop_assert_eq!(t[0] + t[1] + t[6], as_count(&usage["prompt_tokens"]));
                prop_assert_eq!(t[4] + t[5] + t[7], as_count(&usage["completion_tokens"]));
            }
        }
    }
}

/// Any JSON value, strings with quotes, backslashes, controls and spaces included.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[ \"\\\\\t\na-z\u{e9}]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec(("[ \"a-z]{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Compacting pretty-printed JSON gives exactly the compact JSON of the same value.
    #[test]
    fn compact_json_removes_only_insignificant_whitespace(value in any_json()) {
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        prop_assert_eq!(compact_json(&pretty), serde_json::to_string(&value).unwrap());
    }
}
