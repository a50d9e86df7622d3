//! The budget ledger of one capability token: reservations are atomic, so concurrent calls (and
//! child delegations) can never spend more than the budget together.

use std::sync::atomic::{AtomicI64, Ordering};

/// The token's budget and what has been reserved from it, in cents.
#[derive(Debug)]
pub struct BudgetLedger {
    budget_cents: i64,
    spent_cents: AtomicI64,
}

/// A reservation did not fit (spec §7.5 stage 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("budget_exceeded: need {need}, have {have}")]
pub struct BudgetExceeded {
    pub need: i64,
    pub have: i64,
}

impl BudgetLedger {
    /// A ledger with `budget_cents` of which `spent_cents` are already used (e.g. reloaded from
    /// the store).
    pub fn new(budget_cents: i64, spent_cents: i64) -> Self {
        Self {
            budget_cents,
            spent_cents: AtomicI64::new(spent_cents),
        }
    }

    pub fn budget_cents(&self) -> i64 {
        self.budget_cents
    }

    pub fn spent_cents(&self) -> i64 {
        self.spent_cents.load(Ordering::Acquire)
    }

    pub fn remaining_cents(&self) -> i64 {
        self.budget_cents - self.spent_cents()
    }

    /// Atomically reserves `cost` cents if they fit in what remains.
    pub fn reserve(&self, cost: i64) -> Result<(), BudgetExceeded> {
        let cost = cost.max(0);
        self.spent_cents
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |spent| {
                (spent + cost <= self.budget_cents).then_some(spent + cost)
            })
            .map(|_| ())
            .map_err(|spent| BudgetExceeded {
                need: cost,
                have: self.budget_cents - spent,
            })
    }

    /// Returns a reservation (a tool error refunds its call, spec §7.5).
    pub fn refund(&self, cost: i64) {
        let cost = cost.max(0);
        let _ = self
            .spent_cents
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |spent| Some((spent - cost).max(0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn reserve_and_refund() {
        let ledger = BudgetLedger::new(10, 0);
        ledger.reserve(4).unwrap();
        assert_eq!(ledger.reserve(7), Err(BudgetExceeded { need: 7, have: 6 }));
        assert_eq!(ledger.remaining_cents(), 6);
        ledger.refund(4);
        assert_eq!(ledger.remaining_cents(), 10);
    }

    #[test]
    fn concurrent_reservations_never_overspend() {
        let ledger = Arc::new(BudgetLedger::new(1000, 0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let l = ledger.clone();
                std::thread::spawn(move || (0..500).filter(|_| l.reserve(1).is_ok()).count())
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 1000);
        assert_eq!(ledger.remaining_cents(), 0);
    }
}
