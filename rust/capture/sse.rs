//! Incremental `text/event-stream` framing, as the WHATWG HTML spec defines it:
//! <https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>.
//!
//! Bytes arrive in arbitrary pieces (a network read can end inside a line, inside a CRLF pair
//! or inside a multi-byte UTF-8 sequence), so the decoder keeps the unfinished line and the
//! event being assembled between calls. It works on bytes: line ends and field names are
//! ASCII, and the `data` payload is handed on as bytes for the JSON parser to validate, so a
//! UTF-8 sequence split across reads is simply joined before anyone looks at it.
//!
//! Line scanning uses `memchr` over whole chunks; bytes are copied only into the pending line
//! (when a line spans reads) and into the data buffer, both reused across events.

/// One dispatched event: its `event` field (empty when the stream named none, which the spec
/// reads as `message`) and its `data` lines joined by `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` field of the event, empty when absent.
    pub kind: &'a [u8],
    /// The `data:` lines of the event, joined with `\n`.
    pub data: &'a [u8],
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The state of one stream between reads.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// The current line when it started in an earlier read.
    line: Vec<u8>,
    /// `data` lines of the event being assembled, each followed by `\n`.
    data: Vec<u8>,
    /// `event` field of the event being assembled.
    kind: Vec<u8>,
    /// The previous read ended with CR: a LF opening this one belongs to the same line end.
    after_cr: bool,
    /// Bytes seen so far while they may still be a leading byte order mark (at most 3).
    bom_seen: usize,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes one read of the stream, calling `on_event` for every event it completes.
    pub fn feed(&mut self, mut chunk: &[u8], on_event: &mut impl FnMut(Event<'_>)) {
        chunk = self.skip_bom(chunk);
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            if self.line.is_empty() {
                self.process_line(&chunk[..end], on_event);
            } else {
                self.line.extend_from_slice(&chunk[..end]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, on_event);
                self.line = line;
                self.line.clear();
            }
            let crlf = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if crlf {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(chunk);
    }

    /// Ends the stream. Unlike a browser, which drops an event that lacks its closing blank
    /// line, this dispatches it: a provider's final event cut off by a closed connection still
    /// carries the usage we are after, and a truncated payload simply fails to parse later.
    pub fn finish(&mut self, on_event: &mut impl FnMut(Event<'_>)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, on_event);
        }
        self.dispatch(on_event);
    }

    /// Strips a UTF-8 byte order mark at the very start of the stream, even when the stream
    /// delivers it one byte per read.
    fn skip_bom<'c>(&mut self, chunk: &'c [u8]) -> &'c [u8] {
        if self.bom_seen >= BOM.len() {
            return chunk;
        }
        let mut rest = chunk;
        while self.bom_seen < BOM.len() {
            match rest.first() {
                Some(&b) if b == BOM[self.bom_seen] => {
                    self.bom_seen += 1;
                    rest = &rest[1..];
                }
                Some(_) => {
                    // Not a BOM after all: replay the bytes we held back as ordinary data.
                    let held = &BOM[..self.bom_seen];
                    self.bom_seen = BOM.len();
                    self.line.extend_from_slice(held);
                    return rest;
                }
                None => return rest,
            }
        }
        rest
    }

    fn process_line(&mut self, line: &[u8], on_event: &mut impl FnMut(Event<'_>)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(0) => return, // a comment, e.g. the `: OPENROUTER PROCESSING` keep-alives
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                self.kind.clear();
                self.kind.extend_from_slice(value);
            }
            // `id` and `retry` steer reconnection, which a recorder never does; other names
            // are ignored by the spec.
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(Event<'_>)) {
        if !self.data.is_empty() {
            let data = &self.data[..self.data.len() - 1];
            on_event(Event {
                kind: &self.kind,
                data,
            });
        }
        self.data.clear();
        self.kind.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut dec = SseDecoder::new();
        let mut push = |e: Event<'_>| {
            out.push((
                String::from_utf8_lossy(e.kind).into_owned(),
                String::from_utf8_lossy(e.data).into_owned(),
            ))
        };
        for c in chunks {
            dec.feed(c, &mut push);
        }
        dec.finish(&mut push);
        out
    }

    fn ev(kind: &str, data: &str) -> (String, String) {
        (kind.to_owned(), data.to_owned())
    }

    #[test]
    fn line_ends_of_every_kind_frame_the_same_events() {
        let want = vec![ev("a", "1"), ev("", "2\n3")];
        assert_eq!(
            events(&[b"event: a\ndata: 1\n\ndata: 2\ndata: 3\n\n"]),
            want
        );
        assert_eq!(
            events(&[b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\ndata: 3\r\n\r\n"]),
            want
        );
        assert_eq!(
            events(&[b"event: a\rdata: 1\r\rdata: 2\rdata: 3\r\r"]),
            want
        );
    }

    #[test]
    fn crlf_split_across_reads_is_one_line_end() {
        assert_eq!(
            events(&[b"data: 1\r", b"\n\r", b"\ndata: 2\r\n\r\n"]),
            vec![ev("", "1"), ev("", "2")]
        );
    }

    #[test]
    fn comments_unknown_fields_and_empty_events_are_skipped() {
        let got = events(&[b": keep-alive\n\nid: 7\nretry: 10\nfoo\nevent: x\n\ndata\n\n"]);
        // `event: x` without data dispatches nothing; a bare `data` line is an empty payload.
        assert_eq!(got, vec![ev("", "")]);
    }

    #[test]
    fn only_one_space_after_the_colon_is_stripped() {
        assert_eq!(events(&[b"data:  x\ndata:y\n\n"]), vec![ev("", " x\ny")]);
    }

    #[test]
    fn a_leading_bom_is_dropped_even_byte_by_byte() {
        let want = vec![ev("", "1")];
        assert_eq!(events(&[b"\xEF\xBB\xBFdata: 1\n\n"]), want);
        assert_eq!(events(&[b"\xEF", b"\xBB", b"\xBF", b"data: 1\n\n"]), want);
        // A BOM later in the stream is data, not a mark.
        assert_eq!(
            events(&[b"data: \xEF\xBB\xBF\n\n"]),
            vec![ev("", "\u{feff}")]
        );
    }

    #[test]
    fn an_event_split_inside_a_utf8_sequence_is_joined() {
        assert_eq!(
            events(&[b"data: caf\xC3", b"\xA9\n\n"]),
            vec![ev("", "café")]
        );
    }

    #[test]
    fn a_final_event_without_its_blank_line_is_dispatched_at_finish() {
        assert_eq!(
            events(&[b"data: 1\n\ndata: 2"]),
            vec![ev("", "1"), ev("", "2")]
        );
        assert_eq!(events(&[b"event: e\ndata: 2\n"]), vec![ev("e", "2")]);
    }
}
