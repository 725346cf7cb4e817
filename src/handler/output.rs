//! A capped output buffer shared by the shell and wasm runners.
//!
//! A handler that prints more than its limit must not fail, block or fill
//! the server's memory: [`CappedOutput`] keeps the first `limit` bytes,
//! counts and drops the rest, and always reports a successful write, so
//! the producer runs on undisturbed. [`CappedOutput::finish`] turns what
//! was kept into text with a visible marker when something was cut.

use std::io;

/// A byte buffer that keeps at most `limit` bytes and counts the rest.
#[derive(Debug, Clone, Default)]
pub struct CappedOutput {
    /// The bytes kept, never more than `limit`.
    kept: Vec<u8>,
    /// How many bytes to keep.
    limit: usize,
    /// Every byte written, kept or not.
    total: u64,
}

impl CappedOutput {
    /// An empty buffer that keeps up to `limit` bytes.
    pub fn new(limit: u64) -> CappedOutput {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        CappedOutput {
            kept: Vec::new(),
            limit,
            total: 0,
        }
    }

    /// Append bytes, keeping what fits under the limit.
    pub fn push(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.kept.len());
        let fits = bytes.len().min(room);
        self.kept.extend_from_slice(&bytes[..fits]);
        self.total += bytes.len() as u64;
    }

    /// Every byte written so far, including those dropped.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// True once anything has been dropped.
    pub fn is_truncated(&self) -> bool {
        self.total > self.kept.len() as u64
    }

    /// The kept bytes as text (invalid UTF-8 replaced), and whether
    /// anything was cut. When cut, the text ends at a character boundary
    /// and is followed by a marker line saying how much was kept.
    pub fn finish(self) -> (String, bool) {
        let truncated = self.is_truncated();
        if !truncated {
            return (String::from_utf8_lossy(&self.kept).into_owned(), false);
        }
        let kept = without_partial_char(&self.kept);
        let mut text = String::from_utf8_lossy(kept).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let (kept, total) = (kept.len(), self.total);
        text.push_str(&format!("[output truncated: kept {kept} of {total} bytes]"));
        (text, true)
    }
}

impl io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `bytes` without a UTF-8 sequence the cut left unfinished at its end.
///
/// Only an incomplete final sequence is dropped; bytes that are invalid
/// anyway stay, to be replaced like any other invalid output.
fn without_partial_char(bytes: &[u8]) -> &[u8] {
    let tail_start = bytes.len().saturating_sub(3);
    let lead = (tail_start..bytes.len())
        .rev()
        .find(|&i| !is_continuation(bytes[i]));
    let Some(lead) = lead else {
        return bytes;
    };
    match std::str::from_utf8(&bytes[lead..]) {
        // `error_len() == None` means the input ended mid-sequence.
        Err(e) if e.error_len().is_none() => &bytes[..lead],
        _ => bytes,
    }
}

/// True for the `10xxxxxx` bytes that continue a UTF-8 sequence.
fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn output_under_the_limit_comes_back_whole_and_unmarked() {
        let mut out = CappedOutput::new(100);
        out.write_all(b"hello\n").unwrap();
        assert_eq!(out.finish(), ("hello\n".to_string(), false));
    }

    #[test]
    fn output_exactly_at_the_limit_is_not_truncated() {
        let mut out = CappedOutput::new(5);
        out.write_all(b"hello").unwrap();
        assert_eq!(out.finish(), ("hello".to_string(), false));
    }

    #[test]
    fn writes_past_the_limit_succeed_and_are_counted() {
        let mut out = CappedOutput::new(4);
        for _ in 0..1000 {
            assert_eq!(out.write(b"abcdefghij").unwrap(), 10);
        }
        assert_eq!(out.total(), 10_000);
        assert!(out.is_truncated());
    }

    #[test]
    fn truncated_output_ends_with_a_marker_line() {
        let mut out = CappedOutput::new(4);
        out.write_all(b"abcdefghij").unwrap();
        let (text, truncated) = out.finish();
        assert!(truncated);
        assert_eq!(text, "abcd\n[output truncated: kept 4 of 10 bytes]");
    }

    #[test]
    fn a_cut_inside_a_character_drops_the_partial_character() {
        // "é" is two bytes; a limit of 2 splits the second one.
        let mut out = CappedOutput::new(2);
        out.write_all("aéb".as_bytes()).unwrap();
        let (text, _) = out.finish();
        assert_eq!(text, "a\n[output truncated: kept 1 of 4 bytes]");
    }

    #[test]
    fn a_cut_after_a_four_byte_character_keeps_it() {
        let mut out = CappedOutput::new(5);
        out.write_all("a😀b".as_bytes()).unwrap();
        let (text, _) = out.finish();
        assert!(
            text.starts_with("a😀\n[output truncated: kept 5 of"),
            "{text}"
        );
    }

    #[test]
    fn invalid_bytes_are_replaced_not_dropped() {
        let mut out = CappedOutput::new(10);
        out.write_all(b"a\xffb").unwrap();
        assert_eq!(out.finish().0, "a\u{fffd}b");
    }

    #[test]
    fn a_zero_limit_keeps_only_the_marker() {
        let mut out = CappedOutput::new(0);
        out.write_all(b"abc").unwrap();
        assert_eq!(out.finish().0, "[output truncated: kept 0 of 3 bytes]");
    }
}
