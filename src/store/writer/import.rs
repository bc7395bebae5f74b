//! Import-all: a whole export loaded into an empty store in one
//! transaction, then the vector index rebuilt from it.

use std::collections::HashMap;

use rusqlite::TransactionBehavior;

use super::{ImportMsg, Writer};
use crate::index::VectorIndex;
use crate::store::StoreError;
use crate::store::export::insert_records;

/// How long an import-all may wait for its next batch before it is abandoned.
const IMPORT_STALL: std::time::Duration = std::time::Duration::from_secs(60);

impl Writer {
    pub(super) fn import_all(
        &mut self,
        batches: std::sync::mpsc::Receiver<ImportMsg>,
    ) -> Result<(u64, usize), StoreError> {
        let heartbeat = self.heartbeat.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = crate::store::export::user_rows(&tx)?;
        if existing > 0 {
            return Err(StoreError::NotEmpty(existing));
        }
        let mut model_map = HashMap::new();
        let mut rows = 0u64;
        loop {
            match batches.recv_timeout(IMPORT_STALL) {
                Ok(ImportMsg::Batch(records)) => {
                    insert_records(&tx, &records, &mut model_map)?;
                    rows += records.len() as u64;
                    heartbeat.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(ImportMsg::Commit) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(StoreError::Invalid(format!(
                        "import stalled for {}s; nothing was loaded",
                        IMPORT_STALL.as_secs()
                    )));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(StoreError::Invalid(
                        "import abandoned; nothing was loaded".into(),
                    ));
                }
            }
        }
        tx.commit()?;
        let vectors = self.reload_index()?;
        Ok((rows, vectors))
    }

    fn reload_index(&mut self) -> Result<usize, StoreError> {
        let (dim, params) = {
            let idx = self.index.read().unwrap_or_else(|p| p.into_inner());
            (idx.dim(), idx.params())
        };
        let mut fresh = VectorIndex::with_params(dim, params);
        fresh.begin_bulk(None);
        crate::store::load_index(&self.conn, self.model_id, &mut fresh)?;
        crate::store::items::load_item_vectors(&self.conn, self.model_id, &mut fresh)?;
        crate::store::facts::load_fact_vectors(&self.conn, self.model_id, &mut fresh)?;
        fresh.finish_bulk();
        let n = fresh.len();
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(n)
    }
}
