//! Release state that lives beside the store: the turn-taking of promotions and the pending
//! GitHub report jobs.

use tokio::sync::Mutex;

use super::github::report::ReportQueue;

#[derive(Default)]
pub struct ReleaseRuntime {
    /// Promotion checks and inserts take turns, so concurrent promotions serialise (§6.1).
    pub promotions: Mutex<()>,
    pub reports: ReportQueue,
}
