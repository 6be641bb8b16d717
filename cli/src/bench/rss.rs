//! Resident memory of another process (the devstack) over a benchmark, from Linux `/proc`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::CliError;

/// How often the sampler reads.
const EVERY: Duration = Duration::from_millis(500);
/// How long after the clients left the end is read, so freed memory shows.
const SETTLE: Duration = Duration::from_secs(2);

/// Resident memory in kB: before the run, once the clients had joined, its highest since, once
/// every delivery arrived, and after the clients left. A devstack that holds steady has "sent"
/// close to "joined": what the clients' connections cost stays, what the messages cost does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    /// Before the first client connected.
    pub start_kb: u64,
    /// When sending began, every client connected and joined.
    pub joined_kb: u64,
    /// The highest sample from sending on.
    pub peak_kb: u64,
    /// When the last delivery arrived (or the run timed out), the clients still connected.
    pub sent_kb: u64,
    /// After the clients closed and [`SETTLE`] passed.
    pub end_kb: u64,
}

impl Rss {
    /// The start in MB.
    pub fn start_mb(&self) -> f64 {
        self.start_kb as f64 / 1024.0
    }
    /// The joined mark in MB.
    pub fn joined_mb(&self) -> f64 {
        self.joined_kb as f64 / 1024.0
    }
    /// The sent mark in MB.
    pub fn sent_mb(&self) -> f64 {
        self.sent_kb as f64 / 1024.0
    }
    /// The peak in MB.
    pub fn peak_mb(&self) -> f64 {
        self.peak_kb as f64 / 1024.0
    }
    /// The end in MB.
    pub fn end_mb(&self) -> f64 {
        self.end_kb as f64 / 1024.0
    }
}

/// `VmRSS` of `pid`, in kB.
fn read_kb(pid: u32) -> Result<u64, CliError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| CliError::Usage(format!("--rss-pid {pid}: cannot read its /proc status: {e}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| CliError::Usage(format!("--rss-pid {pid}: no VmRSS in its /proc status")))
}

/// Samples a process until finished.
#[derive(Debug)]
pub(super) struct Sampler {
    pid: u32,
    start_kb: u64,
    joined_kb: u64,
    sent_kb: u64,
    peak_kb: Arc<AtomicU64>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Sampler {
    pub(super) fn start(pid: u32) -> Result<Self, CliError> {
        let start_kb = read_kb(pid)?;
        let peak_kb = Arc::new(AtomicU64::new(start_kb));
        let (stop, mut stopped) = oneshot::channel();
        let peak = peak_kb.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    () = tokio::time::sleep(EVERY) => {
                        peak.fetch_max(read_kb(pid).unwrap_or(0), Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(Self { pid, start_kb, joined_kb: start_kb, sent_kb: start_kb, peak_kb, stop, task })
    }

    /// Marks the clients joined: the peak counts from here.
    pub(super) fn joined(&mut self) -> Result<(), CliError> {
        self.joined_kb = read_kb(self.pid)?;
        self.peak_kb.store(self.joined_kb, Ordering::Relaxed);
        Ok(())
    }

    /// Marks every delivery in.
    pub(super) fn sent(&mut self) -> Result<(), CliError> {
        self.sent_kb = read_kb(self.pid)?;
        self.peak_kb.fetch_max(self.sent_kb, Ordering::Relaxed);
        Ok(())
    }

    pub(super) async fn finish(self) -> Result<Rss, CliError> {
        tokio::time::sleep(SETTLE).await;
        let end_kb = read_kb(self.pid)?;
        let _ = self.stop.send(());
        let _ = self.task.await;
        let peak_kb = self.peak_kb.load(Ordering::Relaxed).max(end_kb);
        Ok(Rss { start_kb: self.start_kb, joined_kb: self.joined_kb, peak_kb, sent_kb: self.sent_kb, end_kb })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_this_process() {
        let mut sampler = Sampler::start(std::process::id()).unwrap();
        sampler.joined().unwrap();
        let held = vec![1u8; 64 << 20];
        sampler.sent().unwrap();
        let rss = sampler.finish().await.unwrap();
        assert!(rss.start_kb > 0 && rss.joined_kb > 0, "{rss:?}");
        assert!(rss.sent_kb >= rss.joined_kb + 60 * 1024, "64 MB held shows in the sent mark: {rss:?}");
        assert!(rss.peak_kb >= rss.sent_kb.max(rss.end_kb), "{rss:?}");
        drop(std::hint::black_box(held));
    }

    #[test]
    fn a_missing_process_is_a_clear_error() {
        let e = read_kb(u32::MAX).unwrap_err().to_string();
        assert!(e.contains("--rss-pid"), "{e}");
    }
}
