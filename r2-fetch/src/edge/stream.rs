//! The source body as a stream that enforces a [`BodyGuard`], remembering why it failed.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use worker::ByteStream;

use crate::consts::COALESCE_BYTES;
use crate::error::ApiError;
use crate::upload::BodyGuard;

/// Where the guarded stream leaves the reason it failed: R2 only reports that its input
/// errored, and the caller must get the right code.
pub type FailureCell = Rc<RefCell<Option<ApiError>>>;

/// The source body, checked chunk by chunk.
pub struct Guarded {
    inner: Pin<Box<ByteStream>>,
    pending: VecDeque<Vec<u8>>,
    guard: BodyGuard,
    failure: FailureCell,
    acc: Vec<u8>,
    inner_done: bool,
    finished: bool,
}

impl Guarded {
    /// Wraps `inner`, reading ahead just far enough to know whether the ZIP check passes, so a
    /// body that is not a ZIP is refused before anything is written to R2.
    pub async fn start(inner: ByteStream, guard: BodyGuard) -> Result<Self, ApiError> {
        let mut this = Guarded {
            inner: Box::pin(inner),
            pending: VecDeque::new(),
            guard,
            failure: FailureCell::default(),
            acc: Vec::new(),
            inner_done: false,
            finished: false,
        };
        while !this.guard.magic_checked() {
            match this.inner.next().await {
                Some(Ok(chunk)) => {
                    this.guard.on_chunk(&chunk)?;
                    this.pending.push_back(chunk);
                }
                Some(Err(e)) => return Err(this.guard.on_failure(&e.to_string())),
                None => {
                    this.guard.on_end()?;
                    this.inner_done = true;
                    break;
                }
            }
        }
        Ok(this)
    }

    /// The cell that will hold the failure reason, if the stream fails.
    pub fn failure(&self) -> FailureCell {
        self.failure.clone()
    }

    /// Bytes read from the source so far.
    pub fn seen(&self) -> u64 {
        self.guard.seen()
    }

    fn fail(&mut self, e: ApiError) -> Poll<Option<worker::Result<Vec<u8>>>> {
        let message = e.to_string();
        *self.failure.borrow_mut() = Some(e);
        self.finished = true;
        Poll::Ready(Some(Err(worker::Error::RustError(message))))
    }
}

impl Stream for Guarded {
    type Item = worker::Result<Vec<u8>>;

    /// Yields the body in chunks of [`COALESCE_BYTES`] (the last one shorter): fetch bodies
    /// arrive in small chunks, and each chunk handed on costs a round trip through JS streams.
    /// Holding bytes back costs nothing here: the reader is R2, not a person.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(chunk) = self.pending.pop_front() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        while !self.finished && self.acc.len() < COALESCE_BYTES {
            if self.inner_done {
                self.finished = true;
                break;
            }
            match self.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(e) = self.guard.on_chunk(&chunk) {
                        return self.fail(e);
                    }
                    if self.acc.is_empty() && chunk.len() >= COALESCE_BYTES {
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    if self.acc.capacity() == 0 {
                        self.acc.reserve_exact(COALESCE_BYTES);
                    }
                    self.acc.extend_from_slice(&chunk);
                }
                Poll::Ready(Some(Err(e))) => {
                    let e = self.guard.on_failure(&e.to_string());
                    return self.fail(e);
                }
                Poll::Ready(None) => match self.guard.on_end() {
                    Ok(_) => self.finished = true,
                    Err(e) => return self.fail(e),
                },
            }
        }
        if self.acc.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Ok(std::mem::take(&mut self.acc))))
        }
    }
}
