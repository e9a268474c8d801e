//! The list's events reach the page in batches: every message to the page costs a script run in
//! WebKit, so 200 files starting at once are one message, not 200, and progress from many
//! transfers arrives at most [`PAUSE`] apart.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Sink, UiEvent};

/// How long events gather before they go to the page (about three frames).
pub const PAUSE: Duration = Duration::from_millis(50);

/// A sink that gathers events, and the loop that passes them to `send` in order, in batches at
/// most [`PAUSE`] apart. The loop ends when the sink is dropped or `send` answers false (the
/// page went away). Events are never merged or dropped while the page listens: the page applies
/// each one.
pub fn batched(
    send: impl Fn(Vec<UiEvent>) -> bool + Send + 'static,
) -> (Sink, impl Future<Output = ()> + Send + 'static) {
    let (sender, mut events) = mpsc::unbounded_channel();
    let sink: Sink = Arc::new(move |event: &UiEvent| {
        // Once the loop has ended no one listens; the next page attaches its own sink.
        let _ = sender.send(event.clone());
    });
    let forward = async move {
        while let Some(first) = events.recv().await {
            tokio::time::sleep(PAUSE).await;
            let mut batch = vec![first];
            while let Ok(event) = events.try_recv() {
                batch.push(event);
            }
            if !send(batch) {
                break;
            }
        }
    };
    (sink, forward)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn cancelled(id: usize) -> UiEvent {
        UiEvent::Cancelled {
            id: format!("t{id}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn events_that_come_together_go_together_in_order() {
        let sent = Arc::new(Mutex::new(Vec::<Vec<UiEvent>>::new()));
        let record = Arc::clone(&sent);
        let (sink, forward) = batched(move |batch| {
            record.lock().unwrap().push(batch);
            true
        });
        let forwarding = tokio::spawn(forward);
        for id in 0..200 {
            sink(&cancelled(id));
        }
        tokio::time::sleep(PAUSE * 2).await;
        sink(&cancelled(200));
        tokio::time::sleep(PAUSE * 2).await;
        drop(sink);
        forwarding.await.unwrap();

        let sent = sent.lock().unwrap();
        let sizes: Vec<usize> = sent.iter().map(Vec::len).collect();
        assert_eq!(sizes, [200, 1]);
        let order: Vec<UiEvent> = sent.iter().flatten().cloned().collect();
        assert_eq!(order, (0..=200).map(cancelled).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_ends_when_the_page_is_gone() {
        let (sink, forward) = batched(|_| false);
        let forwarding = tokio::spawn(forward);
        sink(&cancelled(1));
        tokio::time::timeout(PAUSE * 4, forwarding)
            .await
            .expect("the loop should end once sending fails")
            .unwrap();
        // Events after that are dropped without a panic.
        sink(&cancelled(2));
    }
}
