//! The rules a body must keep while it streams into R2 ([`BodyGuard`]), and the fixed-size
//! parts of a multipart upload ([`PartBuffer`]).

use crate::error::{ApiError, Code};
use crate::policy;

/// What a ZIP archive starts with (local file header, empty archive and spanned markers all
/// begin with these two bytes).
pub const ZIP_MAGIC: &[u8; 2] = b"PK";

/// Watches the bytes of a body go by: the size limit, the declared length, and the ZIP magic
/// of the first bytes (however the chunks split them).
#[derive(Debug, Clone)]
pub struct BodyGuard {
    declared: Option<u64>,
    max_bytes: u64,
    require_zip: bool,
    seen: u64,
    head: Vec<u8>,
}

impl BodyGuard {
    /// A guard for a body of `declared` length (if known), at most `max_bytes`.
    pub fn new(declared: Option<u64>, max_bytes: u64, require_zip: bool) -> Self {
        BodyGuard {
            declared,
            max_bytes,
            require_zip,
            seen: 0,
            head: Vec::with_capacity(ZIP_MAGIC.len()),
        }
    }

    /// Accounts for the next chunk.
    pub fn on_chunk(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.seen += chunk.len() as u64;
        if self.head.len() < ZIP_MAGIC.len() {
            let take = (ZIP_MAGIC.len() - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            if self.require_zip && self.head.len() == ZIP_MAGIC.len() && self.head != ZIP_MAGIC {
                return Err(not_zip());
            }
        }
        if self.seen > self.max_bytes {
            return Err(policy::too_large(None, self.max_bytes));
        }
        if let Some(declared) = self.declared.filter(|&d| self.seen > d) {
            return Err(ApiError::new(
                Code::SourceTruncated,
                format!("the source sent more than its declared {declared} bytes"),
            ));
        }
        Ok(())
    }

    /// Whether enough bytes went by to know the ZIP check passed (or none is required).
    pub fn magic_checked(&self) -> bool {
        !self.require_zip || self.head.len() == ZIP_MAGIC.len()
    }

    /// Accounts for the end of the body; returns its size.
    pub fn on_end(&self) -> Result<u64, ApiError> {
        if !self.magic_checked() {
            return Err(not_zip());
        }
        match self.declared {
            Some(declared) if self.seen != declared => Err(truncated(self.seen, Some(declared))),
            _ => Ok(self.seen),
        }
    }

    /// The error for a body that failed mid-stream after `seen` bytes.
    pub fn on_failure(&self, detail: &str) -> ApiError {
        let mut e = truncated(self.seen, self.declared);
        e.message = format!("{}: {detail}", e.message);
        e
    }

    /// Bytes seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

fn not_zip() -> ApiError {
    ApiError::new(
        Code::NotZip,
        "the file is not a ZIP archive (it does not start with PK)",
    )
}

fn truncated(seen: u64, declared: Option<u64>) -> ApiError {
    let message = match declared {
        Some(d) => format!("the source body ended after {seen} of {d} bytes"),
        None => format!("the source body failed after {seen} bytes"),
    };
    ApiError::new(Code::SourceTruncated, message)
}

/// Cuts a stream of chunks into parts of exactly `part_size` bytes (the last one shorter),
/// holding at most one part in memory.
#[derive(Debug)]
pub struct PartBuffer {
    part_size: usize,
    buf: Vec<u8>,
}

impl PartBuffer {
    /// A buffer emitting parts of `part_size` bytes.
    pub fn new(part_size: usize) -> Self {
        assert!(part_size > 0, "part_size must be positive");
        PartBuffer {
            part_size,
            buf: Vec::new(),
        }
    }

    /// Adds a chunk; returns the parts it completed, in order.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut parts = Vec::new();
        while !chunk.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(self.part_size);
            }
            let take = (self.part_size - self.buf.len()).min(chunk.len());
            self.buf.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.buf.len() == self.part_size {
                parts.push(std::mem::take(&mut self.buf));
            }
        }
        parts
    }

    /// The bytes left over (shorter than a part; empty when the total was a multiple).
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_magic_across_chunks() {
        let mut g = BodyGuard::new(None, 100, true);
        assert!(!g.magic_checked());
        g.on_chunk(b"").unwrap();
        g.on_chunk(b"P").unwrap();
        assert!(!g.magic_checked());
        g.on_chunk(b"K\x03\x04").unwrap();
        assert!(g.magic_checked());
        assert_eq!(g.on_end(), Ok(4));
    }

    #[test]
    fn not_zip() {
        let mut g = BodyGuard::new(None, 100, true);
        assert_eq!(g.on_chunk(b"<!DOCTYPE").unwrap_err().code, Code::NotZip);
        let mut g = BodyGuard::new(None, 100, true);
        g.on_chunk(b"P").unwrap();
        assert_eq!(g.on_chunk(b"X").unwrap_err().code, Code::NotZip);
    }

    #[test]
    fn too_short_for_a_zip() {
        let mut g = BodyGuard::new(None, 100, true);
        g.on_chunk(b"P").unwrap();
        assert_eq!(g.on_end().unwrap_err().code, Code::NotZip);
        assert_eq!(
            BodyGuard::new(Some(0), 100, true)
                .on_end()
                .unwrap_err()
                .code,
            Code::NotZip
        );
    }

    #[test]
    fn zip_not_required() {
        let mut g = BodyGuard::new(Some(3), 100, false);
        assert!(g.magic_checked());
        g.on_chunk(b"abc").unwrap();
        assert_eq!(g.on_end(), Ok(3));
        assert_eq!(BodyGuard::new(None, 100, false).on_end(), Ok(0));
    }

    #[test]
    fn size_limit_while_streaming() {
        let mut g = BodyGuard::new(None, 10, false);
        g.on_chunk(&[0; 10]).unwrap();
        let e = g.on_chunk(&[0]).unwrap_err();
        assert_eq!(e.code, Code::TooLarge);
    }

    #[test]
    fn declared_length_mismatch() {
        let mut g = BodyGuard::new(Some(10), 100, false);
        g.on_chunk(&[0; 4]).unwrap();
        let e = g.on_end().unwrap_err();
        assert_eq!(e.code, Code::SourceTruncated);
        assert!(e.message.contains("4 of 10"), "{}", e.message);
        let mut g = BodyGuard::new(Some(3), 100, false);
        assert_eq!(g.on_chunk(&[0; 4]).unwrap_err().code, Code::SourceTruncated);
    }

    #[test]
    fn failure_mid_stream() {
        let mut g = BodyGuard::new(None, 100, false);
        g.on_chunk(&[1; 7]).unwrap();
        let e = g.on_failure("connection reset");
        assert_eq!(e.code, Code::SourceTruncated);
        assert!(e.message.contains("7 bytes") && e.message.contains("connection reset"));
        assert_eq!(g.seen(), 7);
    }

    #[test]
    fn parts_have_equal_sizes_but_the_last() {
        let mut pb = PartBuffer::new(4);
        let mut parts = Vec::new();
        for chunk in [&b"ab"[..], b"cdefghij", b"", b"k", b"lmnopqrstu"] {
            parts.extend(pb.push(chunk));
        }
        let rest = pb.finish();
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        assert_eq!(
            parts,
            vec![&b"abcd"[..], b"efgh", b"ijkl", b"mnop", b"qrst"]
        );
        assert_eq!(rest, b"u");
    }

    #[test]
    fn exact_multiple_leaves_nothing() {
        let mut pb = PartBuffer::new(3);
        assert_eq!(pb.push(b"abcdef").len(), 2);
        assert!(pb.finish().is_empty());
        assert!(PartBuffer::new(3).finish().is_empty());
    }

    #[test]
    fn big_chunk_many_parts() {
        let mut pb = PartBuffer::new(8);
        let data: Vec<u8> = (0..=255).collect();
        let parts = pb.push(&data);
        assert_eq!(parts.len(), 32);
        assert!(parts.iter().all(|p| p.len() == 8));
        assert_eq!(parts.concat(), data);
    }
}
