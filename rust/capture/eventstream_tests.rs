//! The event-stream decoder on messages built here by the documented layout, fed whole, split
//! at every offset, corrupted at every byte, and cut short.

use proptest::prelude::*;

use super::*;

/// A header value of each of the ten types.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    True,
    False,
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(&'a [u8]),
    Str(&'a str),
    Time(i64),
    Uuid([u8; 16]),
}

fn length_prefixed(value: &[u8]) -> Vec<u8> {
    [&(value.len() as u16).to_be_bytes()[..], value].concat()
}

/// One message, encoded as the spec lays it out.
pub(crate) fn encode(headers: &[(&str, Value<'_>)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        let (code, bytes): (u8, Vec<u8>) = match value {
            Value::True => (0, vec![]),
            Value::False => (1, vec![]),
            Value::Byte(v) => (2, v.to_be_bytes().to_vec()),
            Value::Short(v) => (3, v.to_be_bytes().to_vec()),
            Value::Int(v) => (4, v.to_be_bytes().to_vec()),
            Value::Long(v) => (5, v.to_be_bytes().to_vec()),
            Value::Bytes(v) => (6, length_prefixed(v)),
            Value::Str(v) => (7, length_prefixed(v.as_bytes())),
            Value::Time(v) => (8, v.to_be_bytes().to_vec()),
            Value::Uuid(v) => (9, v.to_vec()),
        };
        h.push(code);
        h.extend(bytes);
    }
    let total = (PRELUDE_BYTES + h.len() + payload.len() + 4) as u32;
    let mut m = Vec::new();
    m.extend(total.to_be_bytes());
    m.extend((h.len() as u32).to_be_bytes());
    m.extend(crc32fast::hash(&m).to_be_bytes());
    m.extend(h);
    m.extend_from_slice(payload);
    m.extend(crc32fast::hash(&m).to_be_bytes());
    m
}

type Owned = (Vec<(String, String)>, Vec<u8>);

/// Every message decoded from `chunks`, then the first error (at a read or at the end).
fn decode(chunks: &[&[u8]]) -> (Vec<Owned>, Option<String>) {
    let mut out = Vec::new();
    let mut dec = EventStreamDecoder::new();
    let mut error = None;
    let mut push = |m: Message<'_>| {
        let headers = m
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()));
        out.push((headers.collect(), m.payload.to_vec()));
    };
    for c in chunks {
        if let Err(e) = dec.feed(c, &mut push) {
            error.get_or_insert(e);
        }
    }
    if let Err(e) = dec.finish() {
        error.get_or_insert(e);
    }
    (out, error)
}

fn all_types() -> Vec<u8> {
    encode(
        &[
            ("t", Value::True),
            ("f", Value::False),
            ("b", Value::Byte(-1)),
            ("s", Value::Short(-2)),
            ("i", Value::Int(70_000)),
            ("l", Value::Long(-1 << 40)),
            ("a", Value::Bytes(b"\x00\x01\xff")),
            (":message-type", Value::Str("event")),
            ("ts", Value::Time(1_700_000_000_000)),
            ("u", Value::Uuid([7; 16])),
            (":event-type", Value::Str("chunk")),
        ],
        b"{\"x\":1}",
    )
}

fn strings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_header_type_is_skipped_by_its_size_and_strings_are_kept() {
    let (messages, error) = decode(&[&all_types()]);
    assert_eq!(error, None);
    let want = strings(&[(":message-type", "event"), (":event-type", "chunk")]);
    assert_eq!(messages, vec![(want, b"{\"x\":1}".to_vec())]);
}

#[test]
fn an_empty_message_and_several_in_one_read() {
    let empty = encode(&[], b"");
    assert_eq!(empty.len(), MIN_MESSAGE_BYTES);
    let two = [empty.clone(), encode(&[("k", Value::Str("v"))], b"p")].concat();
    let (messages, error) = decode(&[&two]);
    assert_eq!(error, None);
    assert_eq!(
        messages,
        vec![(vec![], vec![]), (strings(&[("k", "v")]), b"p".to_vec())]
    );
}

#[test]
fn a_prelude_announcing_more_than_16_mib_is_refused_before_anything_is_kept() {
    for (total, refused) in [(MAX_MESSAGE_BYTES + 1, true), (MAX_MESSAGE_BYTES, false)] {
        let mut prelude = (total as u32).to_be_bytes().to_vec();
        prelude.extend(0u32.to_be_bytes());
        prelude.extend(crc32fast::hash(&prelude).to_be_bytes());
        let mut dec = EventStreamDecoder::new();
        let fed = dec.feed(&prelude, &mut |_| panic!("no message"));
        assert_eq!(fed.is_err(), refused, "{fed:?}");
        // Only what arrived is held, never the announced length.
        assert!(dec.pending.capacity() < 64, "{}", dec.pending.capacity());
        if !refused {
            let end = dec.finish().unwrap_err();
            assert_eq!(
                end,
                "the event stream ended inside a message (12 bytes of it received)"
            );
        }
    }
}

#[test]
fn lengths_out_of_bounds_are_errors() {
    let prelude = |total: u32, headers: u32| {
        let mut p = total.to_be_bytes().to_vec();
        p.extend(headers.to_be_bytes());
        p.extend(crc32fast::hash(&p).to_be_bytes());
        p
    };
    for (total, headers, want) in [
        (
            15,
            0,
            "event-stream message length 15 is outside 16..=16777216",
        ),
        (
            20,
            5,
            "event-stream headers length 5 does not fit a message of 20 bytes",
        ),
    ] {
        let (_, error) = decode(&[&prelude(total, headers)]);
        assert_eq!(error.as_deref(), Some(want));
    }
}

#[test]
fn a_header_past_its_section_or_of_unknown_type_is_an_error() {
    // A string header whose length runs past the headers section, then type 10.
    for (headers, want) in [
        (
            &b"\x01k\x07\x00\x09ab"[..],
            "an event-stream header runs past the headers section",
        ),
        (
            &b"\x01k\x0a"[..],
            "event-stream header \"k\" has unknown type 10",
        ),
    ] {
        let total = (PRELUDE_BYTES + headers.len() + 4) as u32;
        let mut m = total.to_be_bytes().to_vec();
        m.extend((headers.len() as u32).to_be_bytes());
        m.extend(crc32fast::hash(&m).to_be_bytes());
        m.extend_from_slice(headers);
        m.extend(crc32fast::hash(&m).to_be_bytes());
        assert_eq!(decode(&[&m]).1.as_deref(), Some(want));
    }
}

#[test]
fn after_an_error_later_bytes_are_ignored() {
    let mut bad = all_types();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let good = encode(&[], b"later");
    let (messages, error) = decode(&[&bad, &good]);
    assert!(messages.is_empty());
    assert!(error
        .unwrap()
        .starts_with("event-stream message CRC mismatch"));
}

fn arb_message() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(("[a-z:-]{1,12}", "[ -~]{0,20}"), 0..4),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(headers, payload)| {
            let headers: Vec<(&str, Value<'_>)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), Value::Str(v.as_str())))
                .collect();
            encode(&headers, &payload)
        })
}

fn arb_stream() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(arb_message(), 1..5).prop_map(|m| m.concat())
}

proptest! {
    #[test]
    fn any_split_gives_the_same_messages(
        stream in arb_stream(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let whole = decode(&[&stream]);
        prop_assert_eq!(&whole.1, &None);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in at {
            chunks.push(&stream[from..cut]);
            from = cut;
        }
        chunks.push(&stream[from..]);
        prop_assert_eq!(decode(&chunks), whole);
    }

    #[test]
    fn a_corrupt_byte_anywhere_is_a_clean_error(
        stream in arb_stream(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let mut bad = stream.clone();
        let i = at.index(bad.len());
        bad[i] ^= flip;
        let (_, error) = decode(&[&bad]);
        prop_assert!(error.is_some());
    }

    #[test]
    fn a_stream_cut_inside_a_message_is_an_error_at_the_end(
        stream in arb_stream(),
        at in any::<prop::sample::Index>(),
    ) {
        let cut = at.index(stream.len() + 1);
        let mut boundaries = vec![0];
        while let Some(&last) = boundaries.last().filter(|&&b| b < stream.len()) {
            boundaries.push(last + u32_at(&stream, last) as usize);
        }
        let (messages, error) = decode(&[&stream[..cut]]);
        let whole = boundaries.iter().filter(|&&b| b > 0 && b <= cut).count();
        prop_assert_eq!(messages.len(), whole);
        prop_assert_eq!(error.is_some(), !boundaries.contains(&cut));
    }
}
