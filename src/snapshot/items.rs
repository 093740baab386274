//! The items of a JSON List file (`kubectl get ... -o json`), cut apart without parsing them, so
//! that each is parsed from its bytes: serde_json's reader over a stream looks at every byte
//! through an `io::Read`, keeping line and column, and on a 77 MB dump that was a third of the
//! time. Only strings and nesting are looked at here; memory holds one chunk of the file and the
//! item being cut.

use std::io::{self, Read};

/// How much of the file is read at a time.
const CHUNK: usize = 1 << 20;

/// The input is not one JSON object with an `items` array, or not JSON where this looked, or an
/// item was refused: the caller reads it the slow way, which also says where the error is.
#[derive(Debug)]
pub(super) struct Unsplit;

impl From<io::Error> for Unsplit {
    fn from(_: io::Error) -> Self {
        Unsplit
    }
}

/// Calls `item` with the text of every element of the top-level object's `items` array, in order.
pub(super) fn each_item(input: impl Read, mut item: impl FnMut(&str) -> Result<(), Unsplit>) -> Result<(), Unsplit> {
    let mut s = Scanner { input, buf: Vec::with_capacity(CHUNK), pos: 0 };
    let mut listed = false;
    s.expect(b'{')?;
    if s.next_token()? != Some(b'}') {
        loop {
            let key = s.string()?;
            s.expect(b':')?;
            if key && s.next_token()? == Some(b'[') {
                listed = true;
                s.pos += 1;
                if s.next_token()? != Some(b']') {
                    loop {
                        s.compact();
                        s.next_token()?;
                        let start = s.pos;
                        s.value()?;
                        let text = std::str::from_utf8(&s.buf[start..s.pos]).map_err(|_| Unsplit)?;
                        item(text)?;
                        if !s.comma_or(b']')? {
                            break;
                        }
                    }
                } else {
                    s.pos += 1;
                }
            } else {
                s.value()?;
            }
            if !s.comma_or(b'}')? {
                break;
            }
        }
    } else {
        s.pos += 1;
    }
    // One List and nothing after it; anything else (several documents, no items) the slow way.
    match (listed, s.next_token()?) {
        (true, None) => Ok(()),
        _ => Err(Unsplit),
    }
}

struct Scanner<R> {
    input: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Scanner<R> {
    /// Reads one more chunk after what is held; false at the end of the input.
    fn more(&mut self) -> io::Result<bool> {
        let held = self.buf.len();
        self.buf.resize(held + CHUNK, 0);
        let read = loop {
            match self.input.read(&mut self.buf[held..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(held + *read.as_ref().unwrap_or(&0));
        Ok(read? > 0)
    }

    /// Drops what was scanned, once it is more than a chunk.
    fn compact(&mut self) {
        if self.pos > CHUNK {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// The byte at `pos`, reading more when needed; `None` at the end of the input.
    fn peek(&mut self) -> Result<Option<u8>, Unsplit> {
        while self.pos >= self.buf.len() {
            if !self.more()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// The next byte that is not whitespace, not consumed.
    fn next_token(&mut self) -> Result<Option<u8>, Unsplit> {
        while let Some(b) = self.peek()? {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(Some(b));
            }
            self.pos += 1;
        }
        Ok(None)
    }

    fn expect(&mut self, byte: u8) -> Result<(), Unsplit> {
        match self.next_token()? {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(Unsplit),
        }
    }

    /// `,` (true: more follow) or `close` (false).
    fn comma_or(&mut self, close: u8) -> Result<bool, Unsplit> {
        match self.next_token()? {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(Unsplit),
        }
    }

    /// A string, past its closing quote; whether it is `"items"`.
    fn string(&mut self) -> Result<bool, Unsplit> {
        self.expect(b'"')?;
        let start = self.pos;
        self.string_rest()?;
        Ok(&self.buf[start..self.pos] == b"items\"")
    }

    /// The rest of a string whose opening quote is consumed, past its closing quote.
    fn string_rest(&mut self) -> Result<(), Unsplit> {
        loop {
            match memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) {
                Some(at) if self.buf[self.pos + at] == b'"' => {
                    self.pos += at + 1;
                    return Ok(());
                }
                // An escape: skip it and the character it escapes.
                Some(at) => {
                    self.pos += at + 1;
                    self.peek()?.ok_or(Unsplit)?;
                    self.pos += 1;
                }
                None => {
                    self.pos = self.buf.len();
                    if !self.more()? {
                        return Err(Unsplit);
                    }
                }
            }
        }
    }

    /// One value, past its end. Containers are followed through their strings and nesting only;
    /// scalars up to the next delimiter (the item's own parse checks them).
    fn value(&mut self) -> Result<(), Unsplit> {
        let mut depth = 0usize;
        loop {
            let b = if depth == 0 { self.next_token()? } else { self.peek()? }.ok_or(Unsplit)?;
            match b {
                b'"' => {
                    self.pos += 1;
                    self.string_rest()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                b',' | b'}' | b']' if depth == 0 => return Err(Unsplit),
                _ if depth == 0 => {
                    while self.peek()?.is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    {
                        self.pos += 1;
                    }
                }
                // Inside a container: straight to the next quote or bracket.
                _ => {
                    let rest = &self.buf[self.pos..];
                    match rest.iter().position(|&b| matches!(b, b'"' | b'{' | b'}' | b'[' | b']')) {
                        Some(at) => self.pos += at,
                        None => self.pos = self.buf.len(),
                    }
                }
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Result<Vec<String>, Unsplit> {
        let mut out = Vec::new();
        // A tiny reader chunking is exercised by the item spanning reads: CHUNK is large, so the
        // input is fed through a reader that returns a few bytes at a time.
        let reader = Trickle(text.as_bytes());
        each_item(reader, |item| {
            out.push(item.to_string());
            Ok(())
        })?;
        Ok(out)
    }

    /// Returns at most 3 bytes per read.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_items_of_a_list_are_cut_whole_whatever_their_strings_hold() {
        let text = r#" {"apiVersion":"v1","items":[{"kind":"Pod","metadata":{"name":"a]\"}{"}}, {"a":[1,2,{"b":"\\"}]} ,3,"x"],
            "kind":"List","metadata":{"resourceVersion":""}} "#;
        let got = items(text).unwrap();
        assert_eq!(got, [r#"{"kind":"Pod","metadata":{"name":"a]\"}{"}}"#, r#"{"a":[1,2,{"b":"\\"}]}"#, "3", r#""x""#]);
        assert_eq!(items(r#"{"items":[]}"#).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn anything_but_one_list_is_left_to_the_parser() {
        for text in [
            r#"{"kind":"Pod","metadata":{}}"#,
            r#"[{"kind":"Pod"}]"#,
            r#"{"items":[{"kind":"Pod"}]} {"items":[]}"#,
            r#"{"items":[{"kind":"Pod"}"#,
            r#"{"items":[{"kind":"Pod"},]}"#,
            r#"{"items":[{"kind":"Pod}]}"#,
            r#"{"items":{"kind":"Pod"}}"#,
            "",
        ] {
            assert!(items(text).is_err(), "{text}");
        }
    }
}
