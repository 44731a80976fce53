//! Incremental decoding of AWS's binary event-stream framing
//! (`application/vnd.amazon.eventstream`), which Amazon Bedrock's
//! `InvokeModelWithResponseStream` answers in: <https://smithy.io/2.0/aws/amazon-eventstream.html>.
//!
//! A message is a 12-byte prelude (total length, headers length, both u32 big-endian, and the
//! CRC32 of those 8 bytes), the headers, the payload, and the CRC32 of everything before it.
//! A header is a name (u8 length, UTF-8), a value type (u8) and a value whose size the type
//! fixes or (byte arrays, strings) a u16 length prefix gives. Only string values are kept:
//! the `:message-type`, `:event-type` and `:exception-type` a reader needs are strings.
//!
//! Bytes may arrive split at any offset, so an unfinished message is kept between reads; the
//! prelude is checked (CRC, then lengths within [`MAX_MESSAGE_BYTES`]) as soon as its 12
//! bytes are in, before anything more of that message is kept, so a corrupt or hostile length
//! never makes the decoder hold more than one message of at most 16 MiB. Framing cannot be
//! recovered after a bad message (nothing marks where the next one starts): the first error
//! stops the decoder, and later bytes are ignored.
//!
//! The CRC32 (IEEE, the zlib/PNG polynomial) comes from `crc32fast`: the de facto crate for
//! it (flate2's), already in the dependency tree, with a SIMD path where the CPU has one, so
//! checking every byte of a stream costs next to nothing.

/// The largest message AWS sends or accepts (16 MiB); a prelude announcing more is refused.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Total length, headers length and prelude CRC, 4 bytes each.
const PRELUDE_BYTES: usize = 12;
/// A message with no headers and no payload: the prelude and the message CRC.
const MIN_MESSAGE_BYTES: usize = PRELUDE_BYTES + 4;

/// One decoded message: its string headers, in order, and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The headers whose value is a string (type 7), as `(name, value)`.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The payload bytes, as sent.
    pub payload: &'a [u8],
}

impl Message<'_> {
    /// The value of the first string header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// The state of one event stream between reads.
#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    /// The start of a message whose end has not arrived yet.
    pending: Vec<u8>,
    /// A message was malformed: the framing is lost, and nothing more is decoded.
    stopped: bool,
}

impl EventStreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes one read, calling `on_message` for every message it completes. The first
    /// malformed message is returned as an error; after it, reads are ignored.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        on_message: &mut impl FnMut(Message<'_>),
    ) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        let decoded = if self.pending.is_empty() {
            // The common case, a read holding whole messages: decode them where they lie.
            decode_all(chunk, on_message).map(|used| self.pending.extend_from_slice(&chunk[used..]))
        } else {
            self.pending.extend_from_slice(chunk);
            let pending = std::mem::take(&mut self.pending);
            let decoded = decode_all(&pending, on_message);
            self.pending = pending;
            decoded.map(|used| {
                self.pending.drain(..used);
            })
        };
        if decoded.is_err() {
            self.stopped = true;
            self.pending = Vec::new();
        }
        decoded
    }

    /// Ends the stream: an error if it ended inside a message.
    pub fn finish(&mut self) -> Result<(), String> {
        let held = std::mem::take(&mut self.pending).len();
        if self.stopped || held == 0 {
            return Ok(());
        }
        self.stopped = true;
        Err(format!(
            "the event stream ended inside a message ({held} bytes of it received)"
        ))
    }
}

/// Decodes the whole messages at the start of `buf`; returns how many bytes they took.
fn decode_all(buf: &[u8], on_message: &mut impl FnMut(Message<'_>)) -> Result<usize, String> {
    let mut used = 0;
    while let Some(total) = message_length(&buf[used..])? {
        let end = used + total;
        if buf.len() < end {
            break;
        }
        on_message(decode_message(&buf[used..end])?);
        used = end;
    }
    Ok(used)
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// The total length a message's prelude announces, once its 12 bytes are in (`None` before):
/// the prelude CRC is checked first, so a length is trusted only when it arrived intact.
fn message_length(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.len() < PRELUDE_BYTES {
        return Ok(None);
    }
    let (sent, computed) = (u32_at(buf, 8), crc32fast::hash(&buf[..8]));
    if sent != computed {
        return Err(format!(
            "event-stream prelude CRC mismatch (sent {sent:#010x}, computed {computed:#010x})"
        ));
    }
    let total = u32_at(buf, 0) as usize;
    let headers = u32_at(buf, 4) as usize;
    if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&total) {
        return Err(format!(
            "event-stream message length {total} is outside {MIN_MESSAGE_BYTES}..={MAX_MESSAGE_BYTES}"
        ));
    }
    if headers > total - MIN_MESSAGE_BYTES {
        return Err(format!(
            "event-stream headers length {headers} does not fit a message of {total} bytes"
        ));
    }
    Ok(Some(total))
}

/// Decodes one whole message, whose prelude `message_length` has checked.
fn decode_message(message: &[u8]) -> Result<Message<'_>, String> {
    let crc_at = message.len() - 4;
    let (sent, computed) = (u32_at(message, crc_at), crc32fast::hash(&message[..crc_at]));
    if sent != computed {
        return Err(format!(
            "event-stream message CRC mismatch (sent {sent:#010x}, computed {computed:#010x})"
        ));
    }
    let headers_end = PRELUDE_BYTES + u32_at(message, 4) as usize;
    Ok(Message {
        headers: string_headers(&message[PRELUDE_BYTES..headers_end])?,
        payload: &message[headers_end..crc_at],
    })
}

/// Takes `n` bytes off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err("an event-stream header runs past the headers section".to_owned());
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("event-stream header {what} is not UTF-8: {e}"))
}

/// Reads every header, by the size its value type gives, keeping those with string values.
fn string_headers(mut rest: &[u8]) -> Result<Vec<(&str, &str)>, String> {
    let mut kept = Vec::new();
    while !rest.is_empty() {
        let name_len = take(&mut rest, 1)?[0] as usize;
        let name = utf8(take(&mut rest, name_len)?, "name")?;
        let value_type = take(&mut rest, 1)?[0];
        let fixed = match value_type {
            0 | 1 => 0, // bool true, bool false: the type is the value
            2 => 1,     // byte
            3 => 2,     // short
            4 => 4,     // integer
            5 | 8 => 8, // long, timestamp (ms since the epoch)
            9 => 16,    // uuid
            6 | 7 => {
                // byte array, string: a u16 length, then the bytes
                let len = take(&mut rest, 2)?;
                let value = take(&mut rest, u16::from_be_bytes([len[0], len[1]]) as usize)?;
                if value_type == 7 {
                    kept.push((name, utf8(value, "value")?));
                }
                continue;
            }
            other => {
                return Err(format!(
                    "event-stream header {name:?} has unknown type {other}"
                ))
            }
        };
        take(&mut rest, fixed)?;
    }
    Ok(kept)
}

#[cfg(test)]
#[path = "eventstream_tests.rs"]
pub(crate) mod tests;
