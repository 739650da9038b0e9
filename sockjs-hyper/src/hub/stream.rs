//! A bounded broadcast receiver as a pollable stream that reports lag instead of hiding it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::ReusableBoxFuture;

/// A subscriber fell behind its bounded queue and missed this many items (the oldest ones);
/// the items after them follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the subscriber fell behind and missed {} item(s)",
            self.0
        )
    }
}

impl std::error::Error for Lagged {}

type Next<T> = (Result<T, RecvError>, broadcast::Receiver<T>);

async fn next<T: Clone>(mut rx: broadcast::Receiver<T>) -> Next<T> {
    let r = rx.recv().await;
    (r, rx)
}

pub(crate) struct Recv<T> {
    fut: ReusableBoxFuture<'static, Next<T>>,
    done: bool,
    /// The hub's count of items lost to lagging subscribers.
    lagged: Arc<AtomicU64>,
}

impl<T: Clone + Send + 'static> Recv<T> {
    pub(crate) fn new(rx: broadcast::Receiver<T>, lagged: Arc<AtomicU64>) -> Self {
        Recv {
            fut: ReusableBoxFuture::new(next(rx)),
            done: false,
            lagged,
        }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Lagged>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let (r, rx) = std::task::ready!(self.fut.poll(cx));
        self.fut.set(next(rx));
        Poll::Ready(match r {
            Ok(item) => Some(Ok(item)),
            Err(RecvError::Lagged(n)) => {
                self.lagged.fetch_add(n, Ordering::Relaxed);
                Some(Err(Lagged(n)))
            }
            Err(RecvError::Closed) => {
                self.done = true;
                None
            }
        })
    }
}
