//! The daemon's background tasks, supervised: each runs under one
//! [`CancellationToken`] and one [`TaskTracker`], and a task that ends on its own — with an
//! error, a panic, or by returning while the daemon runs — is noticed and logged, then
//! restarted with back-off or made the daemon's failure, as its [`OnExit`] says.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What happens when a task ends while the daemon runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExit {
    /// Start it again after a back-off: from [`RESTART_MIN`], doubling up to
    /// [`RESTART_MAX`]; back to the minimum once a run lasted [`RESTART_RESET`].
    Restart,
    /// Stop the daemon: it exits with an error and the service manager restarts it.
    Fail,
}

/// The first wait before a task is started again.
pub const RESTART_MIN: Duration = Duration::from_secs(1);
/// The longest wait before a task is started again.
pub const RESTART_MAX: Duration = Duration::from_secs(60);
/// A run this long counts as healthy: the next death waits [`RESTART_MIN`] again.
pub const RESTART_RESET: Duration = Duration::from_secs(300);

/// A task that ended while the daemon ran, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDeath {
    /// The task's name.
    pub task: &'static str,
    /// What ended it: its error, its panic message, or that it returned.
    pub cause: String,
}

/// The daemon's background tasks.
#[derive(Debug)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
    fatal: mpsc::UnboundedSender<TaskDeath>,
    fatal_rx: mpsc::UnboundedReceiver<TaskDeath>,
    deaths: Arc<AtomicU64>,
    restart_min: Duration,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks::new()
    }
}

impl Tasks {
    /// No tasks yet.
    pub fn new() -> Tasks {
        let (fatal, fatal_rx) = mpsc::unbounded_channel();
        Tasks {
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            fatal,
            fatal_rx,
            deaths: Arc::new(AtomicU64::new(0)),
            restart_min: RESTART_MIN,
        }
    }

    /// Starts restarted tasks again after `min` (doubling) instead of [`RESTART_MIN`].
    pub fn with_restart_min(mut self, min: Duration) -> Tasks {
        self.restart_min = min;
        self
    }

    /// The token every task stops on.
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// How many times a task ended while the daemon ran.
    pub fn deaths(&self) -> u64 {
        self.deaths.load(Ordering::Relaxed)
    }

    /// Runs `make`'s future as the task `name`, under `on_exit`. `make` is called again for
    /// each restart, with the token the task should stop on; a task that does not watch
    /// it is dropped at its next `.await` once the daemon stops.
    pub fn spawn<F, Fut>(&self, name: &'static str, on_exit: OnExit, mut make: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        let fatal = self.fatal.clone();
        let deaths = self.deaths.clone();
        let tracker = self.tracker.clone();
        let restart_min = self.restart_min;
        self.tracker.spawn(async move {
            let mut backoff = restart_backoff(restart_min);
            loop {
                let started = Instant::now();
                let run = make(cancel.child_token());
                let stop = cancel.clone();
                let mut handle = tracker.spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => Ok(()),
                        r = run => r,
                    }
                });
                let ended = tokio::select! {
                    () = cancel.cancelled() => {
                        // The task sees the token too; wait for it to let go.
                        let _ = (&mut handle).await;
                        return;
                    }
                    ended = &mut handle => ended,
                };
                if cancel.is_cancelled() {
                    return;
                }
                let cause = match ended {
                    Ok(Ok(())) => "it returned".to_owned(),
                    Ok(Err(e)) => e,
                    Err(e) if e.is_panic() => format!("panic: {}", panic_text(e.into_panic())),
                    Err(e) => e.to_string(),
                };
                deaths.fetch_add(1, Ordering::Relaxed);
                match on_exit {
                    OnExit::Fail => {
                        tracing::error!(task = name, cause = %cause, "task died: stopping the daemon");
                        let _ = fatal.send(TaskDeath { task: name, cause });
                        cancel.cancel();
                        return;
                    }
                    OnExit::Restart => {
                        if started.elapsed() >= RESTART_RESET {
                            backoff = restart_backoff(restart_min);
                        }
                        let wait = backoff.next().unwrap_or(RESTART_MAX);
                        tracing::error!(
                            task = name,
                            cause = %cause,
                            restart_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                            "task died: restarting it"
                        );
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            () = tokio::time::sleep(wait) => {}
                        }
                    }
                }
            }
        });
    }

    /// Waits until a task marked [`OnExit::Fail`] dies, and says which and why.
    pub async fn failed(&mut self) -> TaskDeath {
        match self.fatal_rx.recv().await {
            Some(death) => death,
            // Unreachable while `self` holds a sender.
            None => std::future::pending().await,
        }
    }

    /// Stops every task and waits up to `deadline` for them to end. Whether they all did.
    pub async fn stop(&self, deadline: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

fn restart_backoff(min: Duration) -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(RESTART_MAX.max(min))
        .with_factor(2.0)
        .without_max_times()
        .build()
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    const DEADLINE: Duration = Duration::from_secs(10);

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        let end = Instant::now() + DEADLINE;
        while !f() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_task_that_panics_is_noticed_and_restarted() {
        let tasks = Tasks::new().with_restart_min(Duration::from_millis(10));
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        tasks.spawn("flaky", OnExit::Restart, move |token| {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if run == 0 {
                    panic!("first run breaks");
                }
                token.cancelled().await;
                Ok(())
            }
        });
        until("a second run", || runs.load(Ordering::SeqCst) == 2).await;
        assert_eq!(tasks.deaths(), 1, "the panic was counted");
        assert!(
            tasks.stop(DEADLINE).await,
            "the restarted task stops on the token"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2, "not restarted at shutdown");
    }

    #[tokio::test]
    async fn a_fatal_task_that_panics_fails_the_daemon() {
        let mut tasks = Tasks::new();
        let token = tasks.token();
        tasks.spawn("vital", OnExit::Fail, |_| async { panic!("gone") });
        let death = tokio::time::timeout(DEADLINE, tasks.failed())
            .await
            .unwrap();
        assert_eq!(death.task, "vital");
        assert_eq!(death.cause, "panic: gone");
        assert!(token.is_cancelled(), "the other tasks are told to stop");
        assert!(tasks.stop(DEADLINE).await);
    }

    #[tokio::test]
    async fn an_error_or_a_return_is_a_death_too() {
        let mut tasks = Tasks::new().with_restart_min(Duration::from_millis(10));
        tasks.spawn("erring", OnExit::Fail, |_| async {
            Err("disk full".to_owned())
        });
        let death = tokio::time::timeout(DEADLINE, tasks.failed())
            .await
            .unwrap();
        assert_eq!(death.cause, "disk full");

        let tasks = Tasks::new().with_restart_min(Duration::from_millis(10));
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        tasks.spawn("quitter", OnExit::Restart, move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        });
        until("three runs", || runs.load(Ordering::SeqCst) >= 3).await;
        assert!(tasks.deaths() >= 2);
        assert!(tasks.stop(DEADLINE).await);
    }

    #[tokio::test]
    async fn stopping_ends_a_task_that_ignores_the_token() {
        let tasks = Tasks::new();
        tasks.spawn("deaf", OnExit::Fail, |_| std::future::pending());
        assert!(tasks.stop(DEADLINE).await);
        assert_eq!(tasks.deaths(), 0, "a stop is not a death");
    }
}
