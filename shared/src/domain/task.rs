//! Chores ("tasks"): what they are, when they are due, who does them, and what completing
//! or skipping one occurrence does. Pure: the store persists the results in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::assignment::{self, Assignment, Candidate, Strategy};
use super::household::AwayRange;
use super::recurrence::{self, Anchor, Rule, Schedule};
use super::reminder::{self, ReminderPlan, Repeat};
use crate::platform::error::{ApiError, ErrorCode, FieldError, FieldIssue};
use crate::platform::validate::{Checks, LAST_DATE};

pub const TITLE_MAX: usize = 120;
pub const DESCRIPTION_MAX: usize = 2000;
pub const MAX_LABELS: usize = 10;
pub const MAX_SUBTASKS: usize = 30;
pub const MAX_REMINDERS: usize = crate::domain::reminder::MAX_OFFSETS;
/// Completions remembered on the task for the adaptive interval.
const RECENT_COMPLETIONS: usize = 8;
/// Points for one completion: effort × this.
pub const POINTS_PER_EFFORT: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subtask {
    pub id: u32,
    pub title: String,
    pub done: bool,
}

/// Per-member history of this chore, for the assignment strategies. Bounded by the
/// household's member limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberTally {
    pub assigned: u32,
    pub completed: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    pub household_id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub area: Option<String>,
    /// 1 (highest) – 4.
    pub priority: u8,
    /// 1–5: how much work one occurrence is; points and fair share weigh by it.
    pub effort: u8,
    #[serde(default)]
    pub estimated_minutes: Option<u32>,
    pub recurrence: Rule,
    pub anchor: Anchor,
    #[serde(default)]
    pub adaptive: bool,
    /// Local time of day, `HH:MM`.
    pub due_time: String,
    /// IANA zone; the household's unless set.
    pub timezone: String,
    pub start_date: NaiveDate,
    #[serde(default)]
    pub active_months: Vec<u32>,
    pub assignment: Strategy,
    /// Members who take turns (in this order) or share the chore.
    pub pool: Vec<String>,
    /// Minutes before the due time (0 = at due).
    #[serde(default)]
    pub reminder_offsets: Vec<u32>,
    /// Minutes after the due time: overdue reminders.
    #[serde(default)]
    pub overdue_offsets: Vec<u32>,
    /// Repeat until done, after the last reminder.
    #[serde(default)]
    pub reminder_repeat: Option<Repeat>,
    #[serde(default)]
    pub requires_photo: bool,
    #[serde(default)]
    pub requires_approval: bool,
    #[serde(default)]
    pub subtasks: Vec<Subtask>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub archived: bool,
    /// When the current occurrence is due; `None` once a one-off chore is done.
    pub next_due: Option<DateTime<Utc>>,
    /// Who does the current occurrence.
    pub assignee: Assignment,
    /// For "everyone" chores: who still has to complete the current occurrence.
    #[serde(default)]
    pub pending: Vec<String>,
    /// How many occurrences have been assigned so far (seeds random assignment).
    pub occurrence: u64,
    #[serde(default)]
    pub tallies: BTreeMap<String, MemberTally>,
    #[serde(default)]
    pub recent_completions: Vec<DateTime<Utc>>,
    /// When the occurrence before the current one was due: how early the current one may be
    /// completed counts from it ([`Task::opens_at`]).
    #[serde(default)]
    pub previous_due: Option<DateTime<Utc>>,
    pub created_by: String,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a task stands, for list filters and the index key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Active,
    Paused,
    Archived,
    /// A one-off chore that was completed.
    Finished,
}

impl TaskState {
    pub fn key(self) -> &'static str {
        match self {
            TaskState::Active => "ACTIVE",
            TaskState::Paused => "PAUSED",
            TaskState::Archived => "ARCHIVED",
            TaskState::Finished => "FINISHED",
        }
    }
}

/// The fields a client sets on create; on update every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TaskInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub labels: Option<Vec<String>>,
    pub area: Option<String>,
    pub priority: Option<u8>,
    pub effort: Option<u8>,
    pub estimated_minutes: Option<u32>,
    pub recurrence: Option<Rule>,
    pub anchor: Option<Anchor>,
    pub adaptive: Option<bool>,
    pub due_time: Option<String>,
    pub timezone: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub active_months: Option<Vec<u32>>,
    pub assignment: Option<Strategy>,
    pub pool: Option<Vec<String>>,
    pub reminder_offsets: Option<Vec<u32>>,
    pub overdue_offsets: Option<Vec<u32>>,
    /// `times: 0` removes the repeat.
    pub reminder_repeat: Option<Repeat>,
    pub requires_photo: Option<bool>,
    pub requires_approval: Option<bool>,
    pub subtasks: Option<Vec<String>>,
    pub paused: Option<bool>,
    /// Manual reassignment of the current occurrence (update only).
    pub assign_to: Option<String>,
}

/// A member as assignment sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub user_id: String,
    /// 1–100 (%): the share of household work they can take.
    pub availability: u8,
    pub away: Vec<AwayRange>,
    /// Effort completed per ISO week ([`week_key`]), household-wide.
    pub effort_by_week: BTreeMap<String, u32>,
}

impl RosterEntry {
    /// A member with no history, available full time.
    pub fn new(user_id: &str) -> RosterEntry {
        RosterEntry {
            user_id: user_id.to_string(),
            availability: 100,
            away: Vec::new(),
            effort_by_week: BTreeMap::new(),
        }
    }

    fn away_on(&self, date: NaiveDate) -> bool {
        self.away.iter().any(|r| r.from <= date && date <= r.to)
    }

    /// Effort in the `weeks` ISO weeks that end with the week of `date`.
    fn effort_in(&self, weeks: u32, date: NaiveDate) -> u32 {
        (0..weeks)
            .map(|k| {
                self.effort_by_week.get(&week_key(date - chrono::Duration::weeks(i64::from(k)))).copied().unwrap_or(0)
            })
            .sum()
    }
}

/// The ISO week of a date, `2026-W47`: the bucket fair share counts effort in.
pub fn week_key(date: NaiveDate) -> String {
    let w = date.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// The household facts a task is checked against.
pub struct HouseholdContext<'a> {
    pub household_id: &'a str,
    pub timezone: &'a str,
    /// Every member: pools and fixed assignees must be among them; assignment weighs them.
    pub roster: &'a [RosterEntry],
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

impl TaskInput {
    /// Checks every field; text fields are trimmed in place (stored as checked).
    fn check(&mut self, ctx: &HouseholdContext<'_>, creating: bool, checks: &mut Checks) {
        if creating && self.title.is_none() {
            checks.push(FieldError::new("title", FieldIssue::Required));
        }
        if creating && self.recurrence.is_none() {
            checks.push(FieldError::new("recurrence", FieldIssue::Required));
        }
        if let Some(t) = &mut self.title {
            checks.line("title", t, 1, TITLE_MAX);
        }
        if let Some(d) = &mut self.description {
            checks.multiline("description", d, 0, DESCRIPTION_MAX);
        }
        if let Some(labels) = &mut self.labels {
            checks.range("labels", labels.len() as i64, 0, MAX_LABELS as i64);
            for l in labels {
                checks.line("labels", l, 1, 30);
            }
        }
        if let Some(a) = &mut self.area {
            checks.line("area", a, 1, 60);
        }
        if let Some(p) = self.priority {
            checks.range("priority", p.into(), 1, 4);
        }
        if let Some(e) = self.effort {
            checks.range("effort", e.into(), 1, 5);
        }
        if let Some(m) = self.estimated_minutes {
            checks.range("estimatedMinutes", m.into(), 1, 24 * 60);
        }
        if let Some(r) = &self.recurrence {
            r.check("recurrence", checks);
        }
        if let Some(t) = &self.due_time
            && parse_time(t).is_none()
        {
            checks.push(FieldError::new("dueTime", FieldIssue::InvalidValue).with("allowed", "HH:MM"));
        }
        if let Some(tz) = &self.timezone {
            checks.timezone("timezone", tz);
        }
        if let Some(d) = self.start_date {
            checks.date("startDate", d);
        }
        if let Some(months) = &self.active_months {
            for m in months {
                checks.range("activeMonths", (*m).into(), 1, 12);
            }
        }
        let not_member = |id: &String| !ctx.roster.iter().any(|m| &m.user_id == id);
        if let Some(pool) = &self.pool {
            checks.range("pool", pool.len() as i64, 1, ctx.roster.len().max(1) as i64);
            if pool.iter().any(not_member) {
                checks.push(
                    FieldError::new("pool", FieldIssue::InvalidValue).with("allowed", "members of this household"),
                );
            }
        }
        if let Some(Strategy::Fixed { user_id }) = &self.assignment
            && not_member(user_id)
        {
            checks.push(
                FieldError::new("assignment.userId", FieldIssue::InvalidValue)
                    .with("allowed", "members of this household"),
            );
        }
        if let Some(u) = &self.assign_to
            && not_member(u)
        {
            checks.push(
                FieldError::new("assignTo", FieldIssue::InvalidValue).with("allowed", "members of this household"),
            );
        }
        if let Some(Strategy::FairShare { weeks }) = &self.assignment {
            checks.range("assignment.weeks", (*weeks).into(), 1, 12);
        }
        for (field, offsets, least) in
            [("reminderOffsets", &self.reminder_offsets, 0), ("overdueOffsets", &self.overdue_offsets, 1)]
        {
            if let Some(r) = offsets {
                checks.range(field, r.len() as i64, 0, MAX_REMINDERS as i64);
                for m in r {
                    checks.range(field, (*m).into(), least, reminder::MAX_OFFSET_MINUTES.into());
                }
            }
        }
        if let Some(r) = &self.reminder_repeat {
            checks.range(
                "reminderRepeat.everyMinutes",
                r.every_minutes.into(),
                reminder::MIN_REPEAT_MINUTES.into(),
                24 * 60,
            );
            checks.range("reminderRepeat.times", r.times.into(), 0, reminder::MAX_REPEATS.into());
        }
        if let Some(s) = &mut self.subtasks {
            checks.range("subtasks", s.len() as i64, 0, MAX_SUBTASKS as i64);
            for t in s {
                checks.line("subtasks", t, 1, TITLE_MAX);
            }
        }
    }

    /// A new task, due at its first occurrence after `now` (or on its start date).
    pub fn create(mut self, ctx: &HouseholdContext<'_>, creator: &str, now: DateTime<Utc>) -> Result<Task, ApiError> {
        let mut checks = Checks::new();
        self.check(ctx, true, &mut checks);
        checks.finish()?;
        let timezone = self.timezone.unwrap_or_else(|| ctx.timezone.to_string());
        let tz: Tz = timezone
            .parse()
            .map_err(|_| ApiError::validation(vec![FieldError::new("timezone", FieldIssue::InvalidTimezone)]))?;
        let explicit_start = self.start_date;
        let start_date = explicit_start.unwrap_or_else(|| now.with_timezone(&tz).date_naive());
        let pool = self.pool.unwrap_or_else(|| ctx.roster.iter().map(|m| m.user_id.clone()).collect());
        let mut task = Task {
            task_id: ulid::Ulid::new().to_string(),
            household_id: ctx.household_id.to_string(),
            title: self.title.unwrap_or_default(),
            description: self.description,
            labels: self.labels.unwrap_or_default(),
            area: self.area,
            priority: self.priority.unwrap_or(3),
            effort: self.effort.unwrap_or(2),
            estimated_minutes: self.estimated_minutes,
            recurrence: self.recurrence.unwrap_or(Rule::Once {}),
            anchor: self.anchor.unwrap_or_default(),
            adaptive: self.adaptive.unwrap_or(false),
            due_time: self.due_time.unwrap_or_else(|| "09:00".to_string()),
            timezone,
            start_date,
            active_months: self.active_months.unwrap_or_default(),
            assignment: self.assignment.unwrap_or(Strategy::RoundRobin),
            pool,
            reminder_offsets: self.reminder_offsets.unwrap_or_default(),
            overdue_offsets: self.overdue_offsets.unwrap_or_default(),
            reminder_repeat: self.reminder_repeat.filter(|r| r.times > 0),
            requires_photo: self.requires_photo.unwrap_or(false),
            requires_approval: self.requires_approval.unwrap_or(false),
            subtasks: subtasks(self.subtasks.unwrap_or_default()),
            paused: self.paused.unwrap_or(false),
            archived: false,
            next_due: None,
            assignee: Assignment::Unassigned,
            pending: Vec::new(),
            occurrence: 0,
            tallies: BTreeMap::new(),
            recent_completions: Vec::new(),
            previous_due: None,
            created_by: creator.to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let schedule = task.schedule();
        let after = match explicit_start {
            // An explicit start date is honoured even if it is past (the chore is then overdue).
            Some(d) => schedule.at(d) - chrono::Duration::seconds(1),
            None => now,
        };
        task.next_due = match explicit_start {
            // A one-off chore without a start date: the first day (in season) whose due time
            // is still ahead.
            None if matches!(task.recurrence, Rule::Once {}) => {
                let days = Schedule { rule: Rule::Interval { every: 1, unit: recurrence::Unit::Days }, ..schedule };
                let first = days.first_after(now);
                if let Some(t) = first {
                    task.start_date = t.with_timezone(&tz).date_naive();
                }
                first
            }
            // Otherwise the first occurrence from the start, or still ahead.
            _ => schedule.first_after(after),
        };
        // Never created finished: a rule without an occurrence is refused.
        if task.next_due.is_none() {
            return Err(task.no_occurrence(after, explicit_start.is_some()));
        }
        task.assign_next(None, ctx.roster);
        Ok(task)
    }

    /// Applies an update; a changed rule, time, zone or start reschedules the occurrence.
    pub fn apply(mut self, mut task: Task, ctx: &HouseholdContext<'_>, now: DateTime<Utc>) -> Result<Task, ApiError> {
        let mut checks = Checks::new();
        self.check(ctx, false, &mut checks);
        checks.finish()?;
        let start_given = self.start_date.is_some();
        let reschedule = self.recurrence.is_some()
            || self.anchor.is_some()
            || self.due_time.is_some()
            || self.timezone.is_some()
            || self.start_date.is_some()
            || self.active_months.is_some();
        let reassign = self.assignment.is_some() || self.pool.is_some();
        macro_rules! set {
            ($field:ident) => {
                if let Some(v) = self.$field {
                    task.$field = v;
                }
            };
        }
        if let Some(t) = self.title {
            task.title = t;
        }
        if self.description.is_some() {
            task.description = self.description;
        }
        if self.area.is_some() {
            task.area = self.area;
        }
        if self.estimated_minutes.is_some() {
            task.estimated_minutes = self.estimated_minutes;
        }
        set!(labels);
        set!(priority);
        set!(effort);
        set!(recurrence);
        set!(anchor);
        set!(adaptive);
        set!(due_time);
        set!(timezone);
        set!(start_date);
        set!(active_months);
        set!(assignment);
        set!(pool);
        set!(reminder_offsets);
        set!(overdue_offsets);
        if let Some(r) = self.reminder_repeat {
            task.reminder_repeat = (r.times > 0).then_some(r);
        }
        set!(requires_photo);
        set!(requires_approval);
        set!(paused);
        if let Some(s) = self.subtasks {
            task.subtasks = subtasks(s);
        }
        if reschedule && !task.archived {
            let schedule = task.schedule();
            let from_start = schedule.at(task.start_date) - chrono::Duration::seconds(1);
            // A one-off chore is due on its start date (overdue if that has passed); a
            // recurring one at its first occurrence still ahead, and after the one last
            // completed or skipped (an edit does not bring a done occurrence back). A finished
            // chore stays finished unless the change gives it an occurrence ahead.
            let after = if matches!(task.recurrence, Rule::Once {}) && task.next_due.is_some() {
                from_start
            } else {
                from_start.max(now).max(task.previous_due.unwrap_or(from_start))
            };
            let next = schedule.first_after(after);
            if next.is_none() && task.next_due.is_some() {
                return Err(task.no_occurrence(after, start_given));
            }
            task.next_due = next;
        }
        if reassign {
            task.pending.clear();
            task.assign_next(None, ctx.roster);
        }
        if let Some(user_id) = self.assign_to {
            task.tallies.entry(user_id.clone()).or_default().assigned += 1;
            task.assignee = Assignment::Member { user_id };
            task.pending.clear();
        }
        task.version += 1;
        task.updated_at = now;
        Ok(task)
    }
}

fn subtasks(titles: Vec<String>) -> Vec<Subtask> {
    titles.into_iter().enumerate().map(|(i, title)| Subtask { id: i as u32 + 1, title, done: false }).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompletionKind {
    Completed,
    Skipped,
}

/// For chores that require approval: where a completion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    Pending,
    Approved,
    Rejected,
}

/// One completed or skipped occurrence: the household's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub completion_id: String,
    pub household_id: String,
    pub task_id: String,
    pub task_title: String,
    pub kind: CompletionKind,
    /// Who gets the credit.
    pub user_id: String,
    /// Who recorded it (an admin completing "as" someone on a shared tablet).
    pub recorded_by: String,
    pub due: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub points: u32,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub duration_minutes: Option<u32>,
    /// A reference to the proof photo (the upload itself comes with the photos feature).
    #[serde(default)]
    pub photo: Option<String>,
    /// Set for chores that require approval: points are awarded only once approved.
    #[serde(default)]
    pub approval: Option<Approval>,
}

impl Completion {
    /// The points the member gets now: none while an approval is pending.
    pub fn points_now(&self) -> u32 {
        match self.approval {
            None | Some(Approval::Approved) => self.points,
            Some(Approval::Pending) | Some(Approval::Rejected) => 0,
        }
    }

    /// Completion ids carry their time (a ULID made from it), so the id finds the record.
    pub fn new_id(at: DateTime<Utc>) -> String {
        ulid::Ulid::from_datetime(at.into()).to_string()
    }

    /// Whether it can still be undone at `now`.
    pub fn undoable(&self, now: DateTime<Utc>) -> Result<(), ApiError> {
        if now - self.at > chrono::Duration::minutes(UNDO_WINDOW_MINUTES) {
            Err(ApiError::new(ErrorCode::UndoWindowPassed).with("minutes", UNDO_WINDOW_MINUTES))
        } else {
            Ok(())
        }
    }
}

/// How long a completion or skip can be undone.
pub const UNDO_WINDOW_MINUTES: i64 = 60;
/// How far past its due time (or now, if that is later) an occurrence can be snoozed.
pub const MAX_SNOOZE_DAYS: i64 = 30;
/// The most an occurrence can be completed before it is due (see [`Task::opens_at`]).
pub const MAX_EARLY_DAYS: i64 = 7;

/// What completing (or skipping) the current occurrence produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    pub task: Task,
    /// Points awarded to the completer (0 for a skip, or while others still have to do it).
    pub points: u32,
    /// The occurrence that was due (the completion is filed under it).
    pub due: DateTime<Utc>,
    /// Whether the occurrence moved on (always, except for an "everyone" chore with members
    /// still pending).
    pub advanced: bool,
}

impl Task {
    pub fn state(&self) -> TaskState {
        if self.archived {
            TaskState::Archived
        } else if self.next_due.is_none() {
            TaskState::Finished
        } else if self.paused {
            TaskState::Paused
        } else {
            TaskState::Active
        }
    }

    /// The chore's reminders, with the household's escalation setting.
    pub fn reminder_plan(&self, escalate_after: Option<u32>) -> ReminderPlan {
        ReminderPlan {
            before: self.reminder_offsets.clone(),
            after: self.overdue_offsets.clone(),
            repeat: self.reminder_repeat,
            escalate_after,
        }
    }

    /// The first reminder of the current occurrence still ahead of `now`: what the chore's
    /// pending reminder item holds; none while paused, archived or finished.
    pub fn next_reminder(&self, escalate_after: Option<u32>, now: DateTime<Utc>) -> Option<reminder::Step> {
        let due = self.next_due.filter(|_| self.state() == TaskState::Active)?;
        self.reminder_plan(escalate_after).first_after(due, now)
    }

    pub fn schedule(&self) -> Schedule {
        Schedule {
            rule: self.recurrence.clone(),
            anchor: self.anchor,
            start: self.start_date,
            time_of_day: parse_time(&self.due_time).unwrap_or(NaiveTime::MIN),
            timezone: self.timezone.parse().unwrap_or(Tz::UTC),
            active_months: self.active_months.clone(),
        }
    }

    /// The 422 for a rule that has no occurrence after `after`, naming what to change: the
    /// season when it excludes every occurrence, else the start date (when given) or the rule.
    fn no_occurrence(&self, after: DateTime<Utc>, start_given: bool) -> ApiError {
        let all_year = Schedule { active_months: Vec::new(), ..self.schedule() };
        let field = if !self.active_months.is_empty() && all_year.first_after(after).is_some() {
            "activeMonths"
        } else if start_given {
            "startDate"
        } else {
            "recurrence"
        };
        ApiError::validation(vec![FieldError::new(field, FieldIssue::NoOccurrence).with("max", LAST_DATE)])
    }

    /// The people the current occurrence is for: its one assignee, the `anyone` pool, the
    /// `everyone` members who have not done it yet, or (unassigned) the whole pool.
    pub fn assigned_to(&self) -> Vec<&str> {
        match &self.assignee {
            Assignment::Member { user_id } => vec![user_id.as_str()],
            Assignment::Anyone { user_ids } => user_ids.iter().map(String::as_str).collect(),
            Assignment::Everyone { .. } => self.pending.iter().map(String::as_str).collect(),
            Assignment::Unassigned => self.pool.iter().map(String::as_str).collect(),
        }
    }

    /// Whether `user_id` is one of the people the current occurrence is for.
    pub fn is_assigned_to(&self, user_id: &str) -> bool {
        self.assigned_to().contains(&user_id)
    }

    fn seed(&self) -> u64 {
        self.task_id.parse::<ulid::Ulid>().map(|u| u.0 as u64).unwrap_or(0)
    }

    /// Assigns the current occurrence by the task's strategy: members away on its due date
    /// are skipped; fair share weighs each member's household-wide effort over the window.
    fn assign_next(&mut self, current: Option<String>, roster: &[RosterEntry]) {
        let date = self.next_due.map(|d| d.with_timezone(&self.schedule().timezone).date_naive());
        let weeks = match self.assignment {
            Strategy::FairShare { weeks } => weeks,
            _ => 0,
        };
        let candidates: Vec<Candidate> = self
            .pool
            .iter()
            .map(|u| {
                let t = self.tallies.get(u).cloned().unwrap_or_default();
                let entry = roster.iter().find(|m| &m.user_id == u);
                Candidate {
                    user_id: u.clone(),
                    assigned: t.assigned,
                    completed: t.completed,
                    effort_load: match (entry, date) {
                        (Some(e), Some(d)) => e.effort_in(weeks, d),
                        _ => 0,
                    },
                    availability: entry.map(|e| e.availability).unwrap_or(100),
                    // Someone who left the household is never picked.
                    away: match (entry, date) {
                        (None, _) => true,
                        (Some(e), Some(d)) => e.away_on(d),
                        (Some(_), None) => false,
                    },
                }
            })
            .collect();
        self.assignee =
            assignment::assign(&self.assignment, &candidates, current.as_deref(), self.seed(), self.occurrence);
        match &self.assignee {
            Assignment::Member { user_id } => self.tallies.entry(user_id.clone()).or_default().assigned += 1,
            Assignment::Everyone { user_ids } => self.pending = user_ids.clone(),
            _ => {}
        }
        self.occurrence += 1;
    }

    fn check_open(&self) -> Result<DateTime<Utc>, ApiError> {
        if self.archived {
            return Err(ApiError::new(ErrorCode::TaskArchived));
        }
        if self.paused {
            return Err(ApiError::new(ErrorCode::TaskPaused));
        }
        self.next_due.ok_or_else(|| ApiError::new(ErrorCode::TaskFinished))
    }

    /// When the current occurrence may first be completed: half-way from the previous
    /// occurrence to it, and at most [`MAX_EARLY_DAYS`] before it is due. A daily chore opens
    /// 12 hours early, a weekly one 3½ days, a monthly or yearly one 7 days. For a chore's
    /// first occurrence the spacing to the one after it stands in for the previous. `None`
    /// (any time) for a one-off chore, or the last occurrence in the date window: nothing
    /// follows them, so nothing can be collected ahead of time.
    ///
    /// So a member cannot collect points by completing future occurrences one after another:
    /// after an early completion the next occurrence opens only half-way to it. Catching up
    /// still works: an overdue occurrence is open, and so is the next one once it is overdue
    /// or within its own window.
    pub fn opens_at(&self) -> Option<DateTime<Utc>> {
        let due = self.next_due?;
        let gap = match self.previous_due.filter(|p| *p < due) {
            Some(previous) => due - previous,
            None => self.schedule().next_due(due, due)? - due,
        };
        Some(due - (gap / 2).min(chrono::Duration::days(MAX_EARLY_DAYS)))
    }

    /// `by` completes the current occurrence at `at`: points, tallies, the next due date
    /// and assignee. The caller has checked that `by` may do it. Refused before the
    /// occurrence opens ([`Task::opens_at`]), and for an "everyone" chore by a member who
    /// has already done their part.
    pub fn complete(mut self, by: &str, at: DateTime<Utc>, roster: &[RosterEntry]) -> Result<Advance, ApiError> {
        let due = self.check_open()?;
        if let Some(opens) = self.opens_at()
            && at < opens
        {
            return Err(ApiError::new(ErrorCode::TooEarly)
                .with("opensAt", opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        }
        if matches!(self.assignee, Assignment::Everyone { .. }) && !self.pending.iter().any(|u| u == by) {
            return Err(ApiError::new(ErrorCode::TaskNotAssigned));
        }
        // Only the latest due occurrence pays: one missed so long that its successor is due
        // too is caught up on (history, rotation) for nothing, so a back-dated or
        // long-forgotten chore cannot be farmed one completion after another.
        let caught_up = self.schedule().next_due(due, at).is_some_and(|next| next <= at);
        let points = if caught_up { 0 } else { u32::from(self.effort) * POINTS_PER_EFFORT };
        self.tallies.entry(by.to_string()).or_default().completed += 1;
        self.recent_completions.push(at);
        let excess = self.recent_completions.len().saturating_sub(RECENT_COMPLETIONS);
        self.recent_completions.drain(..excess);
        if matches!(self.assignee, Assignment::Everyone { .. }) {
            self.pending.retain(|u| u != by);
            if !self.pending.is_empty() {
                self.version += 1;
                self.updated_at = at;
                return Ok(Advance { task: self, points, due, advanced: false });
            }
        }
        // Assign the next occurrence knowing about this completion's effort too.
        let mut roster = roster.to_vec();
        if !self.requires_approval
            && let Some(entry) = roster.iter_mut().find(|m| m.user_id == by)
        {
            let week = week_key(at.with_timezone(&self.schedule().timezone).date_naive());
            *entry.effort_by_week.entry(week).or_default() += u32::from(self.effort);
        }
        self.advance(due, at, &roster);
        Ok(Advance { task: self, points, due, advanced: true })
    }

    /// The occurrences due in `[from, to)` (at most `limit`) with who would do each, assuming
    /// every occurrence is done on time by its assignee: a forecast for calendars.
    pub fn forecast(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
        roster: &[RosterEntry],
    ) -> Vec<(DateTime<Utc>, Assignment)> {
        let mut out = Vec::new();
        let mut task = self.clone();
        // Jump to the range first, so the work depends on the range, not on how long the
        // chore has been overdue (or how far ahead the range starts): the first occurrence
        // the rule has in the range, with the current assignee. Bounded after that: a chore
        // due every hour over 62 days is under 1,500 steps.
        if let Some(due) = task.next_due
            && due < from
            && !matches!(task.recurrence, Rule::Once {})
        {
            task.next_due = task.schedule().first_after(from - chrono::Duration::milliseconds(1));
        }
        for _ in 0..2000 {
            let Some(due) = task.next_due.filter(|d| *d < to) else { break };
            if task.archived || task.paused || out.len() >= limit {
                break;
            }
            if due >= from {
                out.push((due, task.assignee.clone()));
            }
            let next = match &task.assignee {
                Assignment::Member { user_id } => task.clone().complete(&user_id.clone(), due, roster),
                _ => task.clone().skip(due, roster),
            };
            match next {
                Ok(a) if a.task.next_due.is_some_and(|n| n > due) => task = a.task,
                _ => break,
            }
        }
        out
    }

    /// Ticks (or unticks) one checklist item of the current occurrence.
    pub fn set_subtask(mut self, subtask_id: u32, done: bool, now: DateTime<Utc>) -> Result<Task, ApiError> {
        self.check_open()?;
        let item = self
            .subtasks
            .iter_mut()
            .find(|s| s.id == subtask_id)
            .ok_or_else(|| ApiError::new(ErrorCode::SubtaskNotFound))?;
        item.done = done;
        self.version += 1;
        self.updated_at = now;
        Ok(self)
    }

    /// Postpones the current occurrence to `until`: later than its due time (or now, if it
    /// is overdue), at most [`MAX_SNOOZE_DAYS`] past that, in the date window. Never earlier:
    /// an occurrence moved ahead of its due time would come round again once completed.
    pub fn snooze(mut self, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<Task, ApiError> {
        let due = self.check_open()?;
        let mut checks = Checks::new();
        checks.instant("until", until);
        checks.finish()?;
        let from = due.max(now);
        if until <= from || until > from + chrono::Duration::days(MAX_SNOOZE_DAYS) {
            return Err(ApiError::validation(vec![
                FieldError::new("until", FieldIssue::OutOfRange)
                    .with("min", "the due time (or now, if later)")
                    .with("max", format!("{MAX_SNOOZE_DAYS} days after it")),
            ]));
        }
        self.next_due = Some(until);
        self.version += 1;
        self.updated_at = now;
        Ok(self)
    }

    /// Skips the current occurrence: it moves on without points.
    pub fn skip(mut self, at: DateTime<Utc>, roster: &[RosterEntry]) -> Result<Advance, ApiError> {
        let due = self.check_open()?;
        self.advance(due, at, roster);
        Ok(Advance { task: self, points: 0, due, advanced: true })
    }

    /// The chore once `user_id` has left the household (`roster`: the members who remain;
    /// `fallback`: who takes a chore nobody else is in, the owner). They leave its pool, and
    /// a chore fixed on them goes round the rest of it. An occurrence that was theirs alone
    /// is assigned anew by the strategy, as if they were away; one they shared keeps the
    /// others; an "everyone" occurrence that only they still had to do moves on (without
    /// points: nobody did it). A pool they were alone in becomes the fallback's, so the chore
    /// is never left to nobody. Tallies stay (history). `None`: nothing of it was theirs.
    pub fn without_member(
        mut self,
        user_id: &str,
        roster: &[RosterEntry],
        fallback: &str,
        now: DateTime<Utc>,
    ) -> Option<Task> {
        let fixed_on_them = matches!(&self.assignment, Strategy::Fixed { user_id: u } if u == user_id);
        let theirs = |u: &String| u == user_id;
        if !fixed_on_them && !self.pool.iter().any(theirs) && !self.assignee.includes(user_id) {
            return None;
        }
        if fixed_on_them {
            self.assignment = Strategy::RoundRobin;
        }
        let remaining: Vec<RosterEntry> = roster.iter().filter(|m| m.user_id != user_id).cloned().collect();
        let mut advanced = false;
        if self.next_due.is_some() && !self.archived {
            match &mut self.assignee {
                // Reassigned while they are still in the pool: a rotation goes on after them.
                Assignment::Member { user_id: u } if u == user_id => {
                    let current = Some(u.clone());
                    self.assign_next(current, &remaining);
                }
                Assignment::Anyone { user_ids } => {
                    user_ids.retain(|u| u != user_id);
                    if user_ids.is_empty() {
                        self.assign_next(None, &remaining);
                    }
                }
                Assignment::Everyone { user_ids } => {
                    user_ids.retain(|u| u != user_id);
                    let was_pending = self.pending.iter().any(theirs);
                    self.pending.retain(|u| u != user_id);
                    if was_pending && self.pending.is_empty() {
                        let due = self.next_due.expect("checked above");
                        self.pool.retain(|u| u != user_id);
                        self.advance(due, now, &remaining);
                        advanced = true;
                    }
                }
                _ => {}
            }
        }
        self.pool.retain(|u| u != user_id);
        if self.pool.is_empty() {
            self.pool.push(fallback.to_string());
            let nobodys = match &self.assignee {
                Assignment::Unassigned => true,
                Assignment::Anyone { user_ids } | Assignment::Everyone { user_ids } => user_ids.is_empty(),
                Assignment::Member { .. } => false,
            };
            if self.next_due.is_some() && !self.archived && nobodys {
                self.assign_next(None, &remaining);
            }
        }
        if !advanced {
            self.version += 1;
            self.updated_at = now;
        }
        Some(self)
    }

    /// The current occurrence taken off `user_id` while they are away on its due date
    /// (`roster` holds their away dates): assigned anew by the strategy, or, when they share
    /// it with others ("anyone"), left to the others. A chore fixed on them stays theirs
    /// (they chose that), and so does one nobody else can take. `None`: nothing changed.
    pub fn cover_absence(mut self, user_id: &str, roster: &[RosterEntry], now: DateTime<Utc>) -> Option<Task> {
        if self.state() != TaskState::Active || matches!(self.assignment, Strategy::Fixed { .. }) {
            return None;
        }
        let due_date = self.next_due?.with_timezone(&self.schedule().timezone).date_naive();
        if !roster.iter().any(|m| m.user_id == user_id && m.away_on(due_date)) {
            return None;
        }
        match &mut self.assignee {
            Assignment::Member { user_id: u } if u == user_id => {
                self.assign_next(Some(user_id.to_string()), roster);
                if matches!(self.assignee, Assignment::Unassigned) {
                    return None;
                }
            }
            Assignment::Anyone { user_ids } if user_ids.len() > 1 && user_ids.iter().any(|u| u == user_id) => {
                user_ids.retain(|u| u != user_id);
            }
            _ => return None,
        }
        self.version += 1;
        self.updated_at = now;
        Some(self)
    }

    fn advance(&mut self, due: DateTime<Utc>, at: DateTime<Utc>, roster: &[RosterEntry]) {
        let schedule = self.schedule();
        self.previous_due = Some(due);
        self.next_due = match (self.adaptive, recurrence::adaptive_interval(&self.recent_completions)) {
            (true, Some(interval)) => schedule.adaptive_next(due, at, interval),
            _ => schedule.next_due(due, at),
        };
        self.subtasks.iter_mut().for_each(|s| s.done = false);
        self.pending.clear();
        let current = match &self.assignee {
            Assignment::Member { user_id } => Some(user_id.clone()),
            _ => None,
        };
        if self.next_due.is_some() {
            self.assign_next(current, roster);
        }
        self.version += 1;
        self.updated_at = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ctx(roster: &[RosterEntry]) -> HouseholdContext<'_> {
        HouseholdContext { household_id: "01JD3N7Y2K5V8T4R6W9Q1M0ZXB", timezone: "Europe/Berlin", roster }
    }

    fn members() -> Vec<RosterEntry> {
        ["ana", "ben", "cy"].into_iter().map(RosterEntry::new).collect()
    }

    fn daily() -> TaskInput {
        TaskInput {
            title: Some("Dishes".into()),
            recurrence: Some(Rule::Interval { every: 1, unit: recurrence::Unit::Days }),
            due_time: Some("08:00".into()),
            effort: Some(3),
            ..Default::default()
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_new_task_is_due_at_its_next_occurrence_and_assigned() {
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        // 12:00 UTC is 13:00 in Berlin: today's 08:00 has passed, so tomorrow.
        assert_eq!(t.next_due, Some(Utc.with_ymd_and_hms(2026, 11, 3, 7, 0, 0).unwrap()));
        assert_eq!(t.assignee, Assignment::Member { user_id: "ana".into() });
        assert_eq!(t.pool, ["ana", "ben", "cy"]);
        assert_eq!(t.state(), TaskState::Active);
    }

    #[test]
    fn bad_input_names_every_field() {
        let m = members();
        let input = TaskInput {
            title: Some("".into()),
            recurrence: Some(Rule::MonthlyByDay { every: 0, days: vec![32] }),
            due_time: Some("25:99".into()),
            timezone: Some("Nowhere/City".into()),
            pool: Some(vec!["stranger".into()]),
            priority: Some(9),
            ..Default::default()
        };
        let err = input.create(&ctx(&m), "ana", now()).unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
        for f in ["title", "priority", "recurrence.every", "recurrence.days", "dueTime", "timezone", "pool"] {
            assert!(fields.contains(&f), "{f} missing in {fields:?}");
        }
        let missing = TaskInput::default().create(&ctx(&m), "ana", now()).unwrap_err();
        assert_eq!(missing.fields.len(), 2);
    }

    #[test]
    fn text_fields_are_stored_trimmed_and_single_lines_refuse_control_characters() {
        let m = members();
        let mut input = daily();
        input.title = Some("  Dishes \t".into());
        input.description = Some("\n Plates first,\r\n\tthen pans. ".into());
        input.labels = Some(vec![" kitchen ".into()]);
        input.area = Some(" Kitchen".into());
        input.subtasks = Some(vec![" Plates ".into()]);
        let t = input.create(&ctx(&m), "ana", now()).unwrap();
        assert_eq!(t.title, "Dishes");
        assert_eq!(t.description.as_deref(), Some("Plates first,\n\tthen pans."));
        assert_eq!(t.labels, ["kitchen"]);
        assert_eq!(t.area.as_deref(), Some("Kitchen"));
        assert_eq!(t.subtasks[0].title, "Plates");

        let bad = TaskInput {
            title: Some("\u{13}\u{2026}\u{1d}".into()),
            description: Some("ok\u{7}".into()),
            labels: Some(vec!["a\nb".into()]),
            area: Some("x\ty".into()),
            subtasks: Some(vec!["\u{0}".into()]),
            ..daily()
        };
        let err = bad.create(&ctx(&m), "ana", now()).unwrap_err();
        let fields: Vec<_> =
            err.fields.iter().filter(|f| f.issue == FieldIssue::ControlCharacters).map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["title", "description", "labels", "area", "subtasks"]);

        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        let renamed = TaskInput { title: Some(" Dishes & pans ".into()), ..Default::default() }
            .apply(t.clone(), &ctx(&m), now())
            .unwrap();
        assert_eq!(renamed.title, "Dishes & pans");
        let err =
            TaskInput { title: Some("Dish\res".into()), ..Default::default() }.apply(t, &ctx(&m), now()).unwrap_err();
        assert_eq!(err.fields[0].issue, FieldIssue::ControlCharacters);
    }

    #[test]
    fn start_dates_and_snooze_targets_lie_in_the_date_window() {
        let m = members();
        for bad in [
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(2201, 1, 1).unwrap(),
            NaiveDate::MAX,
        ] {
            let input = TaskInput { start_date: Some(bad), ..daily() };
            let err = input.create(&ctx(&m), "ana", now()).unwrap_err();
            assert_eq!((err.fields[0].field.as_str(), err.fields[0].issue), ("startDate", FieldIssue::OutOfRange));
            let t = daily().create(&ctx(&m), "ana", now()).unwrap();
            let err = TaskInput { start_date: Some(bad), ..Default::default() }.apply(t, &ctx(&m), now()).unwrap_err();
            assert_eq!(err.fields[0].field, "startDate");
        }
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        let late = Utc.with_ymd_and_hms(2201, 1, 1, 0, 0, 0).unwrap();
        // Even with a clock at the window's end, a target past it is refused (not overflowed).
        let err = t.clone().snooze(late, late - chrono::Duration::days(1)).unwrap_err();
        assert_eq!(err.fields[0].field, "until");
        assert_eq!(err.fields[0].args[1], ("max", "2200-12-31".to_string()));
    }

    fn rule(every: u32, unit: recurrence::Unit) -> Option<Rule> {
        Some(Rule::Interval { every, unit })
    }

    fn berlin(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        "Europe/Berlin".parse::<Tz>().unwrap().with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_accepted_rule_is_created_with_an_occurrence_or_refused() {
        use recurrence::Unit::{Months, Years};
        let m = members();
        // now() is 2 November 2026, 13:00 in Berlin: today's 08:00 has passed.
        let t = TaskInput { recurrence: rule(150, Months), ..daily() }.create(&ctx(&m), "ana", now()).unwrap();
        assert_eq!(t.next_due, Some(berlin(2039, 5, 2, 8)), "150 months after today");
        assert_eq!(t.state(), TaskState::Active);
        let t = TaskInput { recurrence: rule(20, Years), ..daily() }.create(&ctx(&m), "ana", now()).unwrap();
        assert_eq!(t.next_due, Some(berlin(2046, 11, 2, 8)));
        // Every 5 months from November: Nov, Apr, Sep, Feb, Jul, Dec, May, Oct, Mar (40 months on).
        let seasonal = TaskInput { recurrence: rule(5, Months), active_months: Some(vec![3]), ..daily() };
        assert_eq!(seasonal.create(&ctx(&m), "ana", now()).unwrap().next_due, Some(berlin(2030, 3, 2, 8)));
        // A one-off chore in a June-only season, without a start date: 1 June.
        let once = TaskInput { recurrence: Some(Rule::Once {}), active_months: Some(vec![6]), ..daily() };
        let t = once.create(&ctx(&m), "ana", now()).unwrap();
        assert_eq!(
            (t.next_due, t.start_date),
            (Some(berlin(2027, 6, 1, 8)), NaiveDate::from_ymd_opt(2027, 6, 1).unwrap())
        );

        let refused = |input: TaskInput| {
            let err = input.create(&ctx(&m), "ana", now()).unwrap_err();
            assert_eq!(err.status(), 422);
            assert_eq!(err.fields[0].issue, FieldIssue::NoOccurrence);
            err.fields[0].field.clone()
        };
        // Every 6 months from November is only November and May.
        assert_eq!(
            refused(TaskInput { recurrence: rule(6, Months), active_months: Some(vec![3, 4]), ..daily() }),
            "activeMonths"
        );
        let yearly = Some(Rule::Yearly { month: 3, day: 5 });
        assert_eq!(refused(TaskInput { recurrence: yearly, active_months: Some(vec![6]), ..daily() }), "activeMonths");
        let late = NaiveDate::from_ymd_opt(2200, 12, 2);
        let monthly = Some(Rule::MonthlyByDay { every: 1, days: vec![1] });
        assert_eq!(refused(TaskInput { recurrence: monthly, start_date: late, ..daily() }), "startDate");
        // Today's 08:00 has passed and the next is 300 years away, past the date window.
        assert_eq!(refused(TaskInput { recurrence: rule(300, Years), ..daily() }), "recurrence");
    }

    #[test]
    fn an_update_to_a_rule_that_never_fires_is_refused_and_a_due_one_off_stays_due() {
        use recurrence::Unit::Months;
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        let err = TaskInput { recurrence: rule(12, Months), active_months: Some(vec![5]), ..Default::default() }
            .apply(t.clone(), &ctx(&m), now())
            .unwrap_err();
        assert_eq!((err.fields[0].field.as_str(), err.fields[0].issue), ("activeMonths", FieldIssue::NoOccurrence));
        let ok = TaskInput { recurrence: rule(12, Months), active_months: Some(vec![11]), ..Default::default() }
            .apply(t, &ctx(&m), now())
            .unwrap();
        assert_eq!(ok.next_due, Some(berlin(2027, 11, 2, 8)));

        // A one-off chore due yesterday, edited: still due (overdue), never silently finished.
        let once =
            TaskInput { recurrence: Some(Rule::Once {}), start_date: NaiveDate::from_ymd_opt(2026, 11, 1), ..daily() }
                .create(&ctx(&m), "ana", now())
                .unwrap();
        let moved =
            TaskInput { due_time: Some("19:00".into()), ..Default::default() }.apply(once, &ctx(&m), now()).unwrap();
        assert_eq!(moved.next_due, Some(berlin(2026, 11, 1, 19)));
        assert_eq!(moved.state(), TaskState::Active);
    }

    #[test]
    fn adaptive_chores_keep_their_local_time_and_season() {
        let m = members();
        let mut input = daily();
        input.adaptive = Some(true);
        input.active_months = Some(vec![11]);
        let mut t = input.create(&ctx(&m), "ana", now()).unwrap();
        // Done about every 2 days lately, in the evening (this time at 21:00, within the
        // 12 hours before the 08:00 it is due): the next one 2 days after, at 08:00 local.
        t.recent_completions = vec![berlin(2026, 10, 29, 19), berlin(2026, 10, 31, 19)];
        let a = t.clone().complete("ana", berlin(2026, 11, 2, 21), &m).unwrap();
        assert_eq!(a.task.next_due, Some(berlin(2026, 11, 4, 8)));
        // Ending in December, out of season: next November.
        let a = t.complete("ana", berlin(2026, 11, 29, 19), &m).unwrap();
        assert_eq!(a.task.next_due, Some(berlin(2027, 11, 1, 8)));
    }

    #[test]
    fn an_occurrence_opens_half_way_from_the_previous_one_so_points_cannot_be_farmed() {
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        // Due 3 November at 08:00; daily, so it opens 12 hours before: 2 November, 20:00.
        assert_eq!(t.next_due, Some(berlin(2026, 11, 3, 8)));
        assert_eq!(t.opens_at(), Some(berlin(2026, 11, 2, 20)));
        let err = t.clone().complete("ana", berlin(2026, 11, 2, 19), &m).unwrap_err();
        assert_eq!((err.code, err.status()), (ErrorCode::TooEarly, 409));
        assert_eq!(err.args, [("opensAt", "2026-11-02T19:00:00Z".to_string())]);
        let first = t.complete("ana", berlin(2026, 11, 2, 20), &m).unwrap();
        assert_eq!(first.points, 30);
        // The next one (4 November) opens half-way from 3 November: 3 November, 20:00.
        let t = first.task;
        assert_eq!((t.next_due, t.previous_due), (Some(berlin(2026, 11, 4, 8)), Some(berlin(2026, 11, 3, 8))));
        assert_eq!(t.opens_at(), Some(berlin(2026, 11, 3, 20)));
        // Completing it right after, or the next morning, is too early: no second helping.
        for at in [berlin(2026, 11, 2, 20) + chrono::Duration::minutes(1), berlin(2026, 11, 3, 9)] {
            assert_eq!(t.clone().complete("ben", at, &m).unwrap_err().code, ErrorCode::TooEarly);
        }
        assert!(t.complete("ben", berlin(2026, 11, 3, 20), &m).is_ok());
    }

    #[test]
    fn reminders_before_and_after_due_and_a_repeat_are_validated_and_planned() {
        let m = members();
        let bad = TaskInput {
            reminder_offsets: Some(vec![30, 20_000]),
            overdue_offsets: Some(vec![0]),
            reminder_repeat: Some(Repeat { every_minutes: 5, times: 99 }),
            ..daily()
        };
        let err = bad.create(&ctx(&m), "ana", now()).unwrap_err();
        let fields: Vec<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["reminderOffsets", "overdueOffsets", "reminderRepeat.everyMinutes", "reminderRepeat.times"]
        );

        let t = TaskInput {
            reminder_offsets: Some(vec![30]),
            overdue_offsets: Some(vec![60]),
            reminder_repeat: Some(Repeat { every_minutes: 120, times: 1 }),
            ..daily()
        }
        .create(&ctx(&m), "ana", now())
        .unwrap();
        // Due 3 November 08:00 in Berlin: 07:30, then 09:00, then one repeat at 11:00, then
        // (the household escalates after 30 minutes) 11:30.
        let due = berlin(2026, 11, 3, 8);
        let steps: Vec<_> = t.reminder_plan(Some(30)).steps(due).into_iter().map(|s| s.at).collect();
        assert_eq!(
            steps,
            [
                berlin(2026, 11, 3, 7) + chrono::Duration::minutes(30),
                berlin(2026, 11, 3, 9),
                berlin(2026, 11, 3, 11),
                berlin(2026, 11, 3, 11) + chrono::Duration::minutes(30)
            ]
        );
        assert_eq!(t.next_reminder(None, now()).map(|s| s.at), Some(steps[0]));
        let paused = Task { paused: true, ..t.clone() };
        assert_eq!(paused.next_reminder(None, now()), None, "a paused chore reminds nobody");
        // `times: 0` removes the repeat on update.
        let edited = TaskInput { reminder_repeat: Some(Repeat { every_minutes: 60, times: 0 }), ..Default::default() }
            .apply(t, &ctx(&m), now())
            .unwrap();
        assert_eq!(edited.reminder_repeat, None);
    }

    #[test]
    fn a_chore_stored_before_overdue_reminders_reads_without_them() {
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        let mut stored = serde_json::to_value(&t).unwrap();
        let fields = stored.as_object_mut().unwrap();
        fields.remove("overdueOffsets");
        fields.remove("reminderRepeat");
        let old: Task = serde_json::from_value(stored).unwrap();
        assert!(old.overdue_offsets.is_empty() && old.reminder_repeat.is_none());
    }

    #[test]
    fn catching_up_on_an_overdue_chore_still_works() {
        let m = members();
        // Started 31 October: the 08:00s of 31 October, 1 and 2 November are overdue at 13:00.
        let mut t = TaskInput { start_date: NaiveDate::from_ymd_opt(2026, 10, 31), ..daily() }
            .create(&ctx(&m), "ana", now())
            .unwrap();
        let (mut dues, mut paid) = (Vec::new(), Vec::new());
        for by in ["ana", "ben", "cy"] {
            let a = t.complete(by, now(), &m).unwrap();
            paid.push(a.points);
            dues.push(a.due);
            t = a.task;
        }
        // Only the latest due occurrence pays (the two before it were missed).
        assert_eq!(paid, [0, 0, 30]);
        assert_eq!(dues, [berlin(2026, 10, 31, 8), berlin(2026, 11, 1, 8), berlin(2026, 11, 2, 8)]);
        // Caught up: 3 November opens at 20:00 tonight.
        assert_eq!(t.next_due, Some(berlin(2026, 11, 3, 8)));
        assert_eq!(t.complete("ana", now(), &m).unwrap_err().code, ErrorCode::TooEarly);
    }

    #[test]
    fn the_early_window_grows_with_the_period_up_to_a_week() {
        let m = members();
        let opens = |recurrence: Rule, start: (i32, u32, u32)| {
            let start = NaiveDate::from_ymd_opt(start.0, start.1, start.2);
            let t = TaskInput { recurrence: Some(recurrence), start_date: start, ..daily() }
                .create(&ctx(&m), "ana", now())
                .unwrap();
            (t.next_due.unwrap(), t.opens_at())
        };
        use recurrence::Unit::{Hours, Months, Weeks};
        // Weekly: 3½ days before Monday 9 November, 08:00.
        assert_eq!(opens(Rule::Interval { every: 1, unit: Weeks }, (2026, 11, 9)).1, Some(berlin(2026, 11, 5, 20)));
        // Monthly: half of 31 days is more than a week; 7 days before 1 December.
        assert_eq!(opens(Rule::Interval { every: 1, unit: Months }, (2026, 12, 1)).1, Some(berlin(2026, 11, 24, 8)));
        // Every 2 hours: one hour before.
        let (due, open) = opens(Rule::Interval { every: 2, unit: Hours }, (2026, 11, 3));
        assert_eq!(open, Some(due - chrono::Duration::hours(1)));
        // A one-off chore: any time, nothing follows it.
        assert_eq!(opens(Rule::Once {}, (2026, 11, 20)).1, None);
    }

    #[test]
    fn snoozing_only_postpones_and_everyone_does_their_part_once() {
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        // Due 3 November 08:00: a snooze to this evening would bring it forward.
        let err = t.clone().snooze(berlin(2026, 11, 2, 20), now()).unwrap_err();
        assert_eq!(err.fields[0].field, "until");
        assert!(t.clone().snooze(berlin(2026, 12, 3, 9), now()).is_err(), "more than 30 days after it");
        assert_eq!(t.snooze(berlin(2026, 11, 4, 8), now()).unwrap().next_due, Some(berlin(2026, 11, 4, 8)));

        let everyone = TaskInput { assignment: Some(Strategy::Everyone), ..daily() };
        let t = everyone.create(&ctx(&m), "ana", now()).unwrap();
        let due = t.next_due.unwrap();
        let ana = t.complete("ana", due, &m).unwrap();
        assert!(!ana.advanced);
        assert_eq!(ana.task.clone().complete("ana", due, &m).unwrap_err().code, ErrorCode::TaskNotAssigned);
    }

    #[test]
    fn completing_awards_points_advances_and_rotates() {
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        let due = t.next_due.unwrap();
        let a = t.complete("ana", due + chrono::Duration::hours(1), &m).unwrap();
        assert_eq!(a.points, 30);
        assert!(a.advanced);
        assert_eq!(a.task.next_due, Some(due + chrono::Duration::days(1)));
        assert_eq!(a.task.assignee, Assignment::Member { user_id: "ben".into() });
        assert_eq!(a.task.version, 2);
        let skipped = a.task.skip(due + chrono::Duration::days(1), &m).unwrap();
        assert_eq!(skipped.points, 0);
        assert_eq!(skipped.task.assignee, Assignment::Member { user_id: "cy".into() });
    }

    #[test]
    fn everyone_chores_wait_for_every_member() {
        let m = members();
        let mut input = daily();
        input.assignment = Some(Strategy::Everyone);
        input.pool = Some(vec!["ana".into(), "ben".into()]);
        let t = input.create(&ctx(&m), "ana", now()).unwrap();
        let due = t.next_due.unwrap();
        let first = t.complete("ana", due, &m).unwrap();
        assert!(!first.advanced);
        assert_eq!(first.task.next_due, Some(due));
        assert!(!first.task.is_assigned_to("ana") && first.task.is_assigned_to("ben"));
        let second = first.task.complete("ben", due, &m).unwrap();
        assert!(second.advanced);
        assert_eq!(second.task.pending, vec!["ana".to_string(), "ben".to_string()]);
    }

    #[test]
    fn fair_share_weighs_recent_household_effort_by_availability_and_skips_the_away() {
        let mut m = members();
        let due_week = week_key(NaiveDate::from_ymd_opt(2026, 11, 3).unwrap());
        let long_ago = week_key(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
        m[0].effort_by_week.insert(due_week.clone(), 10);
        m[1].effort_by_week.insert(due_week, 6);
        m[1].availability = 50; // 6 at half time weighs 12
        m[2].effort_by_week.insert(long_ago, 100); // outside the window
        m[2].away = vec![AwayRange {
            from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
        }];
        let mut input = daily();
        input.assignment = Some(Strategy::FairShare { weeks: 4 });
        let t = input.create(&ctx(&m), "ana", now()).unwrap();
        assert_eq!(t.assignee, Assignment::Member { user_id: "ana".into() }, "cy is away; ana's 10 < ben's 12");
        m[2].away.clear();
        let t = t.skip(now(), &m).unwrap().task;
        assert_eq!(t.assignee, Assignment::Member { user_id: "cy".into() }, "cy's effort is older than the window");
    }

    #[test]
    fn catching_up_on_missed_occurrences_pays_only_for_the_latest() {
        let m = members();
        // Daily at 08:00 Berlin (07:00 UTC), started ten days before now() (2 Nov, 12:00 UTC).
        let back_dated = TaskInput { start_date: NaiveDate::from_ymd_opt(2026, 10, 23), ..daily() };
        let mut t = back_dated.create(&ctx(&m), "ana", Utc.with_ymd_and_hms(2026, 10, 22, 12, 0, 0).unwrap()).unwrap();
        let mut paid = Vec::new();
        while t.next_due.is_some_and(|d| d <= now()) {
            let a = t.complete("ana", now(), &m).unwrap();
            paid.push(a.points);
            t = a.task;
        }
        // 23 Oct .. 1 Nov were each followed by a due occurrence: nothing. 2 Nov (its
        // successor is due tomorrow) pays effort 3 x 10.
        assert_eq!(paid, [vec![0; 10], vec![30]].concat());
    }

    #[test]
    fn the_forecast_of_a_chore_overdue_for_a_year_starts_at_the_range() {
        let m = members();
        // Hourly, due since a year before the range: 8,760 occurrences lie in between.
        let hourly = TaskInput {
            recurrence: Some(Rule::Interval { every: 1, unit: recurrence::Unit::Hours }),
            start_date: NaiveDate::from_ymd_opt(2025, 11, 2),
            ..daily()
        };
        let t = hourly.create(&ctx(&m), "ana", Utc.with_ymd_and_hms(2025, 11, 1, 12, 0, 0).unwrap()).unwrap();
        assert!(t.next_due.unwrap() < now() - chrono::Duration::days(360));
        let from = Utc.with_ymd_and_hms(2026, 11, 2, 12, 30, 0).unwrap();
        let f = t.forecast(from, from + chrono::Duration::days(2), 200, &m);
        // Every hour of the two days, on the hour the rule keeps (08:00 Berlin = 07:00 UTC
        // plus whole hours): 13:00 UTC first, 48 in all.
        assert_eq!(f.len(), 48);
        assert_eq!(f[0].0, Utc.with_ymd_and_hms(2026, 11, 2, 13, 0, 0).unwrap());
        assert_eq!(f[47].0, Utc.with_ymd_and_hms(2026, 11, 4, 12, 0, 0).unwrap());
        // A daily chore overdue for a year: one occurrence a day at 08:00 Berlin.
        let old = TaskInput { start_date: NaiveDate::from_ymd_opt(2025, 11, 2), ..daily() };
        let t = old.create(&ctx(&m), "ana", Utc.with_ymd_and_hms(2025, 11, 1, 12, 0, 0).unwrap()).unwrap();
        let f = t.forecast(from, from + chrono::Duration::days(3), 200, &m);
        let days: Vec<_> = f.iter().map(|(d, _)| *d).collect();
        assert_eq!(
            days,
            [3, 4, 5].map(|d| Utc.with_ymd_and_hms(2026, 11, d, 7, 0, 0).unwrap()),
            "08:00 in Berlin is 07:00 UTC in November"
        );
    }

    #[test]
    fn the_forecast_rotates_assignees_over_the_occurrences() {
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        let first = t.next_due.unwrap();
        let f = t.forecast(first, first + chrono::Duration::days(4), 10, &m);
        let who: Vec<_> = f
            .iter()
            .map(|(_, a)| match a {
                Assignment::Member { user_id } => user_id.as_str(),
                _ => "?",
            })
            .collect();
        assert_eq!(who, ["ana", "ben", "cy", "ana"]);
        assert_eq!(f[1].0 - f[0].0, chrono::Duration::days(1));
        assert_eq!(t.next_due, Some(first), "forecasting changes nothing");
    }

    #[test]
    fn checklists_are_ticked_and_reset_each_occurrence() {
        let m = members();
        let mut input = daily();
        input.subtasks = Some(vec!["Plates".into(), "Pans".into()]);
        let t = input.create(&ctx(&m), "ana", now()).unwrap();
        let t = t.set_subtask(2, true, now()).unwrap();
        assert!(t.subtasks[1].done && !t.subtasks[0].done);
        assert_eq!(t.clone().set_subtask(9, true, now()).unwrap_err().code, ErrorCode::SubtaskNotFound);
        let due = t.next_due.unwrap();
        let next = t.complete("ana", due, &m).unwrap().task;
        assert!(next.subtasks.iter().all(|s| !s.done));
    }

    #[test]
    fn an_occurrence_can_be_reassigned_by_hand() {
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        let moved =
            TaskInput { assign_to: Some("cy".into()), ..Default::default() }.apply(t.clone(), &ctx(&m), now()).unwrap();
        assert_eq!(moved.assignee, Assignment::Member { user_id: "cy".into() });
        assert_eq!(moved.next_due, t.next_due);
        let err = TaskInput { assign_to: Some("stranger".into()), ..Default::default() }
            .apply(t, &ctx(&m), now())
            .unwrap_err();
        assert_eq!(err.fields[0].field, "assignTo");
    }

    #[test]
    fn archived_paused_and_finished_tasks_cannot_be_completed() {
        let m = members();
        let t = daily().create(&ctx(&m), "ana", now()).unwrap();
        let code = |t: Task| t.complete("ana", now(), &m).unwrap_err().code;
        assert_eq!(code(Task { archived: true, ..t.clone() }), ErrorCode::TaskArchived);
        assert_eq!(code(Task { paused: true, ..t.clone() }), ErrorCode::TaskPaused);
        let mut once = daily();
        once.recurrence = Some(Rule::Once {});
        let done = once.create(&ctx(&m), "ana", now()).unwrap().complete("ana", now(), &m).unwrap().task;
        assert_eq!(done.state(), TaskState::Finished);
        assert_eq!(code(done), ErrorCode::TaskFinished);
    }

    /// A daily round-robin chore over ana, ben, cy whose current occurrence (due 4 Nov,
    /// 07:00 UTC) is ben's: ana did 3 Nov's.
    fn bens_turn(assignment: Strategy) -> Task {
        let m = members();
        let input = TaskInput { assignment: Some(assignment), ..daily() };
        let t = input.create(&ctx(&m), "ana", now()).unwrap();
        let due = t.next_due.unwrap();
        let t = t.complete("ana", due, &m).unwrap().task;
        assert_eq!(t.next_due, Some(Utc.with_ymd_and_hms(2026, 11, 4, 7, 0, 0).unwrap()));
        assert_eq!(t.assignee, Assignment::Member { user_id: "ben".into() });
        t
    }

    fn without(members: &[&str], gone: &str) -> Vec<RosterEntry> {
        members.iter().filter(|u| **u != gone).map(|u| RosterEntry::new(u)).collect()
    }

    #[test]
    fn a_member_who_leaves_hands_their_turn_to_the_next_in_the_rotation() {
        let t = bens_turn(Strategy::RoundRobin);
        let after = t.clone().without_member("ben", &without(&["ana", "cy"], "ben"), "ana", now()).unwrap();
        assert_eq!(after.assignee, Assignment::Member { user_id: "cy".into() });
        assert_eq!(after.pool, ["ana", "cy"]);
        assert_eq!(after.next_due, t.next_due, "the same occurrence, someone else's");
        assert_eq!(after.version, t.version + 1);
        // Nothing of the chore is theirs any more: a second pass changes nothing.
        assert!(after.without_member("ben", &without(&["ana", "cy"], "ben"), "ana", now()).is_none());
    }

    #[test]
    fn a_chore_fixed_on_a_member_who_leaves_goes_round_the_rest_of_its_pool() {
        let t = bens_turn(Strategy::Fixed { user_id: "ben".into() });
        let after = t.without_member("ben", &without(&["ana", "cy"], "ben"), "ana", now()).unwrap();
        assert_eq!(after.assignment, Strategy::RoundRobin);
        assert_eq!(after.assignee, Assignment::Member { user_id: "cy".into() });
    }

    #[test]
    fn a_chore_only_the_leaver_was_in_goes_to_the_fallback_even_when_archived() {
        let m = members();
        let mine = TaskInput {
            pool: Some(vec!["ben".into()]),
            assignment: Some(Strategy::Fixed { user_id: "ben".into() }),
            ..daily()
        };
        let t = mine.create(&ctx(&m), "ana", now()).unwrap();
        let after = t.clone().without_member("ben", &without(&["ana", "cy"], "ben"), "ana", now()).unwrap();
        assert_eq!(
            (after.pool.clone(), after.assignee.clone()),
            (vec!["ana".to_string()], Assignment::Member { user_id: "ana".into() })
        );
        assert_eq!(after.next_due, t.next_due);
        // Archived: its pool and strategy are cleaned (it may be restored), nothing assigned.
        let archived = Task { archived: true, ..t };
        let after = archived.clone().without_member("ben", &without(&["ana", "cy"], "ben"), "ana", now()).unwrap();
        assert_eq!((after.pool, after.assignment), (vec!["ana".to_string()], Strategy::RoundRobin));
        assert_eq!(after.assignee, archived.assignee);
    }

    #[test]
    fn a_chore_that_was_not_the_leavers_is_left_alone() {
        let mut input = daily();
        input.pool = Some(vec!["ana".into(), "cy".into()]);
        let t = input.create(&ctx(&members()), "ana", now()).unwrap();
        assert!(t.without_member("ben", &without(&["ana", "cy"], "ben"), "ana", now()).is_none());
    }

    #[test]
    fn a_shared_occurrence_keeps_the_others_and_an_everyone_chore_moves_on_without_the_last() {
        let m = members();
        let anyone =
            TaskInput { assignment: Some(Strategy::Anyone), ..daily() }.create(&ctx(&m), "ana", now()).unwrap();
        let after = anyone.clone().without_member("ben", &without(&["ana", "cy"], "ben"), "ana", now()).unwrap();
        assert_eq!(after.assignee, Assignment::Anyone { user_ids: vec!["ana".into(), "cy".into()] });
        assert_eq!(after.next_due, anyone.next_due);

        let everyone =
            TaskInput { assignment: Some(Strategy::Everyone), ..daily() }.create(&ctx(&m), "ana", now()).unwrap();
        let due = everyone.next_due.unwrap();
        let waiting = everyone.complete("ana", due, &m).unwrap().task.complete("cy", due, &m).unwrap().task;
        assert_eq!(waiting.pending, ["ben"]);
        let after = waiting.clone().without_member("ben", &without(&["ana", "cy"], "ben"), "ana", now()).unwrap();
        assert_eq!(after.next_due, Some(due + chrono::Duration::days(1)), "nobody is left to wait for");
        assert_eq!(after.pending, ["ana", "cy"]);
        assert_eq!(after.version, waiting.version + 1);
    }

    #[test]
    fn an_occurrence_due_while_its_assignee_is_away_goes_to_someone_present() {
        let t = bens_turn(Strategy::RoundRobin);
        let mut m = members();
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        m[1].away = vec![AwayRange { from: day(10), to: day(12) }];
        assert!(t.clone().cover_absence("ben", &m, now()).is_none(), "away later, not on 4 Nov");
        m[1].away = vec![AwayRange { from: day(4), to: day(6) }];
        let after = t.clone().cover_absence("ben", &m, now()).unwrap();
        assert_eq!(after.assignee, Assignment::Member { user_id: "cy".into() });
        assert_eq!((after.next_due, after.version), (t.next_due, t.version + 1));
        assert!(after.cover_absence("ben", &m, now()).is_none(), "no longer theirs");
        // Nobody else there: it stays with them rather than with nobody.
        m[0].away = m[1].away.clone();
        m[2].away = m[1].away.clone();
        assert!(t.cover_absence("ben", &m, now()).is_none());
        // Fixed on them: their choice stands.
        let fixed = bens_turn(Strategy::Fixed { user_id: "ben".into() });
        assert!(fixed.cover_absence("ben", &m, now()).is_none());
    }
}
