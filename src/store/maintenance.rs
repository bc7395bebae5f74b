//! Tidying the search structures after they grew: the FTS index merged
//! into fewer segments and SQLite's statistics refreshed.

use std::future::Future;

use super::{Store, StoreError};

pub trait Maintenance {
    /// `items_fts optimize` and `PRAGMA optimize`, in one write.
    fn optimize_search(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl Maintenance for Store {
    async fn optimize_search(&self) -> Result<(), StoreError> {
        self.write(|ctx| {
            ctx.conn().execute_batch(
                "INSERT INTO items_fts (items_fts) VALUES ('optimize'); PRAGMA optimize;",
            )?;
            Ok(())
        })
        .await
    }
}
