//! How many holds on one product this node sends to the database at once.
//!
//! Every hold of a product takes the same row lock. With many transactions
//! queued on it the database spends its time waking waiters rather than
//! committing: measured here (BENCHMARKS.md, "Checkout across nodes"), 4,000
//! buyers for 2,000 units over three nodes of 16 connections each held 424
//! orders/s and 451 buyers timed out waiting for a connection; with at most
//! four holds per product per node in the database at once, 1,408/s and
//! none timed out, while one node alone kept its rate (1,247/s against
//! 1,293/s, within the noise). The others wait here, in this process, in
//! arrival order, without holding a connection. (A trial of 2, 4 and 8 per
//! node, one run each on 2026-12-05: over three nodes 2,066, 1,606 and
//! 1,049 orders/s, on one node 1,173, 1,354 and 1,300: four is the middle
//! that does not cost a single node.)
//!
//! Products share [`STRIPES`] gates by a hash of their id: two hot products
//! on one stripe share its permits, a bounded table whatever the catalogue.

use std::sync::Arc;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Holds of one product in the database at once, per node.
pub const PER_PRODUCT: usize = 4;
/// Gates, shared by products by a hash of their id.
pub const STRIPES: usize = 256;

/// The gates of this process. Cheap to clone.
#[derive(Clone)]
pub struct HoldGate {
    stripes: Arc<Vec<Semaphore>>,
}

impl Default for HoldGate {
    fn default() -> Self {
        HoldGate::new(PER_PRODUCT)
    }
}

impl HoldGate {
    pub fn new(per_product: usize) -> HoldGate {
        HoldGate {
            stripes: Arc::new(
                (0..STRIPES)
                    .map(|_| Semaphore::new(per_product.max(1)))
                    .collect(),
            ),
        }
    }

    /// Waits for the product's turn; the hold goes to the database while the
    /// permit lives.
    pub async fn enter(&self, product_id: &str) -> SemaphorePermit<'_> {
        let stripe = &self.stripes[stripe_of(product_id)];
        // Never closed, so acquiring cannot fail.
        stripe.acquire().await.expect("hold gates are never closed")
    }
}

/// The gate a product shares.
fn stripe_of(product_id: &str) -> usize {
    (crate::domain::ids::stable_hash(product_id) % STRIPES as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_product_gets_its_permits_and_others_are_not_held_up() {
        let gate = HoldGate::new(2);
        let a1 = gate.enter("prd_a").await;
        let _a2 = gate.enter("prd_a").await;
        let third = tokio::time::timeout(Duration::from_millis(50), gate.enter("prd_a")).await;
        assert!(third.is_err(), "a third hold of prd_a waits");
        // Another product on another stripe goes straight in.
        let other = (0..100)
            .map(|i| format!("prd_{i}"))
            .find(|p| stripe_of(p) != stripe_of("prd_a"))
            .unwrap();
        let _b = tokio::time::timeout(Duration::from_millis(50), gate.enter(&other))
            .await
            .expect("another product is not held up");
        drop(a1);
        let _a3 = tokio::time::timeout(Duration::from_millis(50), gate.enter("prd_a"))
            .await
            .expect("a permit given back lets the next one in");
    }
}
