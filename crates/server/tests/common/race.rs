//! Racing requests: send them all at once and look at the statuses.

use super::{Call, Reply};

/// Sends all calls at once from spawned tasks; replies in call order.
pub async fn race(calls: Vec<Call>) -> Vec<Reply> {
    let tasks: Vec<_> = calls.into_iter().map(|c| tokio::spawn(c.send())).collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("request task"));
    }
    replies
}

/// How many replies have `status`.
pub fn count(replies: &[Reply], status: u16) -> usize {
    replies
        .iter()
        .filter(|r| r.status.as_u16() == status)
        .count()
}

/// The statuses, for failure messages.
pub fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status.as_u16()).collect()
}
