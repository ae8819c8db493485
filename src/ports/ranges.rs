//! The port through which the sync gets `ip-ranges.json`. The adapters ([`crate::adapters::source`]) download
//! it or read a local copy.

use std::future::Future;

use crate::error::Result;

/// A source of the raw `ip-ranges.json` bytes. The MD5 is computed over exactly these bytes.
pub trait RangesSource: Send + Sync {
    /// Fetch the document as published now.
    fn fetch(&self) -> impl Future<Output = Result<Vec<u8>>> + Send;

    /// Where it comes from, for logs and messages.
    fn location(&self) -> &str;
}
