//! Fixed-window rate limits per user: a counter item per user, action and window, expiring
//! with the window (TTL). One GetItem to check, one UpdateItem to count.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, key, keys, n};

/// At most `limit` counted events per user in each window of `seconds`.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub action: &'static str,
    pub limit: u32,
    pub seconds: i64,
}

impl RateLimit {
    fn window_start(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp() - now.timestamp().rem_euclid(self.seconds)
    }

    /// Seconds until the current window ends: the `Retry-After` of a refused call.
    pub fn retry_after(&self, now: DateTime<Utc>) -> u32 {
        (self.window_start(now) + self.seconds - now.timestamp()).clamp(1, i64::from(u32::MAX)) as u32
    }
}

impl Store {
    /// How many events `user_id` has counted in the current window.
    pub async fn rate_count(&self, rate: &RateLimit, user_id: &str, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::rate_window(rate.action, rate.window_start(now)))))
            .projection_expression("#n")
            .expression_attribute_names("#n", "count")
            .send()
            .await
            .map_err(super::classify)?;
        Ok(out.item.and_then(|i| i.get("count")?.as_n().ok()?.parse().ok()).unwrap_or(0))
    }

    /// Counts one event for `user_id` in the current window.
    pub async fn rate_add(&self, rate: &RateLimit, user_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let start = rate.window_start(now);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::rate_window(rate.action, start))))
            .update_expression("ADD #n :one SET expiresAtEpoch = :expires")
            .expression_attribute_names("#n", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(start + rate.seconds))
            .send()
            .await
            .map_err(super::classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn windows_are_fixed_and_retry_after_is_what_is_left_of_one() {
        let rate = RateLimit { action: "x", limit: 10, seconds: 900 };
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 11, 30, h, m, s).unwrap();
        // 10:00:00 starts a window; 10:14:59 is in it, 10:15:00 starts the next.
        assert_eq!(rate.window_start(at(10, 14, 59)), at(10, 0, 0).timestamp());
        assert_eq!(rate.window_start(at(10, 15, 0)), at(10, 15, 0).timestamp());
        assert_eq!(rate.retry_after(at(10, 5, 0)), 600);
        assert_eq!(rate.retry_after(at(10, 14, 59)), 1);
    }
}
