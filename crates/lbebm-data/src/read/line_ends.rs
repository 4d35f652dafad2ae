//! Line-end normalisation while streaming, so that the csv crate's line numbers are
//! the ones an editor shows.

use std::io::Read;

/// Normalises line ends while streaming, so that the csv crate's line numbers match
/// what an editor shows: old Mac line ends (a lone `\r`) and `\r\n` become `\n` (the
/// csv crate counts `\n` only), and an empty line gets one space (the csv crate skips
/// empty lines without counting them; a whitespace-only record is counted, then skipped
/// by the readers here).
pub(super) struct CrToLf<R> {
    inner: R,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    pending_cr: bool,
    line_start: bool,
    eof: bool,
}

impl<R: Read> CrToLf<R> {
    /// Normalises the line ends of `inner`.
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            chunk: vec![0; 64 << 10],
            out: Vec::with_capacity(64 << 10),
            pos: 0,
            pending_cr: false,
            line_start: true,
            eof: false,
        }
    }
}

impl<R> CrToLf<R> {
    fn end_line(&mut self) {
        if self.line_start {
            self.out.push(b' ');
        }
        self.out.push(b'\n');
        self.line_start = true;
    }
}

impl<R: Read> Read for CrToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.eof || buf.is_empty() {
                return Ok(0);
            }
            self.out.clear();
            self.pos = 0;
            let n = match self.inner.read(&mut self.chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
                if std::mem::take(&mut self.pending_cr) {
                    self.end_line();
                }
                continue;
            }
            let chunk = std::mem::take(&mut self.chunk);
            for &b in &chunk[..n] {
                if std::mem::take(&mut self.pending_cr) {
                    // `\r\n` and a lone `\r` both end one line.
                    self.end_line();
                    if b == b'\n' {
                        continue;
                    }
                }
                match b {
                    b'\r' => self.pending_cr = true,
                    b'\n' => self.end_line(),
                    _ => {
                        self.out.push(b);
                        self.line_start = false;
                    }
                }
            }
            self.chunk = chunk;
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Hands out one byte per read, so that every `\r` falls on a chunk boundary.
    pub(in crate::read) struct Trickle<'a>(pub(in crate::read) &'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.is_empty()) {
                (Some((&b, rest)), false) => {
                    buf[0] = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn line_ends_are_normalised_across_reads() {
        let mut out = Vec::new();
        CrToLf::new(Trickle(b"a\rb\r\nc\r\r\nd\r"))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"a\nb\nc\n \nd\n");
    }
}
