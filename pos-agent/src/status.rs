//! `GET /api/v1/status`: what the counter, its backend, outbox, devices,
//! journal and backup look like now.

use serde_json::{json, Value};

use crate::agent::Agent;
use crate::store::StoreError;
use crate::time_fmt::rfc3339;

impl Agent {
    /// `GET /api/v1/status`.
    pub async fn status(&self) -> Result<Value, StoreError> {
        let (pending, oldest, rejected, head, stuck) = self
            .db(|s| {
                Ok::<_, StoreError>((
                    s.outbox_pending_count()?,
                    s.outbox_oldest_pending()?,
                    s.rejected_count()?,
                    s.journal_head()?,
                    s.stuck_outbox(crate::sync::STUCK_AFTER)?,
                ))
            })
            .await?;
        // Entries the backend keeps failing for a reason of their own: the
        // operator sees them (with the receipt), the technician the reason.
        let stuck: Vec<Value> = stuck
            .iter()
            .map(|e| {
                json!({
                    "purpose": e.purpose,
                    "transaction_id": e.tx_id,
                    "receipt_number": e.receipt_number,
                    "queued_at": e.created_at,
                    "attempts": e.attempts,
                    "reason": pos_codes::mask_fiscal_codes(&e.reason),
                })
            })
            .collect();
        let b = self.backend_status();
        Ok(json!({
            "terminal_id": self.terminal_id,
            "version": env!("CARGO_PKG_VERSION"),
            "backend": {
                "reachable": b.reachable,
                "last_ok_at": b.last_ok_at.map(rfc3339),
                "error": b.error,
            },
            "outbox": {"pending": pending, "oldest_at": oldest, "rejected": rejected, "stuck": stuck},
            "devices": {
                "printer": self.printer.status_json(),
                "camera": {"state": self.camera.get().as_str()},
                "card_reader": {"state": self.card_reader.get().as_str()},
            },
            "journal": {"entries": head.0, "head": head.1},
            "backup": crate::datadir::status_json(&self.config),
        }))
    }
}
