//! Exports (issue 8): what a household's owner or admin (or a member, of their own history)
//! asks to download, and the rows each kind of record becomes. CSV is RFC 4180 with a
//! header row, and safe to open in a spreadsheet: a cell that would start a formula is
//! neutralised.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::household::Member;
use super::task::{Completion, Task};
use crate::platform::clock::rfc3339;
use crate::platform::error::{ApiError, FieldError, FieldIssue};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Json,
}

/// A kind of record an export holds. One CSV file holds one row shape, so a CSV export of
/// several kinds is a zip with one file per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    Completions,
    Tasks,
    Members,
}

impl ExportKind {
    pub const ALL: [ExportKind; 3] = [ExportKind::Completions, ExportKind::Tasks, ExportKind::Members];

    pub fn name(self) -> &'static str {
        match self {
            ExportKind::Completions => "completions",
            ExportKind::Tasks => "tasks",
            ExportKind::Members => "members",
        }
    }

    /// The CSV header row.
    pub fn header(self) -> &'static [&'static str] {
        match self {
            ExportKind::Completions => &[
                "completionId",
                "taskId",
                "taskTitle",
                "kind",
                "userId",
                "recordedBy",
                "due",
                "at",
                "points",
                "approval",
                "durationMinutes",
                "note",
            ],
            ExportKind::Tasks => &[
                "taskId",
                "title",
                "area",
                "labels",
                "priority",
                "effort",
                "dueTime",
                "timezone",
                "assignment",
                "pool",
                "nextDue",
                "state",
                "createdAt",
            ],
            ExportKind::Members => &["userId", "displayName", "role", "joinedAt", "points", "availability"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportState {
    Queued,
    Running,
    Ready,
    Failed,
}

/// `POST …/exports`: a format, what to export (`["completions", …]` or `"all"`), and an
/// optional time range for the history.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportInput {
    pub format: ExportFormat,
    #[serde(default, deserialize_with = "present")]
    pub include: Option<Include>,
    #[serde(default, deserialize_with = "present")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    pub to: Option<DateTime<Utc>>,
}

/// A field that may be left out but, when given, must hold a value: `null` is refused (as
/// the OpenAPI document says), not taken for "left out".
pub fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Include {
    /// `"all"`.
    All(String),
    Kinds(Vec<ExportKind>),
}

impl ExportInput {
    /// The kinds asked for (all by default), in a fixed order, each once; and the checked
    /// time range.
    pub fn kinds(&self) -> Result<Vec<ExportKind>, ApiError> {
        let mut errors = Vec::new();
        let mut kinds = match &self.include {
            None => ExportKind::ALL.to_vec(),
            Some(Include::All(a)) if a == "all" => ExportKind::ALL.to_vec(),
            Some(Include::All(_)) => {
                errors.push(
                    FieldError::new("include", FieldIssue::InvalidValue)
                        .with("allowed", "all, or a list of completions, tasks, members"),
                );
                Vec::new()
            }
            Some(Include::Kinds(k)) if k.is_empty() => {
                errors.push(FieldError::new("include", FieldIssue::OutOfRange).with("min", 1));
                Vec::new()
            }
            Some(Include::Kinds(k)) => k.clone(),
        };
        kinds.sort();
        kinds.dedup();
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            errors.push(FieldError::new("from", FieldIssue::InvalidValue).with("allowed", "not later than to"));
        }
        if errors.is_empty() { Ok(kinds) } else { Err(ApiError::validation(errors)) }
    }
}

/// One export: what was asked, by whom, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub export_id: String,
    /// The household exported; empty for a member's personal (GDPR) export.
    pub household_id: String,
    /// Set for a personal (GDPR portability) export: whose data, across their households.
    #[serde(default)]
    pub user_id: Option<String>,
    pub requested_by: String,
    pub format: ExportFormat,
    pub include: Vec<ExportKind>,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    /// Set when a member exports their own history: only their completions.
    #[serde(default)]
    pub only_user: Option<String>,
    pub state: ExportState,
    /// Rows written, per kind, once ready.
    #[serde(default)]
    pub rows: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the file and this record are removed.
    pub expires_at: DateTime<Utc>,
}

impl Export {
    /// The object's name in the exports bucket: under the household, by id, with the
    /// extension of what it holds.
    pub fn object_key(&self) -> String {
        match &self.user_id {
            Some(user) => format!("users/{user}/exports/{}.{}", self.export_id, self.extension()),
            None => format!("households/{}/exports/{}.{}", self.household_id, self.export_id, self.extension()),
        }
    }

    pub fn extension(&self) -> &'static str {
        match (self.format, self.include.len()) {
            (ExportFormat::Json, _) => "json",
            (ExportFormat::Csv, 1) => "csv",
            (ExportFormat::Csv, _) => "zip",
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self.extension() {
            "json" => "application/json",
            "csv" => "text/csv; charset=utf-8; header=present",
            _ => "application/zip",
        }
    }
}

/// A cell as written to CSV: one that a spreadsheet would read as a formula (it starts
/// with `=`, `+`, `-` or `@`, or a tab or carriage return that some strip first) gets a
/// leading `'`, so it is shown as text (OWASP's advice on CSV injection).
pub fn csv_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => std::borrow::Cow::Owned(format!("'{value}")),
        _ => std::borrow::Cow::Borrowed(value),
    }
}

/// The cells of one record of `kind`, in the header's order, not yet neutralised.
pub trait Row {
    fn cells(&self) -> Vec<String>;
}

fn time(t: DateTime<Utc>) -> String {
    rfc3339(t)
}

fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => o.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

impl Row for Completion {
    fn cells(&self) -> Vec<String> {
        vec![
            self.completion_id.clone(),
            self.task_id.clone(),
            self.task_title.clone(),
            name(&self.kind),
            self.user_id.clone(),
            self.recorded_by.clone(),
            time(self.due),
            time(self.at),
            self.points_now().to_string(),
            self.approval.map(|a| name(&a)).unwrap_or_default(),
            self.duration_minutes.map(|m| m.to_string()).unwrap_or_default(),
            self.note.clone().unwrap_or_default(),
        ]
    }
}

impl Row for Task {
    fn cells(&self) -> Vec<String> {
        vec![
            self.task_id.clone(),
            self.title.clone(),
            self.area.clone().unwrap_or_default(),
            self.labels.join(";"),
            self.priority.to_string(),
            self.effort.to_string(),
            self.due_time.clone(),
            self.timezone.clone(),
            name(&self.assignment),
            self.pool.join(";"),
            self.next_due.map(time).unwrap_or_default(),
            self.state().key().to_lowercase(),
            time(self.created_at),
        ]
    }
}

impl Row for Member {
    fn cells(&self) -> Vec<String> {
        vec![
            self.user_id.clone(),
            self.display_name.clone(),
            name(&self.role),
            time(self.joined_at),
            self.points.to_string(),
            self.availability.to_string(),
        ]
    }
}

/// Writes CSV rows (RFC 4180: CRLF line ends, quoting where needed) into a byte buffer the
/// caller drains as it fills, so memory stays flat however many rows there are.
pub struct CsvRows {
    writer: csv::Writer<Drain>,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

/// The writer's sink: a buffer shared with [`CsvRows::take`] (behind a mutex, so an async
/// worker may hold it across awaits).
struct Drain(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Drain {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CsvRows {
    /// A writer that has written `kind`'s header row.
    pub fn new(kind: ExportKind) -> CsvRows {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Drain(out.clone()));
        writer.write_record(kind.header()).expect("writing to memory");
        CsvRows { writer, out }
    }

    pub fn push(&mut self, row: &dyn Row) {
        let cells = row.cells();
        self.writer.write_record(cells.iter().map(|c| csv_cell(c).into_owned())).expect("writing to memory");
    }

    /// The bytes written so far, taken out of the writer.
    pub fn take(&mut self) -> Vec<u8> {
        self.writer.flush().expect("writing to memory");
        std::mem::take(&mut *self.out.lock().expect("not poisoned"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_would_start_a_formula_are_shown_as_text() {
        for evil in ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tx", "\r=1"] {
            assert!(csv_cell(evil).starts_with('\''), "{evil:?}");
        }
        for fine in ["Water the plants", "1", "", "a=b", "'quoted"] {
            assert_eq!(csv_cell(fine), fine);
        }
    }

    struct Cells(Vec<&'static str>);
    impl Row for Cells {
        fn cells(&self) -> Vec<String> {
            self.0.iter().map(|c| c.to_string()).collect()
        }
    }

    #[test]
    fn csv_is_rfc_4180_and_reads_back_the_same() {
        let mut rows = CsvRows::new(ExportKind::Members);
        let tricky = vec!["u1", "Ana \"the boss\", Jr.", "owner", "line\nbreak", "10", "100"];
        rows.push(&Cells(tricky.clone()));
        rows.push(&Cells(vec!["u2", "=cmd|' /C calc'!A0", "member", "x", "0", "50"]));
        let bytes = [rows.take(), rows.take()].concat();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("userId,displayName,role,joinedAt,points,availability\r\n"), "{text}");
        assert!(text.contains("\"Ana \"\"the boss\"\", Jr.\""), "quotes doubled inside quotes: {text}");
        // Read back by an independent reader: the same cells (the formula shown as text).
        let mut reader = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
        let back: Vec<Vec<String>> =
            reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
        assert_eq!(back[0], tricky);
        assert_eq!(back[1][1], "'=cmd|' /C calc'!A0");
    }

    #[test]
    fn all_is_every_kind_and_a_list_is_checked() {
        let input = |v: serde_json::Value| serde_json::from_value::<ExportInput>(v).unwrap();
        assert_eq!(input(serde_json::json!({ "format": "csv" })).kinds().unwrap(), ExportKind::ALL);
        assert_eq!(input(serde_json::json!({ "format": "csv", "include": "all" })).kinds().unwrap(), ExportKind::ALL);
        let two = input(serde_json::json!({ "format": "json", "include": ["members", "completions", "members"] }));
        assert_eq!(two.kinds().unwrap(), [ExportKind::Completions, ExportKind::Members]);
        assert!(input(serde_json::json!({ "format": "csv", "include": "everything" })).kinds().is_err());
        assert!(input(serde_json::json!({ "format": "csv", "include": [] })).kinds().is_err());
        let reversed =
            input(serde_json::json!({ "format": "csv", "from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z" }));
        assert!(reversed.kinds().is_err());
        assert!(serde_json::from_value::<ExportInput>(serde_json::json!({ "format": "xlsx" })).is_err());
        for null in ["include", "from", "to"] {
            let mut v = serde_json::json!({ "format": "csv" });
            v[null] = serde_json::Value::Null;
            assert!(serde_json::from_value::<ExportInput>(v).is_err(), "{null}: null is not left out");
        }
    }
}
