//! [`ExportSink`] in memory: keeps every record it is given, and fails on demand (tests, the
//! devstack without `--export-stream`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::ports::{ExportError, ExportSink};

/// Records what the fanout exports.
#[derive(Debug, Default)]
pub struct MemoryExportSink {
    records: Mutex<Vec<Vec<u8>>>,
    failing: AtomicBool,
}

impl MemoryExportSink {
    /// Every record received so far, as text, in order.
    pub fn lines(&self) -> Vec<String> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect()
    }

    /// From now on, refuse every `put` (`true`) or take them again (`false`).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl ExportSink for MemoryExportSink {
    async fn put(&self, records: &[Vec<u8>]) -> Result<(), ExportError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(ExportError::Failed("the memory export sink was told to fail".into()));
        }
        self.records.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(records);
        Ok(())
    }
}
