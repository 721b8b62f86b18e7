//! Configuration from the environment, read once per cold start. Every variable is here.

/// Names of the environment variables, shared with template.yaml and the local stack.
pub mod env {
    pub const TABLE_NAME: &str = "TABLE_NAME";
    pub const PURGE_QUEUE_URL: &str = "PURGE_QUEUE_URL";
    pub const NOTIFICATION_QUEUE_URL: &str = "NOTIFICATION_QUEUE_URL";
    pub const MAIL_FROM: &str = "MAIL_FROM";
    pub const MAIL_CONFIGURATION_SET: &str = "MAIL_CONFIGURATION_SET";
    pub const USER_POOL_ID: &str = "USER_POOL_ID";
    pub const WEBHOOK_KEY_ID: &str = "WEBHOOK_KEY_ID";
    pub const WEBHOOK_QUEUE_URL: &str = "WEBHOOK_QUEUE_URL";
    pub const HOUSEHOLD_CHANGES_QUEUE_URL: &str = "HOUSEHOLD_CHANGES_QUEUE_URL";
    pub const EXPORTS_BUCKET: &str = "EXPORTS_BUCKET";
    pub const EXPORT_QUEUE_URL: &str = "EXPORT_QUEUE_URL";
    pub const ERASURE_QUEUE_URL: &str = "ERASURE_QUEUE_URL";
    pub const INTEGRATION_USAGE_PLAN_ID: &str = "INTEGRATION_USAGE_PLAN_ID";
    pub const PHOTOS_BUCKET: &str = "PHOTOS_BUCKET";
    pub const EXPORTS_PER_DAY: &str = "EXPORTS_PER_DAY";
    pub const WEBHOOK_ALLOW_LOOPBACK: &str = "WEBHOOK_ALLOW_LOOPBACK";
    pub const WEBHOOK_RETRY_BASE_SECONDS: &str = "WEBHOOK_RETRY_BASE_SECONDS";
    pub const MAX_MEMBERS: &str = "MAX_MEMBERS_PER_HOUSEHOLD";
    pub const CORS_ALLOW_ORIGIN: &str = "CORS_ALLOW_ORIGIN";
    pub const PURGE_DELAY_SECONDS: &str = "PURGE_DELAY_SECONDS";
    pub const ERASURE_DELAY_SECONDS: &str = "ERASURE_DELAY_SECONDS";
    /// The stack's name: the `Stack` dimension of the metrics (read by `platform::metrics`).
    pub const STACK_NAME: &str = "STACK_NAME";
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The single DynamoDB table.
    pub table_name: String,
    /// Queue of households whose items the purge worker deletes. Empty where unused.
    pub purge_queue_url: String,
    /// Queue of notifications (reminders, events) the notification worker delivers. Empty
    /// where unused.
    pub notification_queue_url: String,
    /// The address email is sent from (at an SES-verified identity). Empty: no email.
    pub mail_from: String,
    /// The SES configuration set whose event destination reports bounces and complaints.
    pub mail_configuration_set: Option<String>,
    /// The Cognito user pool the members' email addresses are read from.
    pub user_pool_id: String,
    /// The KMS key webhook secrets are encrypted with.
    pub webhook_key_id: String,
    /// Queue of webhook deliveries (and their retries).
    pub webhook_queue_url: String,
    /// Queue of household-wide changes (a member left or went away, a new escalation
    /// setting) that the household-changes worker applies to the chores.
    pub household_changes_queue_url: String,
    /// The bucket exports are written to (and downloaded from, by presigned URL).
    pub exports_bucket: String,
    /// Queue of exports the export worker writes.
    pub export_queue_url: String,
    /// The bucket proof photos are uploaded to (presigned PUT) and served from.
    pub photos_bucket: String,
    /// Queue of account erasures the erasure job carries out.
    pub erasure_queue_url: String,
    /// The integration API's usage plan: every household API key's API Gateway key joins it.
    pub integration_usage_plan_id: String,
    /// How many exports a household may start per day (UTC).
    pub exports_per_day: u32,
    /// Webhooks may target http on loopback: the local stack only, never set in template.yaml.
    pub webhook_allow_loopback: bool,
    /// The first retry's delay; each later one doubles (at most 15 minutes).
    pub webhook_retry_base_seconds: u32,
    /// Upper bound that keeps every household-wide operation bounded.
    pub max_members: u32,
    /// `Access-Control-Allow-Origin` returned on every response.
    pub cors_allow_origin: String,
    /// How long a purge message waits before delivery: longer than the write that marks a
    /// household deleted can take, so the worker never sees it still active.
    pub purge_delay_seconds: i32,
    /// How long an erasure job waits before it runs: longer than any request let in before
    /// the erasure, and what it set off, can take (900 s, SQS's most).
    pub erasure_delay_seconds: i32,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let table_name = get(env::TABLE_NAME)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError(format!("{} is not set", env::TABLE_NAME)))?;
        let max_members = match get(env::MAX_MEMBERS) {
            Some(v) => v.parse().map_err(|_| ConfigError(format!("{} must be a number", env::MAX_MEMBERS)))?,
            None => 50,
        };
        let delay = |name: &str, default: i32| match get(name) {
            Some(v) => v
                .parse()
                .ok()
                .filter(|s| (0..=900).contains(s))
                .ok_or_else(|| ConfigError(format!("{name} must be 0..=900"))),
            None => Ok(default),
        };
        Ok(Config {
            purge_delay_seconds: delay(env::PURGE_DELAY_SECONDS, 15)?,
            erasure_delay_seconds: delay(env::ERASURE_DELAY_SECONDS, 900)?,
            table_name,
            purge_queue_url: get(env::PURGE_QUEUE_URL).unwrap_or_default(),
            notification_queue_url: get(env::NOTIFICATION_QUEUE_URL).unwrap_or_default(),
            mail_from: get(env::MAIL_FROM).unwrap_or_default(),
            mail_configuration_set: get(env::MAIL_CONFIGURATION_SET).filter(|s| !s.is_empty()),
            user_pool_id: get(env::USER_POOL_ID).unwrap_or_default(),
            webhook_key_id: get(env::WEBHOOK_KEY_ID).unwrap_or_default(),
            webhook_queue_url: get(env::WEBHOOK_QUEUE_URL).unwrap_or_default(),
            household_changes_queue_url: get(env::HOUSEHOLD_CHANGES_QUEUE_URL).unwrap_or_default(),
            exports_bucket: get(env::EXPORTS_BUCKET).unwrap_or_default(),
            export_queue_url: get(env::EXPORT_QUEUE_URL).unwrap_or_default(),
            erasure_queue_url: get(env::ERASURE_QUEUE_URL).unwrap_or_default(),
            integration_usage_plan_id: get(env::INTEGRATION_USAGE_PLAN_ID).unwrap_or_default(),
            photos_bucket: get(env::PHOTOS_BUCKET).unwrap_or_default(),
            exports_per_day: match get(env::EXPORTS_PER_DAY) {
                Some(v) => v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| ConfigError(format!("{} must be a positive number", env::EXPORTS_PER_DAY)))?,
                None => 10,
            },
            webhook_allow_loopback: get(env::WEBHOOK_ALLOW_LOOPBACK).is_some_and(|v| v == "true"),
            webhook_retry_base_seconds: match get(env::WEBHOOK_RETRY_BASE_SECONDS) {
                Some(v) => v
                    .parse()
                    .ok()
                    .filter(|s| (1..=900).contains(s))
                    .ok_or_else(|| ConfigError(format!("{} must be 1..=900", env::WEBHOOK_RETRY_BASE_SECONDS)))?,
                None => 30,
            },
            max_members,
            cors_allow_origin: get(env::CORS_ALLOW_ORIGIN).unwrap_or_else(|| "*".to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_name_is_required_and_the_rest_defaults() {
        assert!(Config::from_lookup(|_| None).is_err());
        let c = Config::from_lookup(|k| (k == env::TABLE_NAME).then(|| "t".to_string())).unwrap();
        assert_eq!(c.table_name, "t");
        assert_eq!(c.max_members, 50);
        assert_eq!(c.cors_allow_origin, "*");
        let bad = Config::from_lookup(|k| match k {
            env::TABLE_NAME => Some("t".into()),
            env::MAX_MEMBERS => Some("many".into()),
            _ => None,
        });
        assert!(bad.is_err());
    }
}
