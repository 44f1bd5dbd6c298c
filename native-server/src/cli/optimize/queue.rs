//! A shared work queue on std threads: `jobs` workers take tasks from the front; a task may
//! return follow-up tasks, which go to the front (so one image's outputs are made before the
//! next image is read, and memory holds about one image per worker). The run ends when the
//! queue is empty and no task is running.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Condvar, Mutex};

struct State<T> {
    tasks: VecDeque<T>,
    running: usize,
}

/// Runs `tasks` (and the tasks they return) on `jobs` threads.
pub fn run<T: Send>(jobs: usize, tasks: Vec<T>, work: impl Fn(T) -> Vec<T> + Sync) {
    let state = Mutex::new(State {
        tasks: tasks.into(),
        running: 0,
    });
    let wake = Condvar::new();
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let task = {
                    let mut s = lock();
                    loop {
                        if let Some(t) = s.tasks.pop_front() {
                            s.running += 1;
                            break t;
                        }
                        if s.running == 0 {
                            return;
                        }
                        s = wake.wait(s).unwrap_or_else(|e| e.into_inner());
                    }
                };
                // A panic still counts the task as done, so the other workers finish; it is
                // raised again when the scope ends.
                let more = std::panic::catch_unwind(AssertUnwindSafe(|| work(task)));
                let mut s = lock();
                s.running -= 1;
                match more {
                    Ok(more) => {
                        for t in more.into_iter().rev() {
                            s.tasks.push_front(t);
                        }
                    }
                    Err(panic) => {
                        drop(s);
                        wake.notify_all();
                        std::panic::resume_unwind(panic);
                    }
                }
                wake.notify_all();
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_every_task_and_its_follow_ups() {
        let done = AtomicUsize::new(0);
        // Each task n > 0 returns two tasks n - 1: 2^(n+1) - 1 tasks in all from one task n.
        super::run(3, vec![6u32, 4], |n| {
            done.fetch_add(1, Ordering::Relaxed);
            if n == 0 {
                Vec::new()
            } else {
                vec![n - 1, n - 1]
            }
        });
        assert_eq!(done.into_inner(), 127 + 31);
    }
}
