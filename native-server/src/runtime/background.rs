//! One runner for every background task of a process, so they all start, settle and stop the
//! same way:
//!
//! - **loops** run on an interval ([`Background::every`]): the lifecycle sweeper and the
//!   access-time flusher. A run is never cut off: stopping waits for the run in progress (which
//!   can look at [`Stop`] to end early at a safe point), then, for loops that ask for it, runs
//!   once more (the flusher's last flush).
//! - **jobs** run once, off the request path ([`Background::spawn`]): writes of new variants
//!   to the lower tiers, promotions from cold. [`Background::settle`] waits until none is in
//!   flight (tests, and the CLI before it exits).
//!
//! [`Background::stop`] is the shutdown: it signals the loops and waits for their runs in
//! progress, settles the jobs (including those the loops started), then gives the loops that
//! ask for it their last run, so the flusher's last flush sees every row the jobs wrote.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

type Run = Arc<dyn Fn(Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The background tasks of one process (or of one test's state).
pub struct Background {
    jobs: AtomicUsize,
    settled: Notify,
    loops: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
    /// The last runs of the loops that asked for one ([`AtStop::RunOnce`]).
    last: Mutex<Vec<(&'static str, Run)>>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("jobs", &self.jobs.load(Ordering::SeqCst))
            .field("stopping", &*self.stop.borrow())
            .finish_non_exhaustive()
    }
}

/// Whether the runner is stopping; long runs (a sweep) check it at safe points.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A signal that never comes (one-off runs from the CLI and tests).
    pub fn never() -> Stop {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive for the life of the program: the receiver must not see it
        // dropped (that is not a stop).
        std::mem::forget(tx);
        Stop(rx)
    }

    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// What a loop does once stopping is asked for, after its current run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtStop {
    /// Run once more, after every job has finished (the flusher writes what it still holds).
    RunOnce,
    Exit,
}

impl Default for Background {
    fn default() -> Self {
        Background {
            jobs: AtomicUsize::new(0),
            settled: Notify::new(),
            loops: Mutex::new(Vec::new()),
            last: Mutex::new(Vec::new()),
            stop: watch::channel(false).0,
        }
    }
}

impl Background {
    pub fn new() -> Arc<Background> {
        Arc::new(Background::default())
    }

    /// Runs `job` now, off the caller's path, counted until it finishes.
    pub fn spawn(self: &Arc<Self>, job: impl Future<Output = ()> + Send + 'static) {
        self.jobs.fetch_add(1, Ordering::SeqCst);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            job.await;
            if this.jobs.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.settled.notify_waiters();
            }
        });
    }

    /// Runs `run` at once and then every `every` until [`Background::stop`]. A run longer than
    /// the interval is followed by one interval of rest, not by a burst of catch-up runs.
    pub fn every<F, Fut>(&self, name: &'static str, every: Duration, at_stop: AtStop, run: F)
    where
        F: Fn(Stop) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let run: Run = Arc::new(move |stop| Box::pin(run(stop)));
        if at_stop == AtStop::RunOnce {
            self.last
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((name, Arc::clone(&run)));
        }
        let mut stop = self.stop.subscribe();
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                run(Stop(stop.clone())).await;
                if *stop.borrow() {
                    break;
                }
            }
            tracing::debug!(task = name, "background loop stopped");
        });
        self.loops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, handle));
    }

    /// Waits until every job spawned so far (and any they spawn) has finished.
    pub async fn settle(&self) {
        loop {
            let notified = self.settled.notified();
            if self.jobs.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Stops the loops (each finishes its run in progress), waits for every job, then gives
    /// the loops that asked for one their last run.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let loops = std::mem::take(&mut *self.loops.lock().unwrap_or_else(|p| p.into_inner()));
        for (name, handle) in loops {
            if let Err(e) = handle.await {
                tracing::warn!(task = name, "background loop ended abnormally: {e}");
            }
        }
        self.settle().await;
        let last = std::mem::take(&mut *self.last.lock().unwrap_or_else(|p| p.into_inner()));
        for (name, run) in last {
            tracing::debug!(task = name, "last run");
            run(Stop(self.stop.subscribe())).await;
        }
        self.settle().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[tokio::test]
    async fn settle_waits_for_jobs_and_the_jobs_they_spawn() {
        let bg = Background::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = Arc::new(AtomicBool::new(false));
        let (inner_bg, inner_done) = (Arc::clone(&bg), Arc::clone(&done));
        bg.spawn(async move {
            let _ = rx.await;
            inner_bg.spawn(async move { inner_done.store(true, Ordering::SeqCst) });
        });
        let settled = tokio::spawn({
            let bg = Arc::clone(&bg);
            async move { bg.settle().await }
        });
        tokio::task::yield_now().await;
        assert!(!settled.is_finished());
        tx.send(()).expect("job waiting");
        settled.await.expect("settled");
        assert!(done.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn stop_lets_the_current_run_finish_and_runs_the_last_one_after_the_jobs() {
        let bg = Background::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let saw_stop = Arc::new(AtomicBool::new(false));
        let job_done = Arc::new(AtomicBool::new(false));
        let last_saw_job = Arc::new(AtomicBool::new(false));
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (release_tx, release_rx) = watch::channel(false);
        {
            let (runs, saw_stop, job_done, last_saw_job) = (
                Arc::clone(&runs),
                Arc::clone(&saw_stop),
                Arc::clone(&job_done),
                Arc::clone(&last_saw_job),
            );
            let spawner = Arc::clone(&bg);
            bg.every(
                "test",
                Duration::from_secs(3600),
                AtStop::RunOnce,
                move |stop| {
                    let (runs, saw_stop, started) =
                        (Arc::clone(&runs), Arc::clone(&saw_stop), started_tx.clone());
                    let (job_done, last_saw_job) =
                        (Arc::clone(&job_done), Arc::clone(&last_saw_job));
                    let spawner = Arc::clone(&spawner);
                    let mut release = release_rx.clone();
                    async move {
                        match runs.fetch_add(1, Ordering::SeqCst) {
                            0 => {
                                let _ = started.send(());
                                let _ = release.wait_for(|r| *r).await;
                                saw_stop.store(stop.requested(), Ordering::SeqCst);
                                // A job started by the run: the last run comes after it.
                                spawner.spawn(async move {
                                    tokio::task::yield_now().await;
                                    job_done.store(true, Ordering::SeqCst);
                                });
                            }
                            _ => last_saw_job
                                .store(job_done.load(Ordering::SeqCst), Ordering::SeqCst),
                        }
                    }
                },
            );
        }
        started_rx.recv().await.expect("first run started");
        let stopping = tokio::spawn({
            let bg = Arc::clone(&bg);
            async move { bg.stop().await }
        });
        // The first run is still in progress: stop waits for it.
        tokio::task::yield_now().await;
        assert!(!stopping.is_finished());
        release_tx.send(true).expect("release");
        stopping.await.expect("stopped");
        assert!(saw_stop.load(Ordering::SeqCst), "the run saw the stop");
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "the current run, then the last one"
        );
        assert!(
            last_saw_job.load(Ordering::SeqCst),
            "the last run came after the job"
        );
    }

    #[test]
    fn never_is_never_requested() {
        assert!(!Stop::never().requested());
    }
}
