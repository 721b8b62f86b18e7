//! Fires the template's scheduled functions, as EventBridge does in AWS (SAM local fires no
//! schedules, and moto's scheduler never does): each function with a `Schedule` event runs
//! at its rate, and at once whenever the time-travel clock moves, so a developer or a test
//! that moves the clock forward sees what a real run at that time would do.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use shared::lambda::{Job, ScheduledEvent};
use shared::platform::clock::{Clock, rfc3339};
use tokio::sync::watch;

use crate::LocalFunction;

/// The local stack's clock: real time plus an offset a developer moves forward
/// (`POST /_local/clock`). Handlers, the dispatcher and the workers see it; SQS delays and
/// token expiry stay real.
#[derive(Debug)]
pub struct TravelClock {
    /// The offset; its receivers (one per scheduled function) see every move, even one
    /// made while they were running.
    offset: watch::Sender<chrono::Duration>,
}

impl TravelClock {
    pub fn new() -> Arc<TravelClock> {
        Arc::new(TravelClock { offset: watch::Sender::new(chrono::Duration::zero()) })
    }

    /// Moves the clock forward by `by` (never back: the dispatcher's checkpoint and every
    /// stored time assume time goes one way) and wakes the scheduled functions.
    pub fn advance(&self, by: chrono::Duration) -> Result<DateTime<Utc>, String> {
        if by < chrono::Duration::zero() {
            return Err("the clock only moves forward".into());
        }
        self.offset.send_modify(|o| *o += by);
        Ok(self.now())
    }

    pub fn offset(&self) -> chrono::Duration {
        *self.offset.borrow()
    }
}

impl Clock for TravelClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }
}

/// The period of a schedule expression. Only `rate(...)` is supported: a `cron(...)`
/// schedule would need its own local timer, and none is in the template.
pub fn rate(expression: &str) -> Result<Duration, String> {
    let bad = || format!("unsupported schedule expression {expression:?}: use rate(N minute[s]|hour[s]|day[s])");
    let inner = expression.trim().strip_prefix("rate(").and_then(|r| r.strip_suffix(')')).ok_or_else(bad)?;
    let (n, unit) = inner.trim().split_once(' ').ok_or_else(bad)?;
    let n: u64 = n.parse().map_err(|_| bad())?;
    // As EventBridge: a value of 1 takes the singular unit, any other the plural.
    let seconds = match (n, unit) {
        (1, "minute") => 60,
        (1, "hour") => 3600,
        (1, "day") => 86400,
        (2.., "minutes") => 60,
        (2.., "hours") => 3600,
        (2.., "days") => 86400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(n * seconds))
}

/// The event EventBridge hands a scheduled function at `at`.
pub fn scheduled_event(function: &str, at: DateTime<Utc>) -> ScheduledEvent {
    serde_json::from_value(json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": rfc3339(at),
        "region": crate::provision::REGION,
        "resources": [format!("arn:aws:events:{}:000000000000:rule/{function}", crate::provision::REGION)],
        "detail": {}
    }))
    .expect("a scheduled event")
}

/// Runs `job` every `every` and after each move of `travel`, until the task is dropped.
/// Runs never overlap here (in AWS they may; the dispatcher is built for it, and its tests
/// run two at once).
pub async fn run(function: LocalFunction, job: Job, every: Duration, travel: Option<Arc<TravelClock>>) {
    let mut moved = travel.map(|t| t.offset.subscribe());
    loop {
        let event = scheduled_event(job.function, function.app.now());
        match tokio::time::timeout(function.timeout, (job.handler)(function.app.clone(), event)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(job = job.function, error = %e, "scheduled run failed"),
            Err(_) => tracing::error!(job = job.function, timeout = ?function.timeout, "Task timed out"),
        }
        match moved.as_mut() {
            Some(m) => {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = m.changed() => {}
                }
            }
            None => tokio::time::sleep(every).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_eventbridge_writes_them() {
        assert_eq!(rate("rate(1 minute)"), Ok(Duration::from_secs(60)));
        assert_eq!(rate("rate(5 minutes)"), Ok(Duration::from_secs(300)));
        assert_eq!(rate("rate(2 hours)"), Ok(Duration::from_secs(7200)));
        assert_eq!(rate("rate(1 day)"), Ok(Duration::from_secs(86400)));
        assert!(rate("rate(1 minutes)").is_err(), "EventBridge wants the singular for 1");
        assert!(rate("rate(0 minutes)").is_err());
        assert!(rate("cron(0 7 * * ? *)").is_err());
    }

    #[test]
    fn the_travel_clock_moves_forward_only() {
        let c = TravelClock::new();
        let before = c.now();
        c.advance(chrono::Duration::hours(2)).unwrap();
        assert!(c.now() - before >= chrono::Duration::hours(2));
        assert!(c.advance(chrono::Duration::minutes(-1)).is_err());
        assert_eq!(c.offset(), chrono::Duration::hours(2));
    }
}
