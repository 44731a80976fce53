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

/// A token count; `0` for anything that is not a non-negative number.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

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
        Ok(Count(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Count(v.max(0) as u64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // `as` saturates and maps NaN to 0; a count sent as 12.0 stays 12.
        Ok(Count(v as u64))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Count(0))
    }

    skip_containers!(Count(0));
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

    fn probe(json: &str) -> (Option<String>, u64) {
        let p: Probe = serde_json::from_str(json).unwrap();
        (p.s.get().map(str::to_owned), p.n.0)
    }

    #[test]
    fn wrong_shapes_read_as_absent() {
        assert_eq!(probe(r#"{"s": "a\"b", "n": 7}"#), (Some("a\"b".into()), 7));
        assert_eq!(probe(r#"{"s": null, "n": null}"#), (None, 0));
        assert_eq!(probe(r#"{"s": [1, {"x": []}], "n": {"a": 1}}"#), (None, 0));
        assert_eq!(probe(r#"{"s": 3, "n": -4}"#), (None, 0));
        assert_eq!(probe(r#"{"n": 12.0}"#), (None, 12));
        assert_eq!(probe(r#"{"n": "12"}"#), (None, 0));
    }
}
