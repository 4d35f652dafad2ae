//! A bounded crossbeam channel of capacity one that keeps only the newest value: a
//! send never blocks, and a value still waiting is replaced (dropped) by a newer one.
//! Between the DDS side and the inference worker this means stale scenes are dropped
//! and never queued.

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The sending half; the receiving half is a plain [`Receiver`].
#[derive(Debug)]
pub struct LatestSender<T> {
    tx: Sender<T>,
    /// Our own handle on the queue, to take a stale value out.
    drain: Receiver<T>,
    dropped: Arc<AtomicU64>,
}

/// The receiver has gone (the worker stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the receiving side has gone")]
pub struct Disconnected;

/// A newest-only channel: a send replaces a value not yet received.
pub fn latest<T>() -> (LatestSender<T>, Receiver<T>) {
    let (tx, rx) = bounded(1);
    (
        LatestSender {
            tx,
            drain: rx.clone(),
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

impl<T> LatestSender<T> {
    /// Sends `v`, replacing a value not yet taken. Returns the replaced value.
    /// Never blocks.
    pub fn send(&self, mut v: T) -> Result<Option<T>, Disconnected> {
        let mut replaced = None;
        loop {
            match self.tx.try_send(v) {
                Ok(()) => return Ok(replaced),
                Err(TrySendError::Disconnected(_)) => return Err(Disconnected),
                Err(TrySendError::Full(back)) => {
                    v = back;
                    match self.drain.try_recv() {
                        Ok(old) => {
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                            replaced = Some(old);
                        }
                        // the worker took it in between: just retry
                        Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Disconnected) => return Err(Disconnected),
                    }
                }
            }
        }
    }

    /// How many values were replaced before anyone took them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_the_newest_waits() {
        let (tx, rx) = latest();
        assert_eq!(tx.send(1), Ok(None));
        assert_eq!(tx.send(2), Ok(Some(1)));
        assert_eq!(tx.send(3), Ok(Some(2)));
        assert_eq!(rx.len(), 1);
        assert_eq!(rx.try_recv(), Ok(3));
        assert!(rx.try_recv().is_err());
        assert_eq!(tx.dropped(), 2);
    }

    #[test]
    fn a_slow_worker_sees_fresh_values_and_the_sender_never_blocks() {
        let (tx, rx) = latest::<u32>();
        let worker = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv() {
                got.push(v);
                std::thread::sleep(Duration::from_millis(20));
            }
            got
        });
        let t0 = std::time::Instant::now();
        for i in 0..1000 {
            tx.send(i).expect("worker alive");
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        assert!(
            t0.elapsed() < Duration::from_millis(2000),
            "sending blocked"
        );
        let dropped = tx.dropped();
        drop(tx);
        let got = worker.join().expect("worker");
        assert!(got.len() < 100, "stale work was queued: {}", got.len());
        assert_eq!(
            got.last(),
            Some(&999),
            "the newest value is always processed"
        );
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(dropped as usize + got.len(), 1000);
    }
}
