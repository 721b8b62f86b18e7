//! Input validation: JSON bodies into typed requests with field-level errors, and the
//! small checks (lengths, time zones, ids) every handler shares.

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode, FieldError, FieldIssue};

/// Maximum request body, enforced before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses a JSON object body into `T`. Malformed JSON is a 400; a body of the wrong shape
/// (wrong types, unknown or missing fields) is a 422 naming the field.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(ErrorCode::BodyTooLarge).with("limit", MAX_BODY_BYTES));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::MalformedJson).with("reason", describe_syntax_error(&e)))?;
    if !value.is_object() {
        return Err(ApiError::validation(vec![FieldError::new("", FieldIssue::InvalidType)]));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        let (field, issue) = if let Some(name) = between(&message, "missing field `", "`") {
            (join(&field, name), FieldIssue::Required)
        } else if message.starts_with("unknown field") {
            // The path already ends with the unknown field's name.
            (field, FieldIssue::UnknownField)
        } else if message.starts_with("unknown variant") {
            (field, FieldIssue::InvalidValue)
        } else {
            (field, FieldIssue::InvalidType)
        };
        let mut fe = FieldError::new(field, issue);
        if issue == FieldIssue::InvalidValue {
            let allowed = message.split("expected ").nth(1).unwrap_or("").replace('`', "");
            let allowed = allowed.strip_prefix("one of ").unwrap_or(&allowed).to_string();
            fe = fe.with("allowed", allowed);
        }
        ApiError::validation(vec![fe])
    })
}

fn describe_syntax_error(e: &serde_json::Error) -> String {
    // Line and column help a developer; the message never echoes the body itself.
    format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()).to_lowercase()
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = s.split_once(start)?.1;
    Some(rest.split_once(end)?.0)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_string() } else { format!("{parent}.{name}") }
}

/// The window every date the API takes or schedules lies in, inclusive: start dates, snooze
/// targets, away ranges, date-time query parameters (agenda, history, list filters), and the
/// due dates the scheduler computes (a chore whose next occurrence would fall later ends).
/// Inputs outside it are a 422; inside it no date arithmetic can overflow.
pub const FIRST_DATE: NaiveDate = date(1970, 1, 1);
pub const LAST_DATE: NaiveDate = date(2200, 12, 31);

const fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) => d,
        None => panic!("a valid date"),
    }
}

/// Whether a date lies in [`FIRST_DATE`]`..=`[`LAST_DATE`].
pub fn in_date_window(d: NaiveDate) -> bool {
    (FIRST_DATE..=LAST_DATE).contains(&d)
}

fn out_of_window(field: &str) -> FieldError {
    FieldError::new(field, FieldIssue::OutOfRange).with("min", FIRST_DATE).with("max", LAST_DATE)
}

/// A date-time query parameter (RFC 3339): unparseable is a 400; outside the date window
/// (its UTC date) a 422 naming the parameter.
pub fn instant_param(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    let t = DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid_parameter(name))?;
    let mut checks = Checks::new();
    checks.instant(name, t);
    checks.finish()?;
    Ok(Some(t))
}

/// Collects field errors so a response reports all of them at once.
#[derive(Default, Debug)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn new() -> Self {
        Checks(Vec::new())
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// A single-line text (names, titles, labels, references): trims `value` in place (what
    /// is stored is the trimmed text), then checks it has `min..=max` characters and no
    /// control characters or line breaks.
    pub fn line(&mut self, field: &str, value: &mut String, min: usize, max: usize) {
        self.text(field, value, min, max, forbidden_in_line);
    }

    /// A multi-line text (descriptions, notes): like [`Checks::line`], but line feeds and tabs
    /// may stay (a `\r\n` becomes `\n`); every other control character is refused.
    pub fn multiline(&mut self, field: &str, value: &mut String, min: usize, max: usize) {
        if value.contains('\r') {
            *value = value.replace("\r\n", "\n");
        }
        self.text(field, value, min, max, |c| c.is_control() && c != '\n' && c != '\t');
    }

    fn text(&mut self, field: &str, value: &mut String, min: usize, max: usize, forbidden: fn(char) -> bool) {
        let trimmed = value.trim();
        if trimmed.len() != value.len() {
            *value = trimmed.to_string();
        }
        let n = value.chars().count();
        if n < min {
            self.push(FieldError::new(field, FieldIssue::TooShort).with("min", min));
        } else if n > max {
            self.push(FieldError::new(field, FieldIssue::TooLong).with("max", max));
        }
        if value.chars().any(forbidden) {
            self.push(FieldError::new(field, FieldIssue::ControlCharacters));
        }
    }

    /// A date in the window ([`FIRST_DATE`]`..=`[`LAST_DATE`]).
    pub fn date(&mut self, field: &str, value: NaiveDate) {
        if !in_date_window(value) {
            self.push(out_of_window(field));
        }
    }

    /// An instant whose UTC date is in the window.
    pub fn instant(&mut self, field: &str, value: DateTime<Utc>) {
        self.date(field, value.date_naive());
    }

    pub fn timezone(&mut self, field: &str, value: &str) {
        if value.parse::<chrono_tz::Tz>().is_err() {
            self.push(FieldError::new(field, FieldIssue::InvalidTimezone));
        }
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.push(FieldError::new(field, FieldIssue::OutOfRange).with("min", min).with("max", max));
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::validation(self.0)) }
    }
}

/// Characters a single-line text may not hold: control characters (C0, DEL, C1, which
/// include tab, CR and LF) and the Unicode line and paragraph separators.
fn forbidden_in_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// A single line made from text we did not get as input (e.g. a token's name claim): the
/// characters [`Checks::line`] refuses are dropped, the rest trimmed.
pub fn clean_line(value: &str) -> String {
    value.chars().filter(|c| !forbidden_in_line(*c)).collect::<String>().trim().to_string()
}

/// Path ids are ULIDs; anything else is a 400 before any lookup happens.
pub fn ulid_param(name: &str, value: Option<&str>) -> Result<String, ApiError> {
    let v = value.ok_or_else(|| ApiError::invalid_parameter(name))?;
    v.parse::<ulid::Ulid>().map(|u| u.to_string()).map_err(|_| ApiError::invalid_parameter(name))
}

/// A Cognito `sub` (UUID) as a path parameter.
pub fn user_id_param(name: &str, value: Option<&str>) -> Result<String, ApiError> {
    let v = value.ok_or_else(|| ApiError::invalid_parameter(name))?;
    let ok = !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(v.to_string()) } else { Err(ApiError::invalid_parameter(name)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        name: String,
        max_uses: Option<u32>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    fn field_of(err: ApiError) -> (u16, String, FieldIssue) {
        (err.status(), err.fields[0].field.clone(), err.fields[0].issue)
    }

    #[test]
    fn malformed_json_is_400() {
        let err = json_body::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn wrong_type_missing_and_unknown_fields_are_named() {
        let e = json_body::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(field_of(e), (422, "name".into(), FieldIssue::InvalidType));
        let e = json_body::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(field_of(e), (422, "name".into(), FieldIssue::Required));
        let e = json_body::<Body>(br#"{"name": "a", "color": 1}"#).unwrap_err();
        assert_eq!(field_of(e), (422, "color".into(), FieldIssue::UnknownField));
        let e = json_body::<Body>(br#"{"name": "a", "inner": {"flag": "yes"}}"#).unwrap_err();
        assert_eq!(field_of(e), (422, "inner.flag".into(), FieldIssue::InvalidType));
        let e = json_body::<Body>(br#"{"name": "a", "maxUses": -1}"#).unwrap_err();
        assert_eq!(field_of(e), (422, "maxUses".into(), FieldIssue::InvalidType));
    }

    #[test]
    fn non_object_and_oversized_bodies_are_refused() {
        assert_eq!(json_body::<Body>(b"[1]").unwrap_err().status(), 422);
        let big = format!("{{\"name\": \"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        assert_eq!(json_body::<Body>(big.as_bytes()).unwrap_err().status(), 413);
    }

    #[test]
    fn checks_collect_every_problem() {
        let mut c = Checks::new();
        c.line("name", &mut "  ".to_string(), 1, 10);
        c.timezone("timezone", "Mars/Olympus");
        c.timezone("ok", "Europe/Berlin");
        c.range("maxUses", 0, 1, 100);
        let err = c.finish().unwrap_err();
        let issues: Vec<_> = err.fields.iter().map(|f| f.issue).collect();
        assert_eq!(issues, vec![FieldIssue::TooShort, FieldIssue::InvalidTimezone, FieldIssue::OutOfRange]);
    }

    #[test]
    fn text_is_trimmed_in_place_and_single_lines_refuse_control_characters() {
        let mut c = Checks::new();
        let mut name = "  Flat 3B \t".to_string();
        c.line("name", &mut name, 1, 10);
        assert_eq!(name, "Flat 3B");
        assert!(c.finish().is_ok());

        // Length counts the trimmed characters: 11 with spaces around, 10 without.
        let mut c = Checks::new();
        let mut exact = format!(" {} ", "é".repeat(10));
        c.line("name", &mut exact, 1, 10);
        assert!(c.finish().is_ok());

        for bad in
            ["\u{13}\u{2026}\u{1d}", "two\nlines", "tab\there", "bell\u{7}", "del\u{7f}", "n\u{85}el", "ls\u{2028}x"]
        {
            let mut c = Checks::new();
            c.line("name", &mut bad.to_string(), 1, 80);
            let err = c.finish().unwrap_err();
            assert_eq!(err.status(), 422);
            assert_eq!(err.fields[0].field, "name", "{bad:?}");
            assert_eq!(err.fields[0].issue, FieldIssue::ControlCharacters, "{bad:?}");
        }

        let mut note = " first line\r\n\tsecond line\n ".to_string();
        let mut c = Checks::new();
        c.multiline("note", &mut note, 0, 500);
        assert!(c.finish().is_ok());
        assert_eq!(note, "first line\n\tsecond line");
        for bad in ["a\rb", "a\u{0}b", "a\u{1b}[31mred"] {
            let mut c = Checks::new();
            c.multiline("note", &mut bad.to_string(), 0, 500);
            assert_eq!(c.finish().unwrap_err().fields[0].issue, FieldIssue::ControlCharacters, "{bad:?}");
        }
        assert_eq!(clean_line(" Ana\u{13}\n Lee "), "Ana Lee");
    }

    #[test]
    fn dates_are_bounded_to_the_window() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let mut c = Checks::new();
        c.date("startDate", d(1970, 1, 1));
        c.date("startDate", d(2200, 12, 31));
        c.instant("until", "2200-12-31T23:59:59Z".parse().unwrap());
        assert!(c.finish().is_ok());
        for bad in [d(1969, 12, 31), d(2201, 1, 1), NaiveDate::MAX, NaiveDate::MIN] {
            let mut c = Checks::new();
            c.date("startDate", bad);
            let err = c.finish().unwrap_err();
            assert_eq!(err.status(), 422);
            assert_eq!((err.fields[0].field.as_str(), err.fields[0].issue), ("startDate", FieldIssue::OutOfRange));
            assert_eq!(err.fields[0].args, [("min", "1970-01-01".to_string()), ("max", "2200-12-31".to_string())]);
        }
        assert_eq!(instant_param("from", None).unwrap(), None);
        assert!(instant_param("from", Some("2026-12-01T00:00:00+01:00")).unwrap().is_some());
        assert_eq!(instant_param("from", Some("tomorrow")).unwrap_err().status(), 400);
        for bad in ["9999-12-31T00:00:00Z", "1969-12-31T23:59:59Z", "2201-01-01T00:00:00Z", "2200-12-31T23:00:00-02:00"]
        {
            let err = instant_param("from", Some(bad)).unwrap_err();
            assert_eq!((err.status(), err.fields[0].field.as_str()), (422, "from"), "{bad}");
        }
    }

    #[test]
    fn ids_are_checked_before_lookup() {
        assert!(ulid_param("householdId", Some("01HZY3J5Y7K6ZK0Q4M2W8R9T1V")).is_ok());
        assert!(ulid_param("householdId", Some("not-an-id")).is_err());
        assert!(ulid_param("householdId", None).is_err());
        assert!(user_id_param("userId", Some("7d3f-aa_1")).is_ok());
        assert!(user_id_param("userId", Some("../etc")).is_err());
    }
}
