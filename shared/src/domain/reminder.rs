//! Reminders (issue 7): when a chore's current occurrence reminds, and when a member may be
//! told. Pure: the dispatcher and the notification worker apply these rules to what they
//! read.
//!
//! A chore's plan is its reminders before or at due (`reminderOffsets`, minutes before, as
//! since the first version), its reminders after due (`overdueOffsets`, minutes after), an
//! optional repeat until done (an interval and a cap), and, if the household turned it on,
//! one escalation to owners and admins after the last of them. The one pending reminder
//! item per chore holds the time of its next step; the dispatcher sends what is due and
//! moves it to the first step after now (see [`ReminderPlan::on_dispatch`]). Times, not
//! step numbers: an edit of the plan mid-occurrence renumbers nothing.

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::recurrence::local_instant;

/// At most this many reminders before (and, separately, after) due per chore.
pub const MAX_OFFSETS: usize = 5;
/// Offsets reach at most a week from the due time.
pub const MAX_OFFSET_MINUTES: u32 = 7 * 24 * 60;
/// A repeat at most this often, and at most this many times.
pub const MIN_REPEAT_MINUTES: u32 = 15;
pub const MAX_REPEATS: u32 = 24;

/// What a reminder step is about: the event type a member's preferences name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReminderKind {
    /// Before or at due.
    Reminder,
    /// After due, including repeats until done.
    Overdue,
    /// To the household's owners and admins, after the last reminder went unanswered.
    Escalation,
}

/// Repeat until done: every `every_minutes` after the last planned reminder, `times` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repeat {
    pub every_minutes: u32,
    pub times: u32,
}

/// One step of an occurrence's reminders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub kind: ReminderKind,
}

/// What the dispatcher does with a chore's pending reminder when it comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    /// The step to send now (the latest one due: earlier ones it supersedes are not sent
    /// one after another after an outage), or none if it is stale.
    pub send: Option<Step>,
    /// Sent later than [`LATE_AFTER`] after its time.
    pub late: bool,
    /// The chore's next pending step, if any.
    pub next: Option<Step>,
}

/// A chore's reminders, relative to each occurrence's due time. Stored with the chore's
/// pending reminder, so the dispatcher needs no other read to move it on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderPlan {
    /// Minutes before due (0 = at due).
    #[serde(default)]
    pub before: Vec<u32>,
    /// Minutes after due.
    #[serde(default)]
    pub after: Vec<u32>,
    #[serde(default)]
    pub repeat: Option<Repeat>,
    /// Minutes after the last reminder (or repeat) to escalate, when the household
    /// escalates unanswered chores.
    #[serde(default)]
    pub escalate_after: Option<u32>,
}

impl ReminderPlan {
    /// Every step of the occurrence due at `due`, in time order (equal times once, the
    /// earlier kind first). Bounded: at most 2 x [`MAX_OFFSETS`] + [`MAX_REPEATS`] + 1.
    pub fn steps(&self, due: DateTime<Utc>) -> Vec<Step> {
        let mut times: Vec<(DateTime<Utc>, ReminderKind)> = self
            .before
            .iter()
            .map(|m| (due - Duration::minutes((*m).into()), ReminderKind::Reminder))
            .chain(
                self.after
                    .iter()
                    .filter(|m| **m > 0)
                    .map(|m| (due + Duration::minutes((*m).into()), ReminderKind::Overdue)),
            )
            .collect();
        times.sort();
        times.dedup_by_key(|(at, _)| *at);
        if let (Some(repeat), Some(&(last, _))) = (self.repeat, times.last()) {
            // Every interval after the last reminder, but never before the due time: a
            // repeat nags about a chore that is due.
            let every = Duration::minutes(repeat.every_minutes.max(1).into());
            let mut at = (last + every).max(due);
            for _ in 0..repeat.times.min(MAX_REPEATS) {
                times.push((at, if at > due { ReminderKind::Overdue } else { ReminderKind::Reminder }));
                at += every;
            }
        }
        if let (Some(after), Some(&(last, _))) = (self.escalate_after, times.last()) {
            times.push(((last + Duration::minutes(after.into())).max(due), ReminderKind::Escalation));
        }
        times.into_iter().map(|(at, kind)| Step { at, kind }).collect()
    }

    /// The first step later than `now`: where a new or changed occurrence's reminders
    /// start. Steps already past are not sent late.
    pub fn first_after(&self, due: DateTime<Utc>, now: DateTime<Utc>) -> Option<Step> {
        self.steps(due).into_iter().find(|s| s.at > now)
    }

    /// The dispatcher at `now` meets the pending step at `pending`: it sends the latest
    /// step due since then (unless [`STALE_AFTER`] old), and the chore waits for the first
    /// step after now.
    pub fn on_dispatch(&self, due: DateTime<Utc>, pending: DateTime<Utc>, now: DateTime<Utc>) -> Dispatch {
        let steps = self.steps(due);
        let send = steps.iter().rev().find(|s| s.at >= pending && s.at <= now).copied();
        let send = send.filter(|s| now - s.at <= STALE_AFTER);
        Dispatch {
            send,
            late: send.is_some_and(|s| now - s.at > LATE_AFTER),
            next: steps.into_iter().find(|s| s.at > now),
        }
    }
}

/// Hours of the reminder index one dispatcher run works through: after an outage the
/// backlog is worked off this many hours per run (one run a minute), oldest first.
pub const MAX_HOURS_PER_RUN: i64 = 6;
/// A reminder this much past its time when the dispatcher reaches it (an outage) is not
/// sent: the chore moves on to its next step. Yesterday's "due in 30 minutes" is noise.
pub const STALE_AFTER: Duration = Duration::hours(12);
/// A reminder sent more than this after its time is marked late.
pub const LATE_AFTER: Duration = Duration::minutes(2);
/// Writers' clocks may lag the dispatcher's by this much: the hour before stays queried
/// for the first minutes of a new hour.
pub const CLOCK_SLACK: Duration = Duration::minutes(5);

/// The part of the reminder index one dispatcher run queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchWindow {
    /// Start of each hour bucket to query, oldest first.
    pub hours: Vec<DateTime<Utc>>,
    /// Where the next run starts once this one has sent everything due in `hours`.
    pub next_checkpoint: DateTime<Utc>,
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).unwrap_or(t)
}

/// The hour buckets a run at `now` queries, from `checkpoint` (the oldest hour that may
/// still hold a due reminder; none on the first run: the hour before now).
///
/// Writers put a reminder in the bucket of its time or of their own now, whichever is
/// later, so no bucket before the checkpoint ever receives one again.
pub fn dispatch_window(checkpoint: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DispatchWindow {
    let current = hour_of(now);
    let start = hour_of(checkpoint.unwrap_or(now - Duration::hours(1))).min(current);
    let end = current.min(start + Duration::hours(MAX_HOURS_PER_RUN - 1));
    let hours: Vec<_> = (0..).map(|i| start + Duration::hours(i)).take_while(|h| *h <= end).collect();
    // Never past the hour writers with lagging clocks may still write to, catch-up or not.
    let next_checkpoint = (end + Duration::hours(1)).min(hour_of(now - CLOCK_SLACK)).max(start);
    DispatchWindow { hours, next_checkpoint }
}

/// The bucket hour a reminder at `at` is written to by a writer whose clock says `now`.
pub fn bucket_hour(at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    hour_of(at.max(now))
}

/// Quiet hours in a member's time zone: `[start, end)` local, across midnight when `start`
/// is later than `end` (22:00-07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuietHours {
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

impl QuietHours {
    /// Whether the local time of day `t` is quiet.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end { self.start <= t && t < self.end } else { t >= self.start || t < self.end }
    }

    /// When something meant for `at` may be delivered: `at` itself, or the end of the quiet
    /// hours it falls in, in `tz` (a quiet end that a clock change skips is pushed forward
    /// by the gap, as chores' due times are).
    pub fn release(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&tz).naive_local();
        let time = local.time().with_nanosecond(0).unwrap_or(local.time());
        if !self.contains(time) {
            return at;
        }
        let date = if self.start > self.end && time >= self.start {
            local.date().succ_opt().unwrap_or(local.date())
        } else {
            local.date()
        };
        local_instant(tz, date.and_time(self.end)).max(at)
    }
}

/// `HH:MM` on the wire, as the chore's `dueTime`.
mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(&s, "%H:%M").map_err(|_| serde::de::Error::custom("expected HH:MM"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hm(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn at(steps: &[Step]) -> Vec<(String, ReminderKind)> {
        steps.iter().map(|s| (s.at.format("%d %H:%M").to_string(), s.kind)).collect()
    }

    #[test]
    fn offsets_before_at_and_after_due_come_in_time_order() {
        let plan = ReminderPlan { before: vec![0, 30], after: vec![60], ..Default::default() };
        let steps = plan.steps(utc("2026-12-01T18:00:00Z"));
        assert_eq!(
            at(&steps),
            vec![
                ("01 17:30".into(), ReminderKind::Reminder),
                ("01 18:00".into(), ReminderKind::Reminder),
                ("01 19:00".into(), ReminderKind::Overdue),
            ]
        );
    }

    #[test]
    fn the_same_time_twice_is_one_reminder() {
        let plan = ReminderPlan { before: vec![10, 10, 0], after: vec![0], ..Default::default() };
        assert_eq!(plan.steps(utc("2026-12-01T18:00:00Z")).len(), 2);
    }

    #[test]
    fn repeats_follow_the_last_reminder_up_to_their_cap_then_one_escalation() {
        let plan = ReminderPlan {
            before: vec![0],
            after: vec![],
            repeat: Some(Repeat { every_minutes: 60, times: 2 }),
            escalate_after: Some(30),
        };
        assert_eq!(
            at(&plan.steps(utc("2026-12-01T18:00:00Z"))),
            vec![
                ("01 18:00".into(), ReminderKind::Reminder),
                ("01 19:00".into(), ReminderKind::Overdue),
                ("01 20:00".into(), ReminderKind::Overdue),
                ("01 20:30".into(), ReminderKind::Escalation),
            ]
        );
    }

    #[test]
    fn repeats_after_an_early_reminder_never_come_before_due() {
        let plan = ReminderPlan {
            before: vec![120],
            repeat: Some(Repeat { every_minutes: 30, times: 2 }),
            ..Default::default()
        };
        assert_eq!(
            at(&plan.steps(utc("2026-12-01T18:00:00Z"))),
            vec![
                ("01 16:00".into(), ReminderKind::Reminder),
                ("01 18:00".into(), ReminderKind::Reminder),
                ("01 18:30".into(), ReminderKind::Overdue),
            ]
        );
    }

    #[test]
    fn no_reminders_means_no_steps_and_no_escalation() {
        let plan = ReminderPlan {
            escalate_after: Some(30),
            repeat: Some(Repeat { every_minutes: 60, times: 3 }),
            ..Default::default()
        };
        assert!(plan.steps(utc("2026-12-01T18:00:00Z")).is_empty());
    }

    #[test]
    fn the_cap_bounds_repeats_whatever_is_stored() {
        let plan = ReminderPlan {
            before: vec![0],
            repeat: Some(Repeat { every_minutes: 15, times: 10_000 }),
            ..Default::default()
        };
        assert_eq!(plan.steps(utc("2026-12-01T18:00:00Z")).len(), 1 + MAX_REPEATS as usize);
    }

    #[test]
    fn a_new_occurrence_starts_after_now() {
        let plan = ReminderPlan { before: vec![60, 30, 0], ..Default::default() };
        let due = utc("2026-12-01T18:00:00Z");
        assert_eq!(plan.first_after(due, utc("2026-12-01T17:10:00Z")).map(|s| s.at), Some(utc("2026-12-01T17:30:00Z")));
        assert_eq!(plan.first_after(due, utc("2026-12-01T17:30:00Z")).map(|s| s.at), Some(due));
        assert_eq!(plan.first_after(due, due), None, "a chore created with every reminder past gets none late");
    }

    #[test]
    fn a_dispatch_on_time_sends_the_step_and_waits_for_the_next() {
        let plan = ReminderPlan { before: vec![30, 0], ..Default::default() };
        let due = utc("2026-12-01T18:00:00Z");
        let d = plan.on_dispatch(due, utc("2026-12-01T17:30:00Z"), utc("2026-12-01T17:30:40Z"));
        assert_eq!(d.send.map(|s| (s.at, s.kind)), Some((utc("2026-12-01T17:30:00Z"), ReminderKind::Reminder)));
        assert!(!d.late);
        assert_eq!(d.next.map(|s| s.at), Some(due));
        let last = plan.on_dispatch(due, due, utc("2026-12-01T18:00:30Z"));
        assert_eq!((last.send.map(|s| s.at), last.next), (Some(due), None));
    }

    #[test]
    fn after_an_outage_only_the_latest_missed_step_goes_out_once_marked_late() {
        let plan = ReminderPlan {
            before: vec![30, 0],
            repeat: Some(Repeat { every_minutes: 60, times: 5 }),
            ..Default::default()
        };
        let due = utc("2026-12-01T18:00:00Z");
        // Down from 17:20 to 20:10: 17:30, 18:00, 19:00 and 20:00 fell due meanwhile.
        let d = plan.on_dispatch(due, utc("2026-12-01T17:30:00Z"), utc("2026-12-01T20:10:00Z"));
        assert_eq!(d.send.map(|s| (s.at, s.kind)), Some((utc("2026-12-01T20:00:00Z"), ReminderKind::Overdue)));
        assert!(d.late);
        assert_eq!(d.next.map(|s| s.at), Some(utc("2026-12-01T21:00:00Z")));
    }

    #[test]
    fn a_step_more_than_twelve_hours_old_is_not_sent() {
        let plan = ReminderPlan { before: vec![0], ..Default::default() };
        let due = utc("2026-12-01T18:00:00Z");
        assert!(plan.on_dispatch(due, due, utc("2026-12-02T05:59:00Z")).send.is_some());
        let d = plan.on_dispatch(due, due, utc("2026-12-02T06:01:00Z"));
        assert_eq!((d.send, d.next), (None, None));
    }

    #[test]
    fn quiet_hours_across_midnight_in_berlin_hold_a_23_00_reminder_until_07_00_local() {
        let quiet = QuietHours { start: hm("22:00"), end: hm("07:00") };
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 23:00 in Berlin in winter is 22:00 UTC; 07:00 the next morning is 06:00 UTC.
        assert_eq!(quiet.release(utc("2026-12-01T22:00:00Z"), berlin), utc("2026-12-02T06:00:00Z"));
        // 03:00 local is the same night: released at 07:00 that morning.
        assert_eq!(quiet.release(utc("2026-12-02T02:00:00Z"), berlin), utc("2026-12-02T06:00:00Z"));
        // Outside the quiet hours: at once. The ends are [start, end).
        assert_eq!(quiet.release(utc("2026-12-01T20:59:00Z"), berlin), utc("2026-12-01T20:59:00Z"));
        assert_eq!(quiet.release(utc("2026-12-01T21:00:00Z"), berlin), utc("2026-12-02T06:00:00Z"));
        assert_eq!(quiet.release(utc("2026-12-02T06:00:00Z"), berlin), utc("2026-12-02T06:00:00Z"));
        // Summer time: 07:00 in Berlin is 05:00 UTC.
        assert_eq!(quiet.release(utc("2026-07-01T21:30:00Z"), berlin), utc("2026-07-02T05:00:00Z"));
    }

    #[test]
    fn quiet_hours_within_one_day_and_a_quiet_end_in_a_clock_change_gap() {
        let nap = QuietHours { start: hm("13:00"), end: hm("15:00") };
        assert_eq!(nap.release(utc("2026-12-01T14:00:00Z"), Tz::UTC), utc("2026-12-01T15:00:00Z"));
        assert_eq!(nap.release(utc("2026-12-01T12:59:00Z"), Tz::UTC), utc("2026-12-01T12:59:00Z"));
        // New York springs forward at 02:00 on 8 March 2026: 02:30 does not exist that day.
        let ny: Tz = "America/New_York".parse().unwrap();
        let quiet = QuietHours { start: hm("23:00"), end: hm("02:30") };
        let released = quiet.release(ny.with_ymd_and_hms(2026, 3, 8, 1, 0, 0).unwrap().with_timezone(&Utc), ny);
        assert_eq!(released, utc("2026-03-08T07:30:00Z"), "03:30 EDT: pushed forward by the gap, as due times are");
    }

    #[test]
    fn a_normal_run_queries_this_hour_and_the_last_until_writers_clocks_cannot_lag() {
        let w = dispatch_window(Some(utc("2026-12-01T17:00:00Z")), utc("2026-12-01T18:03:00Z"));
        assert_eq!(w.hours, vec![utc("2026-12-01T17:00:00Z"), utc("2026-12-01T18:00:00Z")]);
        assert_eq!(w.next_checkpoint, utc("2026-12-01T17:00:00Z"), "18:03 - 5 min is still 17:xx");
        let w = dispatch_window(Some(w.next_checkpoint), utc("2026-12-01T18:06:00Z"));
        assert_eq!(w.next_checkpoint, utc("2026-12-01T18:00:00Z"));
        let w = dispatch_window(Some(w.next_checkpoint), utc("2026-12-01T18:07:00Z"));
        assert_eq!(w.hours, vec![utc("2026-12-01T18:00:00Z")]);
    }

    #[test]
    fn after_an_outage_the_backlog_is_worked_off_six_hours_a_run_oldest_first() {
        let back = utc("2026-12-01T02:00:00Z");
        let now = utc("2026-12-01T18:30:00Z");
        let w = dispatch_window(Some(back), now);
        assert_eq!(w.hours.len(), 6);
        assert_eq!((w.hours[0], w.next_checkpoint), (back, utc("2026-12-01T08:00:00Z")));
        let w = dispatch_window(Some(w.next_checkpoint), now);
        let w = dispatch_window(Some(w.next_checkpoint), now);
        assert_eq!(w.hours.first(), Some(&utc("2026-12-01T14:00:00Z")));
        assert_eq!(w.hours.last(), Some(&utc("2026-12-01T18:00:00Z")), "caught up in three runs");
        assert_eq!(w.next_checkpoint, utc("2026-12-01T18:00:00Z"));
    }

    #[test]
    fn catching_up_never_moves_past_the_hour_lagging_writers_may_still_use() {
        // Down until 18:02: the window ends at 18:00, and 18:02 - 5 min is still 17:xx.
        let w = dispatch_window(Some(utc("2026-12-01T13:00:00Z")), utc("2026-12-01T18:02:00Z"));
        assert_eq!(w.hours.last(), Some(&utc("2026-12-01T18:00:00Z")));
        assert_eq!(w.next_checkpoint, utc("2026-12-01T17:00:00Z"));
    }

    #[test]
    fn a_first_run_starts_an_hour_back_and_a_checkpoint_from_the_future_is_not_trusted() {
        let now = utc("2026-12-01T18:30:00Z");
        assert_eq!(dispatch_window(None, now).hours, vec![utc("2026-12-01T17:00:00Z"), utc("2026-12-01T18:00:00Z")]);
        assert_eq!(dispatch_window(Some(utc("2026-12-02T00:00:00Z")), now).hours, vec![utc("2026-12-01T18:00:00Z")]);
    }

    #[test]
    fn a_missed_step_goes_into_the_writers_hour_never_behind_the_checkpoint() {
        let now = utc("2026-12-01T18:30:00Z");
        assert_eq!(bucket_hour(utc("2026-12-01T09:15:00Z"), now), utc("2026-12-01T18:00:00Z"));
        assert_eq!(bucket_hour(utc("2026-12-01T20:15:00Z"), now), utc("2026-12-01T20:00:00Z"));
    }

    #[test]
    fn quiet_hours_are_hh_mm_on_the_wire() {
        let q: QuietHours = serde_json::from_str(r#"{"start":"22:00","end":"07:00"}"#).unwrap();
        assert_eq!(serde_json::to_value(q).unwrap(), serde_json::json!({"start": "22:00", "end": "07:00"}));
        assert!(serde_json::from_str::<QuietHours>(r#"{"start":"25:00","end":"07:00"}"#).is_err());
    }
}
