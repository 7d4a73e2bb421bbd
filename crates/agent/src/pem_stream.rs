//! PEM framing (`-----BEGIN CMS-----`, 64 base64 characters a line) as a streaming writer and
//! reader, so that PEM output and input stream like DER.

use std::io::{self, BufRead, Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Writes base64 lines between BEGIN and END lines; call [`PemWriter::finish`] at the end.
pub(crate) struct PemWriter<W: Write> {
    out: W,
    label: &'static str,
    pending: Vec<u8>,
}

impl<W: Write> PemWriter<W> {
    pub(crate) fn new(mut out: W, label: &'static str) -> io::Result<Self> {
        writeln!(out, "-----BEGIN {label}-----")?;
        Ok(PemWriter { out, label, pending: Vec::with_capacity(48) })
    }

    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            writeln!(self.out, "{}", STANDARD.encode(&self.pending))?;
        }
        writeln!(self.out, "-----END {}-----", self.label)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for PemWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for b in buf {
            self.pending.push(*b);
            if self.pending.len() == 48 {
                writeln!(self.out, "{}", STANDARD.encode(&self.pending))?;
                self.pending.clear();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads the base64 between a BEGIN and an END line as bytes.
pub(crate) struct PemReader<R: BufRead> {
    inner: R,
    text: String,
    decoded: Vec<u8>,
    at: usize,
    ended: bool,
}

impl<R: BufRead> PemReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        PemReader { inner, text: String::new(), decoded: Vec::new(), at: 0, ended: false }
    }

    /// Decodes the next line(s) into `decoded`; false at the END line or the end of input.
    fn refill(&mut self) -> io::Result<bool> {
        let mut line = String::new();
        while !self.ended {
            line.clear();
            if self.inner.read_line(&mut line)? == 0 {
                self.ended = true;
                break;
            }
            let line = line.trim();
            if line.starts_with("-----BEGIN") || line.is_empty() {
                continue;
            }
            if line.starts_with("-----END") {
                self.ended = true;
                break;
            }
            // Only base64's alphabet: anything else (a non-ASCII character could not even be
            // sliced on a 4-byte group) means this is not PEM.
            if !line.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "the PEM text is not base64"));
            }
            self.text.push_str(line);
            let whole = self.text.len() / 4 * 4;
            if whole > 0 {
                self.decoded = STANDARD
                    .decode(&self.text[..whole])
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the PEM text is not base64"))?;
                self.text.drain(..whole);
                self.at = 0;
                return Ok(true);
            }
        }
        if !self.text.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the PEM text ends in the middle of a base64 group",
            ));
        }
        Ok(false)
    }
}

impl<R: BufRead> Read for PemReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.decoded.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.decoded.len() - self.at);
        buf[..n].copy_from_slice(&self.decoded[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_writer_writes_the_reader_reads() {
        for len in [0usize, 1, 47, 48, 49, 1000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut w = PemWriter::new(Vec::new(), "CMS").unwrap();
            w.write_all(&data).unwrap();
            let pem = w.finish().unwrap();
            assert!(String::from_utf8_lossy(&pem).lines().all(|l| l.len() <= 64));
            let mut back = Vec::new();
            PemReader::new(&pem[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "{len} bytes");
        }
    }

    #[test]
    fn text_that_is_not_base64_is_an_error_not_a_panic() {
        // Found by the cms_file fuzz target: a non-ASCII character in a line.
        let mut out = Vec::new();
        let pem = "-----BEGIN CMS-----\nQAEg00T\u{1fd}\ntBEG\n-----END CMS-----\n";
        assert!(PemReader::new(pem.as_bytes()).read_to_end(&mut out).is_err());
        let spaces = "-----BEGIN CMS-----\nQU Fh\n-----END CMS-----\n";
        assert!(PemReader::new(spaces.as_bytes()).read_to_end(&mut out).is_err());
    }
}
