//! The one error type of the API, rendered as RFC 9457 `application/problem+json`.
//!
//! Every error code lives in [`ErrorCode`]: its stable string, its HTTP status and (through the
//! catalogues in `shared/locales/`) its localized title and detail.

use serde::Serialize;

use super::i18n::{Catalogue, Locale};

macro_rules! error_codes {
    ($($variant:ident = ($code:literal, $status:literal)),+ $(,)?) => {
        /// Stable error codes. Clients may branch on the string; it never changes meaning.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),+ }
            }
        }
    };
}

error_codes! {
    MalformedJson = ("request.malformed_json", 400),
    InvalidParameter = ("request.invalid_parameter", 400),
    UnsupportedApiVersion = ("request.unsupported_version", 400),
    BodyTooLarge = ("request.body_too_large", 413),
    UnsupportedMediaType = ("request.unsupported_media_type", 415),
    ValidationFailed = ("request.validation_failed", 422),
    InvalidCursor = ("pagination.invalid_cursor", 400),
    Unauthenticated = ("auth.unauthenticated", 401),
    TokenRevoked = ("auth.token_revoked", 401),
    ApiKeyInvalid = ("apikey.invalid", 401),
    ApiKeyRevoked = ("apikey.revoked", 401),
    ApiKeyExpired = ("apikey.expired", 401),
    ApiKeyScopeMissing = ("apikey.scope_missing", 403),
    ApiKeyNotFound = ("apikey.not_found", 404),
    ApiKeyLimit = ("apikey.limit_reached", 409),
    Forbidden = ("auth.forbidden", 403),
    RouteNotFound = ("route.not_found", 404),
    MethodNotAllowed = ("route.method_not_allowed", 405),
    PreconditionRequired = ("precondition.required", 428),
    PreconditionFailed = ("precondition.failed", 412),
    ConcurrentUpdate = ("conflict.concurrent_update", 409),
    HouseholdNotFound = ("household.not_found", 404),
    MemberNotFound = ("member.not_found", 404),
    OwnerMustTransfer = ("member.owner_must_transfer", 409),
    OwnerRoleChange = ("member.owner_role_change", 409),
    AlreadyMember = ("member.already_member", 409),
    MemberLimitReached = ("member.limit_reached", 409),
    InviteNotFound = ("invite.not_found", 404),
    InviteExpired = ("invite.expired", 410),
    InviteRevoked = ("invite.revoked", 410),
    InviteUsedUp = ("invite.used_up", 410),
    InviteLimitReached = ("invite.limit_reached", 409),
    TaskNotFound = ("task.not_found", 404),
    TaskArchived = ("task.archived", 409),
    TaskPaused = ("task.paused", 409),
    TaskFinished = ("task.finished", 409),
    TaskNotAssigned = ("task.not_assigned", 403),
    SubtaskNotFound = ("task.subtask_not_found", 404),
    OccurrenceChanged = ("task.occurrence_changed", 409),
    TooEarly = ("task.too_early", 409),
    IdempotencyKeyReused = ("idempotency.key_reused", 422),
    CompletionNotFound = ("completion.not_found", 404),
    UndoWindowPassed = ("completion.undo_window_passed", 409),
    AlreadyUndone = ("completion.already_undone", 409),
    NotPendingApproval = ("completion.not_pending", 409),
    CompletionDecided = ("completion.decided", 409),
    NotificationNotFound = ("notification.not_found", 404),
    WebhookNotFound = ("webhook.not_found", 404),
    WebhookLimit = ("webhook.limit_reached", 409),
    DeliveryNotFound = ("webhook.delivery_not_found", 404),
    ExportNotFound = ("export.not_found", 404),
    PhotoNotFound = ("photo.not_found", 404),
    OwnsHousehold = ("user.owns_household", 409),
    RateLimited = ("rate.limited", 429),
    // Answered by API Gateway itself (its DEFAULT_5XX response) when a function fails or
    // passes its Timeout; listed here so the code is one of ours.
    GatewayFailure = ("gateway.failure", 502),
    DependencyUnavailable = ("dependency.unavailable", 503),
    Internal = ("internal.error", 500),
}

/// What is wrong with one field of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldIssue {
    Required,
    InvalidType,
    UnknownField,
    TooShort,
    TooLong,
    OutOfRange,
    InvalidTimezone,
    InvalidLocale,
    InvalidValue,
    ControlCharacters,
    NoOccurrence,
    InvalidUrl,
    PrivateAddress,
}

impl FieldIssue {
    pub const ALL: &'static [FieldIssue] = &[
        FieldIssue::Required,
        FieldIssue::InvalidType,
        FieldIssue::UnknownField,
        FieldIssue::TooShort,
        FieldIssue::TooLong,
        FieldIssue::OutOfRange,
        FieldIssue::InvalidTimezone,
        FieldIssue::InvalidLocale,
        FieldIssue::InvalidValue,
        FieldIssue::ControlCharacters,
        FieldIssue::NoOccurrence,
        FieldIssue::InvalidUrl,
        FieldIssue::PrivateAddress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldIssue::Required => "required",
            FieldIssue::InvalidType => "invalid_type",
            FieldIssue::UnknownField => "unknown_field",
            FieldIssue::TooShort => "too_short",
            FieldIssue::TooLong => "too_long",
            FieldIssue::OutOfRange => "out_of_range",
            FieldIssue::InvalidTimezone => "invalid_timezone",
            FieldIssue::InvalidLocale => "invalid_locale",
            FieldIssue::InvalidValue => "invalid_value",
            FieldIssue::ControlCharacters => "control_characters",
            FieldIssue::NoOccurrence => "no_occurrence",
            FieldIssue::InvalidUrl => "invalid_url",
            FieldIssue::PrivateAddress => "private_address",
        }
    }
}

/// One field-level validation error; `field` is a JSON pointer-like dotted path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub issue: FieldIssue,
    /// Values substituted into the localized message, e.g. `max`.
    pub args: Vec<(&'static str, String)>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, issue: FieldIssue) -> Self {
        FieldError { field: field.into(), issue, args: Vec::new() }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }
}

/// An error a handler returns. Rendering adds the localized text and the correlation id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub args: Vec<(&'static str, String)>,
    pub fields: Vec<FieldError>,
    pub retry_after_secs: Option<u32>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError { code, args: Vec::new(), fields: Vec::new(), retry_after_secs: None }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    pub fn validation(fields: Vec<FieldError>) -> Self {
        ApiError { fields, ..ApiError::new(ErrorCode::ValidationFailed) }
    }

    pub fn invalid_parameter(name: &str) -> Self {
        ApiError::new(ErrorCode::InvalidParameter).with("name", name)
    }

    /// A dependency (DynamoDB, SQS) is throttling or unreachable: the client should retry.
    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u32) -> Self {
        ApiError { retry_after_secs: Some(retry_after_secs), ..ApiError::new(ErrorCode::RateLimited) }
    }

    pub fn unavailable() -> Self {
        ApiError { retry_after_secs: Some(2), ..ApiError::new(ErrorCode::DependencyUnavailable) }
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The RFC 9457 body, localized.
    pub fn to_problem(&self, locale: Locale, correlation_id: &str, instance: &str) -> Problem {
        let catalogue = Catalogue::get(locale);
        let (title, detail) = catalogue.error(self.code, &self.args);
        let errors = self
            .fields
            .iter()
            .map(|f| ProblemField {
                field: f.field.clone(),
                code: f.issue.as_str(),
                message: catalogue.field(f.issue, &f.args),
            })
            .collect();
        Problem {
            r#type: format!("https://errors.choregarden.app/{}", self.code.as_str()),
            title,
            status: self.status(),
            detail,
            instance: instance.to_string(),
            code: self.code.as_str(),
            correlation_id: correlation_id.to_string(),
            errors,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code.as_str())
    }
}

impl std::error::Error for ApiError {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub instance: String,
    pub code: &'static str,
    pub correlation_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Serialize)]
pub struct ProblemField {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// Substitutes `{name}` placeholders; unknown placeholders stay visible rather than vanish.
/// Fills `{name}` placeholders in one pass: a value (a chore's title, say) that holds
/// `{…}` itself stays as it is.
pub(crate) fn fill(template: &str, args: &[(&'static str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter().find(|(n, _)| *n == name).map(|(_, v)| (v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_in_one_pass() {
        let args = [("task", "{when} {member}".to_string()), ("when", "today".to_string())];
        assert_eq!(fill("{task} is due {when}; {unknown} {", &args), "{when} {member} is due today; {unknown} {");
    }

    #[test]
    fn codes_are_unique_and_namespaced() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {}", code.as_str());
            assert!(code.as_str().contains('.'), "{} has no namespace", code.as_str());
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn problem_carries_code_status_correlation_and_fields() {
        let err = ApiError::validation(vec![FieldError::new("name", FieldIssue::TooLong).with("max", 80)]);
        let p = err.to_problem(Locale::En, "corr-1", "/v1/households");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["status"], 422);
        assert_eq!(json["code"], "request.validation_failed");
        assert_eq!(json["correlationId"], "corr-1");
        assert_eq!(json["errors"][0]["field"], "name");
        assert_eq!(json["errors"][0]["code"], "too_long");
        assert!(json["errors"][0]["message"].as_str().unwrap().contains("80"));
    }

    #[test]
    fn unavailable_asks_to_retry() {
        let err = ApiError::unavailable();
        assert_eq!(err.status(), 503);
        assert!(err.retry_after_secs.is_some());
    }
}
