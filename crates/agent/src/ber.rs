//! The little ASN.1 that CMS needs: DER written with definite lengths, BER read (definite
//! and indefinite lengths, as `openssl cms -stream` writes) from a stream, so that a large
//! file's content never has to be in memory.

use std::io::{self, Read};

/// Tags used here (single-byte tags only; CMS needs no others).
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
/// `[0]` constructed (EXPLICIT), and `[0]` primitive (IMPLICIT OCTET STRING).
pub(crate) const CONTEXT_0: u8 = 0xA0;
pub(crate) const CONTEXT_0_PRIMITIVE: u8 = 0x80;
pub(crate) const CONTEXT_1: u8 = 0xA1;

/// Encodes a definite length.
pub(crate) fn length(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

/// A tag and length, for content written afterwards.
pub(crate) fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(length(len));
    out
}

/// A whole element.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = header(tag, content.len());
    out.extend_from_slice(content);
    out
}

/// A constructed element from its encoded parts.
pub(crate) fn seq(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// An OBJECT IDENTIFIER from its dotted form (constants only: the caller's OIDs are valid).
pub(crate) fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut body = Vec::new();
    if arcs.len() >= 2 {
        push_base128(&mut body, arcs[0] * 40 + arcs[1]);
        for arc in &arcs[2..] {
            push_base128(&mut body, *arc);
        }
    }
    tlv(OID, &body)
}

fn push_base128(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = vec![(v & 0x7f) as u8];
    v >>= 7;
    while v > 0 {
        tmp.push(0x80 | (v & 0x7f) as u8);
        v >>= 7;
    }
    out.extend(tmp.into_iter().rev());
}

/// A parsed element: primitive content, or the children of a constructed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Primitive(u8, Vec<u8>),
    Constructed(u8, Vec<Node>),
}

impl Node {
    pub(crate) fn tag(&self) -> u8 {
        match self {
            Node::Primitive(t, _) | Node::Constructed(t, _) => *t,
        }
    }

    pub(crate) fn children(&self) -> &[Node] {
        match self {
            Node::Constructed(_, c) => c,
            Node::Primitive(..) => &[],
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Node::Primitive(_, b) => b,
            Node::Constructed(..) => &[],
        }
    }

    /// The DER encoding of this element (definite lengths), to compare with DER from elsewhere.
    pub(crate) fn to_der(&self) -> Vec<u8> {
        match self {
            Node::Primitive(t, b) => tlv(*t, b),
            Node::Constructed(t, c) => tlv(*t, &c.iter().flat_map(Node::to_der).collect::<Vec<_>>()),
        }
    }
}

/// Bytes read so far and a limit on what a header may claim, so that a hostile length can
/// never make the reader allocate more than the header section is allowed to be.
pub(crate) struct Reader<R> {
    inner: R,
    pub(crate) limit: usize,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl<R: Read> Reader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Reader { inner, limit: 1 << 20 }
    }

    pub(crate) fn inner(&mut self) -> &mut R {
        &mut self.inner
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.inner.read_exact(&mut b).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => bad("the file ends early (truncated?)"),
            _ => e,
        })?;
        Ok(b[0])
    }

    /// A tag and its length (`None`: indefinite).
    pub(crate) fn header(&mut self) -> io::Result<(u8, Option<usize>)> {
        let tag = self.byte()?;
        if tag & 0x1f == 0x1f {
            return Err(bad("multi-byte ASN.1 tags are not used by CMS"));
        }
        let first = self.byte()?;
        if first < 0x80 {
            return Ok((tag, Some(first as usize)));
        }
        if first == 0x80 {
            if tag & 0x20 == 0 {
                return Err(bad("an indefinite length on a primitive element"));
            }
            return Ok((tag, None));
        }
        let n = (first & 0x7f) as usize;
        if n > 8 {
            return Err(bad("a length longer than 8 bytes"));
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = len.checked_mul(256).ok_or_else(|| bad("a length too large"))? + self.byte()? as usize;
        }
        Ok((tag, Some(len)))
    }

    /// A whole element (for the small parts before the content).
    pub(crate) fn node(&mut self) -> io::Result<Node> {
        let (tag, len) = self.header()?;
        self.node_after(tag, len)
    }

    /// The element whose header was just read.
    pub(crate) fn node_after(&mut self, tag: u8, len: Option<usize>) -> io::Result<Node> {
        match len {
            Some(len) => {
                if len > self.limit {
                    return Err(bad("an element larger than the header section may be"));
                }
                let mut buf = vec![0; len];
                self.inner.read_exact(&mut buf).map_err(|_| bad("the file ends early (truncated?)"))?;
                if tag & 0x20 == 0 {
                    return Ok(Node::Primitive(tag, buf));
                }
                let mut inner = Reader { inner: &buf[..], limit: self.limit };
                let mut children = Vec::new();
                while !inner.inner.is_empty() {
                    children.push(inner.node()?);
                }
                Ok(Node::Constructed(tag, children))
            }
            None => {
                let mut children = Vec::new();
                loop {
                    let (t, l) = self.header()?;
                    if t == 0 && l == Some(0) {
                        break;
                    }
                    children.push(self.node_after(t, l)?);
                    if children.len() > 10_000 {
                        return Err(bad("too many elements"));
                    }
                }
                Ok(Node::Constructed(tag, children))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_lengths_and_indefinite_elements_round_trip() {
        assert_eq!(oid("1.2.840.113549.1.7.3"), vec![0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03]);
        assert_eq!(length(0x7f), vec![0x7f]);
        assert_eq!(length(0x80), vec![0x81, 0x80]);
        assert_eq!(length(0x1234), vec![0x82, 0x12, 0x34]);
        // SEQUENCE (indefinite) { INTEGER 5, OCTET STRING "ab" } EOC
        let ber = [0x30, 0x80, 0x02, 0x01, 0x05, 0x04, 0x02, b'a', b'b', 0, 0];
        let node = Reader::new(&ber[..]).node().unwrap();
        assert_eq!(node.to_der(), vec![0x30, 0x07, 0x02, 0x01, 0x05, 0x04, 0x02, b'a', b'b']);
        assert!(Reader::new(&[0x30, 0x85, 1, 1, 1, 1, 1][..]).node().is_err(), "a hostile length is refused");
        assert!(Reader::new(&[0x04, 0x05, 1][..]).node().is_err(), "a truncated element is refused");
    }
}
