//! A bounded pool of OS threads for CPU-heavy work (decoding, resizing, encoding).
//!
//! Image transforms must never run on the async executor: a single large AVIF encode would
//! stall every connection sharing that executor thread. Instead, handlers submit closures to
//! this pool and await the result.
//!
//! Design:
//! - Jobs travel through a `std::sync::mpsc::sync_channel(queue)`. Its capacity is the number
//!   of jobs allowed to *wait*; jobs already picked up by a worker do not count. Submission
//!   uses `try_send`, so a full queue is reported as [`PoolError::Busy`] at once instead of
//!   making the caller wait — the server turns that into a 503 and sheds load.
//! - Workers share the receiver behind a `Mutex` and hold the lock only while waiting for the
//!   next job, never while running one.
//! - Each job carries a `tokio::sync::oneshot` sender for its result. If the awaiting future
//!   was dropped before the job started (the client went away), the job is skipped; if it is
//!   dropped while the job runs, the result is simply discarded.
//! - Panics are caught with `catch_unwind` and reported as [`PoolError::Panicked`]; the worker
//!   thread keeps serving jobs.
//! - When the last [`Pool`] handle is dropped the channel closes and the workers exit once the
//!   jobs already queued have been drained.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// A unit of work as seen by a worker thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why [`Pool::run`] did not produce the closure's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// Every worker is occupied and the wait queue is full.
    Busy,
    /// The job panicked; carries the panic message.
    Panicked(String),
    /// No worker thread is available to run the job.
    ShutDown,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Busy => f.write_str("worker pool is busy"),
            PoolError::Panicked(msg) => write!(f, "worker job panicked: {msg}"),
            PoolError::ShutDown => f.write_str("worker pool is shut down"),
        }
    }
}

impl std::error::Error for PoolError {}

/// Counters shared between the handles and the jobs.
#[derive(Debug)]
struct Shared {
    queued: AtomicUsize,
    running: AtomicUsize,
    threads: usize,
}

/// Cheaply clonable handle to a fixed set of worker threads.
#[derive(Clone)]
pub struct Pool {
    sender: SyncSender<Job>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .field("queued", &self.queued())
            .field("running", &self.running())
            .finish()
    }
}

impl Pool {
    /// Starts `threads` worker threads (named `refract-worker-N`, at least one) and allows at
    /// most `queue` jobs to wait beyond those running. With `queue == 0` a job is accepted only
    /// when a worker is idle.
    pub fn new(threads: usize, queue: usize) -> Pool {
        let (sender, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let mut spawned = 0;
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let result = std::thread::Builder::new()
                .name(format!("refract-worker-{n}"))
                .spawn(move || worker_loop(&receiver));
            match result {
                Ok(_) => spawned += 1,
                Err(err) => tracing::error!(worker = n, %err, "failed to spawn worker thread"),
            }
        }
        // If no thread could be spawned, dropping the last receiver here makes every
        // submission fail with `ShutDown` rather than queueing forever.
        drop(receiver);
        Pool {
            sender,
            shared: Arc::new(Shared {
                queued: AtomicUsize::new(0),
                running: AtomicUsize::new(0),
                threads: spawned,
            }),
        }
    }

    /// Runs `f` on a worker thread and returns its value.
    ///
    /// Fails immediately with [`PoolError::Busy`] when the queue is full, and with
    /// [`PoolError::Panicked`] if `f` panics.
    pub async fn run<F, R>(&self, f: F) -> Result<R, PoolError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let shared = Arc::clone(&self.shared);
        let job: Job = Box::new(move || {
            shared.queued.fetch_sub(1, Ordering::SeqCst);
            if tx.is_closed() {
                // Nobody is waiting for the result any more; save the CPU.
                return;
            }
            shared.running.fetch_add(1, Ordering::SeqCst);
            let outcome = catch_unwind(AssertUnwindSafe(f))
                .map_err(|payload| PoolError::Panicked(panic_message(payload.as_ref())));
            // Decrement before replying so that an awaiting caller never observes its own
            // finished job as still running.
            shared.running.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(outcome);
        });

        // Count the job before sending: a worker may pick it up (and decrement) right away.
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        if let Err(err) = self.sender.try_send(job) {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(match err {
                TrySendError::Full(_) => PoolError::Busy,
                TrySendError::Disconnected(_) => PoolError::ShutDown,
            });
        }
        // The sender is dropped without a reply only if the job never ran to completion on a
        // worker (e.g. all workers are gone).
        rx.await.unwrap_or(Err(PoolError::ShutDown))
    }

    /// Jobs accepted but not yet started.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }

    /// Jobs executing right now.
    pub fn running(&self) -> usize {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.shared.threads
    }
}

/// Body of each worker thread: take jobs until every [`Pool`] handle is gone.
fn worker_loop(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let next = {
            let guard = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            guard.recv()
        };
        let Ok(job) = next else {
            return;
        };
        // The job catches panics from the user closure itself; this outer guard only covers
        // pathological cases such as a panicking `Drop` of a discarded result.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

/// Extracts the human-readable message from a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(msg) = payload.downcast_ref::<&str>() {
        (*msg).to_owned()
    } else if let Some(msg) = payload.downcast_ref::<String>() {
        msg.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::wait_until;
    use super::*;
    use futures::FutureExt;
    use std::sync::atomic::AtomicBool;
    use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

    /// A job that reports it has started, then blocks until released.
    fn held_job(
        started: UnboundedSender<()>,
        gate: Arc<Mutex<mpsc::Receiver<()>>>,
    ) -> impl FnOnce() -> u32 + Send + 'static {
        move || {
            started.send(()).unwrap();
            gate.lock().unwrap().recv().unwrap();
            7
        }
    }

    #[test]
    fn pool_is_send_sync_debug() {
        fn check<T: Send + Sync + fmt::Debug + Clone>() {}
        check::<Pool>();

        fn check_send<T: Send>(_: &T) {}
        let pool = Pool::new(1, 0);
        let fut = pool.run(|| 1);
        check_send(&fut);
    }

    #[tokio::test]
    async fn runs_jobs_and_returns_results() {
        let pool = Pool::new(2, 8);
        assert_eq!(pool.threads(), 2);
        assert_eq!(pool.run(|| 2 + 2).await, Ok(4));
        let name = pool
            .run(|| std::thread::current().name().unwrap_or_default().to_owned())
            .await
            .unwrap();
        assert!(name.starts_with("refract-worker-"), "{name}");

        let jobs = (0..6u64).map(|i| pool.run(move || i * i));
        let results = futures::future::join_all(jobs).await;
        let values: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, vec![0, 1, 4, 9, 16, 25]);
        assert_eq!((pool.queued(), pool.running()), (0, 0));
    }

    #[tokio::test]
    async fn full_queue_is_busy_immediately() {
        let pool = Pool::new(1, 1);
        let (started_tx, mut started_rx) = unbounded_channel();
        let (release, gate) = mpsc::channel();
        let gate = Arc::new(Mutex::new(gate));

        // First job occupies the only worker.
        let p = pool.clone();
        let first = tokio::spawn({
            let job = held_job(started_tx.clone(), Arc::clone(&gate));
            async move { p.run(job).await }
        });
        started_rx.recv().await.unwrap();
        assert_eq!(pool.running(), 1);

        // Second job waits in the queue.
        let p = pool.clone();
        let second = tokio::spawn(async move { p.run(|| 8).await });
        wait_until(|| pool.queued() == 1).await;

        // Third job is refused on its very first poll.
        let third = pool.run(|| 9).now_or_never();
        assert_eq!(third, Some(Err(PoolError::Busy)));
        assert_eq!((pool.queued(), pool.running()), (1, 1));

        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(7));
        assert_eq!(second.await.unwrap(), Ok(8));
        assert_eq!((pool.queued(), pool.running()), (0, 0));
        assert_eq!(pool.run(|| 10).await, Ok(10));
    }

    #[tokio::test]
    async fn panic_is_reported_and_worker_survives() {
        let pool = Pool::new(1, 4);
        let err = pool.run(|| -> u32 { panic!("boom") }).await;
        assert_eq!(err, Err(PoolError::Panicked("boom".to_owned())));
        let code = 42;
        let err = pool.run(move || -> u32 { panic!("code {code}") }).await;
        assert_eq!(err, Err(PoolError::Panicked("code 42".to_owned())));
        // Same single worker thread is still alive.
        assert_eq!(pool.run(|| 5).await, Ok(5));
        assert_eq!((pool.queued(), pool.running()), (0, 0));
    }

    #[tokio::test]
    async fn counters_reflect_held_jobs() {
        let pool = Pool::new(2, 4);
        let (started_tx, mut started_rx) = unbounded_channel();
        let (release, gate) = mpsc::channel();
        let gate = Arc::new(Mutex::new(gate));

        let mut handles = Vec::new();
        let mut submit = || {
            let p = pool.clone();
            let job = held_job(started_tx.clone(), Arc::clone(&gate));
            handles.push(tokio::spawn(async move { p.run(job).await }));
        };
        // Occupy both workers first, so the queue (capacity 4) only sees the later three.
        submit();
        submit();
        started_rx.recv().await.unwrap();
        started_rx.recv().await.unwrap();
        assert_eq!((pool.running(), pool.queued()), (2, 0));
        submit();
        submit();
        submit();
        wait_until(|| pool.queued() == 3).await;
        assert_eq!(pool.running(), 2);
        assert_eq!(pool.queued(), 3);

        for _ in 0..5 {
            release.send(()).unwrap();
        }
        for handle in handles {
            assert_eq!(handle.await.unwrap(), Ok(7));
        }
        assert_eq!((pool.queued(), pool.running()), (0, 0));
    }

    #[tokio::test]
    async fn abandoned_job_is_skipped() {
        let pool = Pool::new(1, 4);
        let (started_tx, mut started_rx) = unbounded_channel();
        let (release, gate) = mpsc::channel();
        let gate = Arc::new(Mutex::new(gate));

        let p = pool.clone();
        let job = held_job(started_tx, gate);
        let first = tokio::spawn(async move { p.run(job).await });
        started_rx.recv().await.unwrap();

        // Submit, then drop the future: the job is queued but nobody awaits it.
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let abandoned = pool
            .run(move || flag.store(true, Ordering::SeqCst))
            .now_or_never();
        assert!(abandoned.is_none());
        assert_eq!(pool.queued(), 1);

        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(7));
        // FIFO with one worker: the abandoned job has been handled before this one.
        assert_eq!(pool.run(|| 1).await, Ok(1));
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(pool.queued(), 0);
    }
}
