//! The one `Store` shared by the running agent's parts (the counter, the
//! outbox sender, the print queue, the API's reads): a mutex, and each
//! operation run off the async runtime (SQLite commits fsync).

use std::sync::{Arc, Mutex};

use super::Store;

/// A cloneable handle on the one open `Store`.
#[derive(Clone)]
pub struct StoreHandle(Arc<Mutex<Store>>);

impl StoreHandle {
    pub fn new(store: Store) -> Self {
        StoreHandle(Arc::new(Mutex::new(store)))
    }

    /// Run a store operation on a blocking thread, the store locked for
    /// it. A panic in `f` is resumed in the caller.
    pub async fn run<T, F>(&self, f: F) -> T
    where
        F: FnOnce(&mut Store) -> T + Send + 'static,
        T: Send + 'static,
    {
        let store = self.0.clone();
        match tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
