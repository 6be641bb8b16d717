//! Resident memory of another process (the devstack) over a benchmark, from Linux `/proc`.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::CliError;

/// How often the sampler reads.
const EVERY: Duration = Duration::from_millis(500);
/// How long after the clients left the end is read, so freed memory shows.
const SETTLE: Duration = Duration::from_secs(2);

/// Resident memory in kB: before the run, its highest, and after the clients left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    /// Before the first client connected.
    pub start_kb: u64,
    /// The highest sample.
    pub peak_kb: u64,
    /// After the clients closed and [`SETTLE`] passed.
    pub end_kb: u64,
}

impl Rss {
    /// The start in MB.
    pub fn start_mb(&self) -> f64 {
        self.start_kb as f64 / 1024.0
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
    stop: oneshot::Sender<()>,
    task: JoinHandle<u64>,
}

impl Sampler {
    pub(super) fn start(pid: u32) -> Result<Self, CliError> {
        let start_kb = read_kb(pid)?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = start_kb;
            loop {
                tokio::select! {
                    _ = &mut stopped => return peak,
                    () = tokio::time::sleep(EVERY) => peak = peak.max(read_kb(pid).unwrap_or(0)),
                }
            }
        });
        Ok(Self { pid, start_kb, stop, task })
    }

    pub(super) async fn finish(self) -> Result<Rss, CliError> {
        tokio::time::sleep(SETTLE).await;
        let end_kb = read_kb(self.pid)?;
        let _ = self.stop.send(());
        let peak_kb = self.task.await.unwrap_or(0).max(end_kb);
        Ok(Rss { start_kb: self.start_kb, peak_kb, end_kb })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_this_process() {
        let sampler = Sampler::start(std::process::id()).unwrap();
        let rss = sampler.finish().await.unwrap();
        assert!(rss.start_kb > 0 && rss.peak_kb >= rss.start_kb.min(rss.end_kb), "{rss:?}");
    }

    #[test]
    fn a_missing_process_is_a_clear_error() {
        let e = read_kb(u32::MAX).unwrap_err().to_string();
        assert!(e.contains("--rss-pid"), "{e}");
    }
}
