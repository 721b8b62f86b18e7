//! Fixed-window rate limits per user: a counter item per user, action and window, expiring
//! with the window (TTL). One conditional UpdateItem counts and checks at once.

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
    /// Counts one attempt of `user_id` in the current window, atomically: `false` (and
    /// nothing counted) once the window holds `limit` attempts, so parallel requests cannot
    /// all slip under the limit.
    pub async fn rate_take(&self, rate: &RateLimit, user_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let start = rate.window_start(now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::rate_window(rate.action, start))))
            .update_expression("ADD #n :one SET expiresAtEpoch = :expires")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(rate.limit))
            .expression_attribute_values(":expires", n(start + rate.seconds))
            .send()
            .await;
        match result.map_err(super::classify) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
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
