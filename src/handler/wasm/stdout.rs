//! The guest's stdout: a stream that keeps the first `limits.output`
//! bytes and quietly drops the rest.
//!
//! The stream never refuses a write and never traps: a guest that floods
//! stdout keeps running (until its fuel or time runs out) and the reply
//! carries the truncation marker of [`CappedOutput`].

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::handler::output::CappedOutput;

/// How much a guest may write in one go; it may always write again.
const WRITE_BUDGET: usize = 64 * 1024;

/// A cloneable handle on one run's capped stdout.
#[derive(Clone)]
pub(super) struct CappedStdout {
    buffer: Arc<Mutex<Option<CappedOutput>>>,
}

impl CappedStdout {
    /// A stdout that keeps `limit` bytes.
    pub fn new(limit: u64) -> CappedStdout {
        let output = CappedOutput::new(limit);
        CappedStdout {
            buffer: Arc::new(Mutex::new(Some(output))),
        }
    }

    /// Appends bytes; anything past the cap is counted and dropped.
    pub fn append(&self, bytes: &[u8]) {
        let mut guard = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(output) = guard.as_mut() {
            // CappedOutput accepts every write; an error here would only
            // mean the cap logic failed, and the bytes are dropped.
            let _ = output.write_all(bytes);
        }
    }

    /// The text kept and whether it was cut. Later writes are dropped.
    pub fn finish(&self) -> (String, bool) {
        let mut guard = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.take() {
            Some(output) => output.finish(),
            None => (String::new(), false),
        }
    }
}

impl IsTerminal for CappedStdout {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedStdout {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CappedStdout {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl OutputStream for CappedStdout {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl AsyncWrite for CappedStdout {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
