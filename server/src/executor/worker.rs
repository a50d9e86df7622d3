//! The worker pool: each worker claims the oldest claimable job, holds its lease while it runs
//! and renews it, then claims the next. A job whose worker died is claimable again once its lease
//! expires, by any worker of any replica.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::run::run_job;
use crate::clock::now;
use crate::state::AppState;
use crate::store::{notice_concerns, JOB_QUEUED};

/// Longest wait between claim attempts when nobody signals new work: bounds how late an expired
/// lease (or a job another replica queued) is noticed.
const MAX_IDLE_POLL: Duration = Duration::from_secs(1);

/// Starts `CERTIOR_WORKERS` workers on the current runtime.
pub fn spawn_workers(state: &AppState) {
    tokio::spawn(wake_on_queued_jobs(state.clone()));
    let replica = Uuid::new_v4().simple().to_string();
    for n in 0..state.settings.runs.workers {
        let worker = format!("{}-{n}", &replica[..12]);
        tokio::spawn(work(state.clone(), worker));
    }
}

/// Wakes an idle worker whenever the store announces a queued job, whichever replica queued it.
async fn wake_on_queued_jobs(state: AppState) {
    let mut feed = state.store.subscribe_events();
    loop {
        match feed.recv().await {
            Ok(notice) if !notice_concerns(&notice, JOB_QUEUED) => {}
            Ok(_) | Err(RecvError::Lagged(_)) => state.jobs.notify_one(),
            Err(RecvError::Closed) => return,
        }
    }
}

fn lease(state: &AppState) -> Duration {
    Duration::from_secs(state.settings.runs.job_lease_seconds)
}

async fn work(state: AppState, worker: String) {
    let poll = MAX_IDLE_POLL.min(lease(&state) / 2);
    loop {
        let at = now();
        match state
            .store
            .claim_job(&worker, at, at + lease(&state).as_secs_f64())
            .await
        {
            Ok(Some(job)) => {
                // More jobs may be waiting: pass the wake-up on to an idle worker.
                state.jobs.notify_one();
                let lost = Arc::new(AtomicBool::new(false));
                let keeper = tokio::spawn(keep_lease(
                    state.clone(),
                    worker.clone(),
                    job.execution_id.clone(),
                    lost.clone(),
                ));
                run_job(&state, &worker, job, &lost).await;
                keeper.abort();
            }
            Ok(None) => {
                tokio::select! {
                    _ = state.jobs.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, worker, "claiming a job failed; retrying");
                tokio::time::sleep(poll).await;
            }
        }
    }
}

/// Renews the lease at a third of its length. If it cannot (another worker took the job after a
/// stall, or the job is gone), `lost` tells the run to stop at its next checkpoint.
async fn keep_lease(state: AppState, worker: String, execution_id: String, lost: Arc<AtomicBool>) {
    let every = lease(&state) / 3;
    loop {
        tokio::time::sleep(every).await;
        let until = now() + lease(&state).as_secs_f64();
        match state.store.renew_lease(&execution_id, &worker, until).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::Release);
                return;
            }
            Err(error) => tracing::warn!(%error, execution_id, "renewing a job lease failed; retrying"),
        }
    }
}
