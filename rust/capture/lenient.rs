//! JSON field types that never fail: providers and OpenAI-compatible hosts send `null`, a
//! number where a string was documented, an array where a string was expected (structured
//! content). A field of the wrong shape reads as absent instead of losing the whole event, and
//! with it the usage that sits beside it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string field, borrowed from the input when it holds no escapes; `None` for any other
/// JSON value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

impl Text<'_> {
    /// The string, if the field held one.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// A token count as sent: `Some(n)` for a usable count (absent and `null` read as 0),
/// `None` for a value that cannot be one (see [`Count::from_number`] and [`Count::from_str`]).
/// Whether `n` is within [`super::MAX_TOKENS`] is checked where the buckets are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub Option<u64>);

impl Default for Count {
    fn default() -> Self {
        Count(Some(0))
    }
}

impl Count {
    /// A JSON number: a non-negative integer, or a float with no fractional part (some
    /// hosts send `12.0`). Negative and fractional numbers are unusable.
    pub fn from_number(n: &serde_json::Number) -> Count {
        if let Some(v) = n.as_u64() {
            return Count(Some(v));
        }
        match n.as_f64() {
            Some(f) => Self::from_f64(f),
            None => Count(None),
        }
    }

    fn from_f64(f: f64) -> Count {
        // `as` saturates: a float past u64 becomes u64::MAX, which the bound then refuses.
        Count((f >= 0.0 && f.fract() == 0.0).then_some(f as u64))
    }

    /// A string of ASCII digits is read as its number: the protobuf JSON mapping, which
    /// Google's APIs and gateways built on it follow, sends 64-bit integers as strings.
    /// Any other string (signs, spaces, decimals, words) is unusable.
    pub fn from_str(s: &str) -> Count {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Count(None);
        }
        // More digits than a u64 holds: unusable too, as is any count past the bound.
        Count(s.parse().ok())
    }

    /// A count held in a `serde_json::Value` (the Anthropic dialect merges usage objects).
    pub fn from_value(value: Option<&serde_json::Value>) -> Count {
        use serde_json::Value;
        match value {
            None | Some(Value::Null) => Count(Some(0)),
            Some(Value::Number(n)) => Self::from_number(n),
            Some(Value::String(s)) => Self::from_str(s),
            Some(_) => Count(None),
        }
    }
}

/// The visitor methods that read every non-scalar shape as "absent", draining it.
macro_rules! skip_containers {
    ($out:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($out)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($out)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($out)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($out)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
    };
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v))))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    skip_containers!(Text(None));
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Count(Some(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Count(u64::try_from(v).ok()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Count::from_f64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Count::from_str(v))
    }

    // `null` is how providers say "not reported" (Anthropic's cache counts): absent, so 0.
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Count(Some(0)))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Count(Some(0)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Count(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Count(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Count(None))
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

/// A field that is either the expected structure or ignored: the value is read as `T` when
/// it has that shape and as `None` otherwise (`null`, a string, a list...).
#[derive(Debug)]
pub struct Maybe<T>(pub Option<T>);

impl<T> Default for Maybe<T> {
    fn default() -> Self {
        Maybe(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Buffer the value as a raw slice of the input (no copy), then try the shape.
        let raw = <&'de serde_json::value::RawValue>::deserialize(d)?;
        Ok(Maybe(serde_json::from_str(raw.get()).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        s: Text<'a>,
        #[serde(default)]
        n: Count,
    }

    fn probe(json: &str) -> (Option<String>, Option<u64>) {
        let p: Probe = serde_json::from_str(json).unwrap();
        (p.s.get().map(str::to_owned), p.n.0)
    }

    #[test]
    fn wrong_shapes_read_as_absent_text_or_unusable_counts() {
        assert_eq!(
            probe(r#"{"s": "a\"b", "n": 7}"#),
            (Some("a\"b".into()), Some(7))
        );
        assert_eq!(probe(r#"{"s": null, "n": null}"#), (None, Some(0)));
        assert_eq!(probe(r#"{}"#), (None, Some(0)));
        assert_eq!(
            probe(r#"{"s": [1, {"x": []}], "n": {"a": 1}}"#),
            (None, None)
        );
        assert_eq!(probe(r#"{"s": 3, "n": -4}"#), (None, None));
        assert_eq!(probe(r#"{"n": [1]}"#), (None, None));
        assert_eq!(probe(r#"{"n": true}"#), (None, None));
    }

    #[test]
    fn integral_floats_and_digit_strings_are_counts() {
        assert_eq!(probe(r#"{"n": 12.0}"#).1, Some(12));
        assert_eq!(probe(r#"{"n": 12.5}"#).1, None);
        assert_eq!(probe(r#"{"n": -1.0}"#).1, None);
        assert_eq!(probe(r#"{"n": 1e300}"#).1, Some(u64::MAX));
        assert_eq!(probe(r#"{"n": "12"}"#).1, Some(12));
        assert_eq!(probe(r#"{"n": "0012"}"#).1, Some(12));
        for bad in [
            r#""""#, r#""-3""#, r#"" 3""#, r#""3.0""#, r#""1e3""#, r#""abc""#,
        ] {
            assert_eq!(probe(&format!(r#"{{"n": {bad}}}"#)).1, None, "{bad}");
        }
        assert_eq!(probe(r#"{"n": "99999999999999999999999"}"#).1, None);
        assert_eq!(probe(r#"{"n": 18446744073709551615}"#).1, Some(u64::MAX));
    }

    #[test]
    fn counts_held_in_values_read_the_same() {
        for json in [
            "7", "12.0", "12.5", "-4", "null", "\"12\"", "\"x\"", "[1]", "{}", "true",
        ] {
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            let from_value = Count::from_value(Some(&value));
            assert_eq!(
                from_value.0,
                probe(&format!(r#"{{"n": {json}}}"#)).1,
                "{json}"
            );
        }
        assert_eq!(Count::from_value(None), Count(Some(0)));
    }
}
