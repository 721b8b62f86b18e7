//! Webhooks per household (issue 7): where events go, which events, and how each delivery
//! is signed, in the style of the Standard Webhooks spec (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`). Pure.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::notification::EventType;
use crate::platform::error::{ApiError, FieldError, FieldIssue};

/// Webhooks one household may have.
pub const MAX_WEBHOOKS: usize = 10;
/// Attempts per delivery before it is marked failed.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long one attempt may take, connecting included.
pub const ATTEMPT_TIMEOUT_SECONDS: u64 = 5;
/// The ports a production webhook may use.
pub const HTTPS_PORTS: [u16; 2] = [443, 8443];
/// The prefix of a webhook secret, as Standard Webhooks writes them.
pub const SECRET_PREFIX: &str = "whsec_";

/// A webhook as stored and shown (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub webhook_id: String,
    pub household_id: String,
    pub url: String,
    /// The event types it receives.
    pub events: Vec<EventType>,
    pub active: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// What creating or changing a webhook takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// Where webhooks may point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetPolicy {
    /// Production: https, and only public addresses.
    PublicHttps,
    /// The local stack: also http to loopback (a developer's receiver on 127.0.0.1).
    AllowLoopback,
}

/// A URL's parts the guard looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

fn invalid(field: &str, issue: FieldIssue) -> ApiError {
    ApiError::validation(vec![FieldError::new(field, issue)])
}

impl WebhookInput {
    /// The event types, checked: known names, at least one, no repeats.
    pub fn event_types(names: &[String]) -> Result<Vec<EventType>, ApiError> {
        let mut out = Vec::new();
        for name in names {
            let e = EventType::named(name).ok_or_else(|| {
                ApiError::validation(vec![
                    FieldError::new("events", FieldIssue::InvalidValue)
                        .with("allowed", EventType::ALL.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ")),
                ])
            })?;
            if !out.contains(&e) {
                out.push(e);
            }
        }
        if out.is_empty() {
            return Err(invalid("events", FieldIssue::Required));
        }
        Ok(out)
    }
}

/// Checks a URL's form (not yet where it resolves to): absolute, http(s), a host, no user
/// info, at most 2,000 characters; https unless the policy allows loopback.
pub fn check_url(url: &str, policy: TargetPolicy) -> Result<Target, ApiError> {
    let bad = || invalid("url", FieldIssue::InvalidUrl);
    if url.len() > 2000 || url.chars().any(char::is_control) {
        return Err(bad());
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" if policy == TargetPolicy::AllowLoopback => false,
        _ => return Err(bad()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            (h.to_string(), after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        },
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        None if https => 443,
        None => 80,
    };
    // The usual https ports only: the delivery log (refused, timed out, answered) must not
    // turn into a port scanner of other people's hosts.
    if policy == TargetPolicy::PublicHttps && !HTTPS_PORTS.contains(&port) {
        return Err(bad());
    }
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c)) {
        return Err(bad());
    }
    Ok(Target { https, host: host.to_ascii_lowercase(), port })
}

/// Whether a webhook may be delivered to `ip` (the address its host resolved to): never a
/// private, loopback, link-local, shared, documentation, multicast or unspecified address
/// (cloud metadata at 169.254.169.254 included); loopback only where the policy allows it.
pub fn allowed_address(ip: IpAddr, policy: TargetPolicy) -> bool {
    if ip.is_loopback() {
        return policy == TargetPolicy::AllowLoopback;
    }
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space (RFC 6598)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return allowed_address(IpAddr::V4(v4), policy);
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x2002 // 6to4 (may embed a private IPv4)
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || s[..6].iter().all(|x| *x == 0) // IPv4-compatible ::a.b.c.d
                || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64 (may reach private IPv4)
        }
    }
}

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret(random: [u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(random))
}

/// The key bytes of a secret (what follows `whsec_`, base64-decoded).
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256, keyed with the
/// secret's bytes, of `"{id}.{timestamp}.{body}"`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(tag.as_ref()))
}

/// Seconds before attempt `next` (2, 3, ...) after attempt `next - 1` failed: `base`
/// doubled each time, at most SQS's 15-minute delay.
pub fn backoff_seconds(base: u32, next: u32) -> i32 {
    let doubled = u64::from(base) << next.saturating_sub(2).min(16);
    doubled.min(900) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_one_standard_webhooks_documents() {
        // The example of the Standard Webhooks reference libraries (svix): this secret, id,
        // timestamp and payload sign to this value.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn urls_must_be_https_with_a_host_unless_loopback_is_allowed() {
        let ok = check_url("https://hooks.example.com/chores?x=1", TargetPolicy::PublicHttps).unwrap();
        assert_eq!(ok, Target { https: true, host: "hooks.example.com".into(), port: 443 });
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://",
            "https://user:pw@hooks.example.com/",
            "hooks.example.com",
            "https://hooks.example.com:0/",
            "https://hooks.example.com:22/",
            "https://hooks.example.com:99999/",
            "https://hooks example.com/",
        ] {
            assert!(check_url(bad, TargetPolicy::PublicHttps).is_err(), "{bad}");
        }
        let local = check_url("http://127.0.0.1:8080/hook", TargetPolicy::AllowLoopback).unwrap();
        assert_eq!((local.https, local.port), (false, 8080));
        assert_eq!(check_url("https://[::1]:8443/", TargetPolicy::PublicHttps).unwrap().host, "::1");
        assert_eq!(check_url("http://127.0.0.1:3001/", TargetPolicy::AllowLoopback).unwrap().port, 3001);
    }

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_refused() {
        let p = TargetPolicy::PublicHttps;
        for blocked in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "2002:a00:1::1",
            "::10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!allowed_address(blocked.parse().unwrap(), p), "{blocked}");
        }
        for open in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"] {
            assert!(allowed_address(open.parse().unwrap(), p), "{open}");
        }
        assert!(allowed_address("127.0.0.1".parse().unwrap(), TargetPolicy::AllowLoopback));
        assert!(!allowed_address("10.0.0.1".parse().unwrap(), TargetPolicy::AllowLoopback));
    }

    #[test]
    fn retries_back_off_doubling_up_to_fifteen_minutes() {
        assert_eq!((2..=6).map(|n| backoff_seconds(30, n)).collect::<Vec<_>>(), vec![30, 60, 120, 240, 480]);
        assert_eq!(backoff_seconds(30, 12), 900);
        assert_eq!(backoff_seconds(1, 3), 2);
    }

    #[test]
    fn event_filters_take_known_names_once() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            WebhookInput::event_types(&names(&["reminder", "completed", "reminder"])).unwrap(),
            vec![EventType::Reminder, EventType::Completed]
        );
        assert!(WebhookInput::event_types(&names(&["reminders"])).is_err());
        assert!(WebhookInput::event_types(&[]).is_err());
    }
}
