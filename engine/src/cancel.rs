//! Stopping a query that runs too long: a [`CancelToken`] another thread or task cancels,
//! and the deadline of [`crate::FetchOptions::timeout`].
//!
//! Evaluation checks both between the clauses of a filter (through any AND/OR/NOT nesting)
//! and every few thousand rows inside the costly clauses (regular expressions), so a query
//! stops within milliseconds of being cancelled and returns [`crate::QueryError::Cancelled`]
//! or [`crate::QueryError::TimedOut`]. The engine is unaffected and answers the next query.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::error::DataFusionError;
use tokio::sync::Notify;

/// Completes once `token` is cancelled or `timeout` has passed (never, without either), with
/// the error a query stopped that way returns: what a query's work is raced against.
pub async fn stopped(token: Option<&CancelToken>, timeout: Option<Duration>) -> crate::QueryError {
    let cancelled = async {
        match token {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let deadline = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = cancelled => crate::QueryError::Cancelled,
        () = deadline => crate::QueryError::TimedOut { timeout: timeout.unwrap_or_default() },
    }
}

/// Cancels the queries it is given to (through [`crate::FetchOptions::cancel`]). Clones share
/// one flag: cancel any clone, from any thread, and every query holding one stops. A token
/// stays cancelled; use a new one for the next query.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    notify: Notify,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every query holding a clone of this token.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// Completes once the token is cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Why a query stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Cancelled,
    TimedOut(Duration),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Cancelled => write!(f, "the query was cancelled"),
            Stop::TimedOut(t) => write!(f, "the query took longer than its timeout of {t:?}"),
        }
    }
}

impl std::error::Error for Stop {}

/// What evaluation checks: the caller's token, a token cancelled when the fetch future is
/// dropped, and the deadline.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interrupt {
    tokens: Vec<CancelToken>,
    deadline: Option<(Instant, Duration)>,
}

impl Interrupt {
    /// Stops at the first of `token` being cancelled and `timeout` (counted from now).
    pub fn new(token: Option<&CancelToken>, timeout: Option<Duration>) -> Interrupt {
        Interrupt {
            tokens: token.into_iter().cloned().collect(),
            deadline: timeout.map(|t| (Instant::now().checked_add(t).unwrap_or_else(far_future), t)),
        }
    }

    /// Also stops when `token` is cancelled.
    pub fn with(mut self, token: CancelToken) -> Interrupt {
        self.tokens.push(token);
        self
    }

    /// `Err` (a DataFusion error wrapping a [`Stop`]) once the query should stop.
    pub fn check(&self) -> Result<(), DataFusionError> {
        match self.stopped() {
            Some(stop) => Err(DataFusionError::External(Box::new(stop))),
            None => Ok(()),
        }
    }

    /// Why the query should stop, if it should.
    pub fn stopped(&self) -> Option<Stop> {
        if self.tokens.iter().any(CancelToken::is_cancelled) {
            return Some(Stop::Cancelled);
        }
        match self.deadline {
            Some((at, timeout)) if Instant::now() >= at => Some(Stop::TimedOut(timeout)),
            _ => None,
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(60 * 60 * 24 * 365 * 30)
}

/// The [`Stop`] inside a DataFusion error, however deeply it is wrapped.
pub(crate) fn stop_of(e: &DataFusionError) -> Option<Stop> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<Stop>().copied(),
        DataFusionError::Context(_, inner) => stop_of(inner),
        DataFusionError::Shared(inner) => stop_of(inner),
        _ => None,
    }
}

/// Cancels its token when dropped: a fetch future dropped by its caller stops the evaluation
/// it started on the blocking pool.
#[derive(Debug)]
pub(crate) struct CancelOnDrop(pub CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
