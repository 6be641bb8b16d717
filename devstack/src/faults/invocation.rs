//! One fanout invocation as a crash fault sees it: a crash ends the whole invocation at once,
//! as a Lambda that dies or times out does, wherever in the handler the fault fires.

use std::future::Future;

use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static CRASH: CancellationToken;
}

/// Runs one invocation; `None` when a crash fault ended it. The future is dropped where it
/// stood, so nothing after the crash point runs (no post, no partial batch response).
pub(crate) async fn run<F: Future>(invocation: F) -> Option<F::Output> {
    let crash = CancellationToken::new();
    let crashed = crash.clone();
    tokio::select! {
        biased;
        () = crashed.cancelled() => None,
        out = CRASH.scope(crash, invocation) => Some(out),
    }
}

/// Whether the caller runs inside an invocation (a crash fault can only fire there).
pub(crate) fn inside() -> bool {
    CRASH.try_with(|_| ()).is_ok()
}

/// Ends the current invocation; never returns inside one. Outside one it returns at once.
pub(crate) async fn crash() {
    if CRASH.try_with(CancellationToken::cancel).is_ok() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_crash_ends_the_invocation_before_what_follows_runs() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = run(async {
            tx.send("before").unwrap();
            crash().await;
            tx.send("after").unwrap();
        })
        .await;
        assert!(out.is_none());
        assert_eq!(rx.recv().await, Some("before"));
        assert!(rx.try_recv().is_err(), "code after the crash point ran");
    }

    #[tokio::test]
    async fn without_a_crash_the_invocation_returns_its_output() {
        assert_eq!(run(async { 7 }).await, Some(7));
        assert!(!inside());
    }
}
