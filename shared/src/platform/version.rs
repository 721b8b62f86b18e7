//! API versions. The URL carries the major version (`/v1`): a breaking change of the whole
//! API gets a new prefix. Within it, the `Api-Version` request header picks a dated version
//! (`2026-12-01`), so a change one client must opt into does not need a new URL. Every
//! response says which version answered.
//!
//! Routes can be deprecated in the route table ([`Deprecation`]); their responses then carry
//! `Deprecation`, `Sunset` and `Link` headers (RFC 9745, RFC 8594, RFC 8288).

use chrono::{NaiveDate, NaiveTime};

use super::error::{ApiError, ErrorCode};

/// The major version, the URL's prefix.
pub const MAJOR: &str = "v1";

/// The request and response header.
pub const HEADER: &str = "api-version";

/// Every dated version this code serves, oldest first. Add a date here when a handler starts
/// to answer differently for clients that ask for it ([`ApiVersion::at_least`]); drop the
/// oldest only after its sunset.
pub const SERVED: &[&str] = &["2026-12-01"];

/// A dated version this code serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(&'static str);

impl ApiVersion {
    /// What a request without the header gets: the oldest served version, so a client that
    /// never names one keeps the behaviour it was written against until that version's sunset.
    pub fn default_version() -> ApiVersion {
        ApiVersion(SERVED[0])
    }

    /// The newest served version.
    pub fn latest() -> ApiVersion {
        ApiVersion(SERVED[SERVED.len() - 1])
    }

    /// Every served version, oldest first.
    pub fn served() -> impl Iterator<Item = ApiVersion> {
        SERVED.iter().map(|v| ApiVersion(v))
    }

    /// The version a request asks for; 400 `request.unsupported_version` for any other value
    /// than a served one.
    pub fn negotiate(header: Option<&str>) -> Result<ApiVersion, ApiError> {
        let Some(asked) = header.map(str::trim) else {
            return Ok(ApiVersion::default_version());
        };
        SERVED
            .iter()
            .find(|v| **v == asked)
            .map(|v| ApiVersion(v))
            .ok_or_else(|| ApiError::new(ErrorCode::UnsupportedApiVersion).with("supported", SERVED.join(", ")))
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether this version is `date` or later: how a handler answers differently for
    /// clients that asked for a newer version. The dates compare as strings (`YYYY-MM-DD`).
    pub fn at_least(self, date: &str) -> bool {
        self.0 >= date
    }
}

/// A route on its way out: when it was deprecated, when it stops answering, what replaces it
/// and where the migration is explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deprecation {
    /// `YYYY-MM-DD`, UTC midnight.
    pub since: &'static str,
    /// `YYYY-MM-DD`, UTC midnight: after it the route may answer 410 or not at all.
    pub sunset: &'static str,
    /// The route's replacement, a path of this API.
    pub successor: &'static str,
    /// The migration note's file name: its source is `docs/migrations/<note>` in this
    /// repository, published under [`MIGRATION_NOTES_URL`].
    pub note: &'static str,
}

/// Where the migration notes are published (the error types live on the same domain).
pub const MIGRATION_NOTES_URL: &str = "https://docs.choregarden.app/migrations";

impl Deprecation {
    /// The response headers that announce it: `Deprecation: @<epoch seconds>` (RFC 9745),
    /// `Sunset: <HTTP-date>` (RFC 8594), and `Link` to the successor and the migration note.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        let midnight = |date: &str| {
            NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .expect("deprecation dates are YYYY-MM-DD")
                .and_time(NaiveTime::MIN)
                .and_utc()
        };
        [
            ("deprecation", format!("@{}", midnight(self.since).timestamp())),
            ("sunset", midnight(self.sunset).format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
            (
                "link",
                format!(
                    "<{}>; rel=\"successor-version\", <{MIGRATION_NOTES_URL}/{}>; rel=\"deprecation\"; type=\"text/markdown\"",
                    self.successor, self.note
                ),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_the_header_gets_the_oldest_served_version() {
        assert_eq!(ApiVersion::negotiate(None).unwrap().as_str(), SERVED[0]);
    }

    #[test]
    fn every_served_version_is_answered_as_asked() {
        for v in SERVED {
            assert_eq!(ApiVersion::negotiate(Some(v)).unwrap().as_str(), *v);
            assert_eq!(ApiVersion::negotiate(Some(&format!(" {v} "))).unwrap().as_str(), *v);
        }
    }

    #[test]
    fn an_unknown_or_malformed_version_is_a_400_naming_the_served_ones() {
        for asked in ["2020-01-01", "v1", "", "2026-12-1", "latest"] {
            let err = ApiVersion::negotiate(Some(asked)).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnsupportedApiVersion, "{asked}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn served_versions_are_dates_in_ascending_order() {
        for v in SERVED {
            assert!(NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok(), "{v}");
            assert_eq!(v.len(), 10, "{v}: zero-padded, so they compare as strings");
        }
        assert!(SERVED.windows(2).all(|w| w[0] < w[1]), "{SERVED:?}");
    }

    #[test]
    fn at_least_compares_dates() {
        let v = ApiVersion("2026-12-01");
        assert!(v.at_least("2026-12-01"));
        assert!(v.at_least("2026-06-30"));
        assert!(!v.at_least("2027-01-01"));
    }

    #[test]
    fn deprecation_headers_follow_the_rfcs() {
        let d = Deprecation { since: "2026-12-01", sunset: "2027-06-01", successor: "/v1/new", note: "new.md" };
        let h = d.headers();
        // 2026-12-01T00:00:00Z and 2027-06-01 (a Tuesday), computed independently.
        assert_eq!(h[0], ("deprecation", "@1796083200".to_string()));
        assert_eq!(h[1], ("sunset", "Tue, 01 Jun 2027 00:00:00 GMT".to_string()));
        assert_eq!(
            h[2].1,
            "</v1/new>; rel=\"successor-version\", <https://docs.choregarden.app/migrations/new.md>; rel=\"deprecation\"; type=\"text/markdown\""
        );
    }
}
