//! The slots of the local backend: at most `max_concurrent` launches run at once; the others wait
//! in arrival order (the semaphore is fair), and each waiting launch knows its place in the queue.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots and the queue of launches waiting for one.
pub struct Slots {
    semaphore: Arc<Semaphore>,
    size: usize,
    waiting: Mutex<Vec<String>>,
}

impl Slots {
    /// `size` slots, all free.
    pub fn new(size: usize) -> Slots {
        Slots {
            semaphore: Arc::new(Semaphore::new(size)),
            size,
            waiting: Mutex::new(Vec::new()),
        }
    }

    /// A free slot, if there is one (never one a waiting launch is owed: the semaphore hands
    /// released slots to waiters first).
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.semaphore.clone().try_acquire_owned().ok()
    }

    /// Puts launch `id` at the end of the queue; returns its position (1 = next).
    pub fn enqueue(&self, id: &str) -> usize {
        let mut waiting = self.waiting();
        waiting.push(id.to_owned());
        waiting.len()
    }

    /// Waits for a slot; `None` only if the semaphore was closed (it never is).
    pub async fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.semaphore.clone().acquire_owned().await.ok()
    }

    /// Removes launch `id` from the queue; returns the launches still waiting with their new
    /// positions.
    pub fn leave(&self, id: &str) -> Vec<(String, usize)> {
        let mut waiting = self.waiting();
        waiting.retain(|w| w != id);
        waiting
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i + 1))
            .collect()
    }

    /// The message of a queued launch at `position`.
    pub fn queued_message(&self, position: usize) -> String {
        queued_message(self.size, position)
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `waiting for one of 2 slots (EXECENV_LOCAL__MAX_CONCURRENT); position 3 in the queue`.
pub fn queued_message(size: usize, position: usize) -> String {
    let slots = if size == 1 {
        "the only slot".to_owned()
    } else {
        format!("one of {size} slots")
    };
    format!("waiting for {slots} (EXECENV_LOCAL__MAX_CONCURRENT); position {position} in the queue")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_keeps_arrival_order_and_renumbers_when_one_leaves() {
        let slots = Slots::new(1);
        let held = slots.try_take();
        assert!(held.is_some());
        assert!(slots.try_take().is_none(), "the only slot is taken");
        assert_eq!(slots.enqueue("a"), 1);
        assert_eq!(slots.enqueue("b"), 2);
        assert_eq!(slots.enqueue("c"), 3);
        assert_eq!(
            slots.leave("a"),
            vec![("b".to_owned(), 1), ("c".to_owned(), 2)]
        );
        assert_eq!(slots.leave("c"), vec![("b".to_owned(), 1)]);
    }

    #[test]
    fn the_queued_message_gives_the_slots_and_the_position() {
        assert_eq!(
            queued_message(2, 3),
            "waiting for one of 2 slots (EXECENV_LOCAL__MAX_CONCURRENT); position 3 in the queue"
        );
        assert_eq!(
            queued_message(1, 1),
            "waiting for the only slot (EXECENV_LOCAL__MAX_CONCURRENT); position 1 in the queue"
        );
    }

    #[tokio::test]
    async fn a_released_slot_goes_to_the_waiting_launch() {
        let slots = Arc::new(Slots::new(1));
        let held = slots.try_take();
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.take().await.is_some() })
        };
        drop(held);
        assert!(waiter.await.expect("join"));
    }
}
