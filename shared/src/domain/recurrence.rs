//! Recurrence: when a chore is next due. Pure and property-tested.
//!
//! Rules are evaluated on local dates in the chore's IANA time zone, then placed at the
//! chore's local time of day, so a daily 08:00 chore stays at 08:00 local across DST.
//!
//! Local times that do not exist or exist twice are resolved deterministically:
//! - a time in a spring-forward gap (e.g. 02:30 on the day clocks jump 02:00 → 03:00) moves
//!   forward by the length of the gap (→ 03:30), the same wall-clock distance past the jump;
//! - a time that occurs twice on a fall-back day is the earlier (first) of the two.
//!
//! A monthly chore on the 29th–31st falls on the last day of shorter months and returns to
//! its day afterwards; a yearly chore on 29 February falls on 28 February in other years.
//!
//! The next date is computed from the rule, not searched for day by day, so "every 150
//! months" costs what "every day" costs; out-of-season stretches are jumped a month at a
//! time, so a season reached only in a later cycle is found. Occurrences lie in the date
//! window (`platform::validate::LAST_DATE`): a chore whose next occurrence would fall later
//! ends, and a rule with no occurrence at all is refused when a chore is created or changed.

use chrono::{
    DateTime, Datelike, Days, Duration, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::platform::error::{ApiError, FieldError, FieldIssue};
use crate::platform::validate::{Checks, LAST_DATE};

/// The largest `every` of any rule.
pub const MAX_EVERY: u32 = 366;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

/// Which occurrence of a weekday in its month: 1–4, or -1 for the last.
pub type Nth = i8;

/// A day of the month: 1–31 (clamped to the month's length), or -1 for the last day.
pub type MonthDay = i8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Rule {
    /// Due once; completing it ends the chore.
    Once {},
    /// Every N hours, days, weeks, months or years.
    Interval { every: u32, unit: Unit },
    /// On the chosen weekdays, every N weeks.
    Weekly { every: u32, weekdays: Vec<Weekday> },
    /// On days of the month (-1 = last day), every N months.
    MonthlyByDay { every: u32, days: Vec<MonthDay> },
    /// On the nth weekday of the month ("2nd Tuesday", "last Friday"), every N months.
    MonthlyByWeekday { every: u32, nth: Nth, weekday: Weekday },
    /// Once a year on a date.
    Yearly { month: u32, day: u32 },
}

/// From what the next due date is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    /// From the scheduled due date: a late completion does not shift the schedule.
    #[default]
    Fixed,
    /// From the completion time: "every 3 days after I last did it".
    Rolling,
}

/// Everything that decides when a chore is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub rule: Rule,
    pub anchor: Anchor,
    /// The first due date (local): the phase of every-N rules counts from it.
    pub start: NaiveDate,
    pub time_of_day: NaiveTime,
    pub timezone: Tz,
    /// Seasonal chores: months (1–12) in which occurrences fall; empty = all year.
    pub active_months: Vec<u32>,
}

impl Rule {
    /// Field errors for a rule as a client sent it (`field` is the JSON path prefix).
    pub fn check(&self, field: &str, checks: &mut Checks) {
        let every =
            |checks: &mut Checks, n: u32| checks.range(&format!("{field}.every"), n.into(), 1, MAX_EVERY.into());
        match self {
            Rule::Once {} => {}
            Rule::Interval { every: n, .. } => every(checks, *n),
            Rule::Weekly { every: n, weekdays } => {
                every(checks, *n);
                if weekdays.is_empty() {
                    checks.push(FieldError::new(format!("{field}.weekdays"), FieldIssue::TooShort).with("min", 1));
                }
            }
            Rule::MonthlyByDay { every: n, days } => {
                every(checks, *n);
                if days.is_empty() {
                    checks.push(FieldError::new(format!("{field}.days"), FieldIssue::TooShort).with("min", 1));
                }
                for d in days {
                    if !(*d == -1 || (1..=31).contains(d)) {
                        checks.push(
                            FieldError::new(format!("{field}.days"), FieldIssue::OutOfRange)
                                .with("min", -1)
                                .with("max", 31),
                        );
                    }
                }
            }
            Rule::MonthlyByWeekday { every: n, nth, .. } => {
                every(checks, *n);
                if !(*nth == -1 || (1..=4).contains(nth)) {
                    checks.push(
                        FieldError::new(format!("{field}.nth"), FieldIssue::OutOfRange).with("min", -1).with("max", 4),
                    );
                }
            }
            Rule::Yearly { month, day } => {
                checks.range(&format!("{field}.month"), (*month).into(), 1, 12);
                let max = days_in_month(2024, (*month).clamp(1, 12)); // a leap year: 29 Feb is allowed
                checks.range(&format!("{field}.day"), (*day).into(), 1, max.into());
            }
        }
    }

    pub fn validate(&self, field: &str) -> Result<(), ApiError> {
        let mut checks = Checks::new();
        self.check(field, &mut checks);
        checks.finish()
    }
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
    let next = first + Months::new(1);
    (next - first).num_days() as u32
}

fn month_index(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// The year and month (1–12) of a month index; `None` past the date window.
fn month_of(index: i64) -> Option<(i32, u32)> {
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    (year <= LAST_DATE.year()).then_some((year, index.rem_euclid(12) as u32 + 1))
}

/// The Monday every week index counts from.
const EPOCH_MONDAY: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 5) {
    Some(d) => d,
    None => panic!("a Monday"),
};

/// Monday-based week number since the epoch, for every-N-weeks phases.
fn week_index(d: NaiveDate) -> i64 {
    (d - EPOCH_MONDAY).num_days().div_euclid(7)
}

/// The smallest `k >= 0` with `from + k * step >= target`.
fn steps_to(from: i64, target: i64, step: i64) -> i64 {
    if target <= from { 0 } else { (target - from + step - 1) / step }
}

fn clamp_day(year: i32, month: u32, day: i64) -> u32 {
    let last = days_in_month(year, month);
    if day == -1 { last } else { (day as u32).min(last) }
}

/// The date of the nth (1–4, or -1 for the last) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, nth: Nth, weekday: Weekday) -> Option<NaiveDate> {
    if nth == -1 {
        let last = NaiveDate::from_ymd_opt(year, month, days_in_month(year, month))?;
        let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
        last.checked_sub_days(Days::new(u64::from(back)))
    } else {
        NaiveDate::from_weekday_of_month_opt(year, month, weekday, u8::try_from(nth).ok()?)
    }
}

/// Upper bound on the passes of a search; each pass moves at least a month forward, so the
/// date window ends every search long before (it holds about 2,800 months).
const MAX_PASSES: usize = 4000;

impl Schedule {
    fn in_season(&self, d: NaiveDate) -> bool {
        self.active_months.is_empty() || self.active_months.contains(&d.month())
    }

    /// The first day of the first active month after the month of `d`.
    fn next_season_start(&self, d: NaiveDate) -> Option<NaiveDate> {
        let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1)?;
        (1..=12).filter_map(|k| first.checked_add_months(Months::new(k))).find(|m| self.in_season(*m))
    }

    /// The first date on or after `d` (and the start) that the rule falls on, ignoring the
    /// season and the time of day: computed, not searched, so any `every` costs the same.
    /// `None` past the date window.
    fn next_date_from(&self, d: NaiveDate) -> Option<NaiveDate> {
        let d = d.max(self.start);
        if d > LAST_DATE {
            return None;
        }
        let every_days = |n: i64| {
            let k = steps_to(0, (d - self.start).num_days(), n);
            self.start.checked_add_days(Days::new(u64::try_from(k * n).ok()?))
        };
        let found = match &self.rule {
            Rule::Once {} => (d == self.start).then_some(d),
            Rule::Interval { every, unit } => {
                let n = i64::from(*every);
                match unit {
                    Unit::Hours => Some(d),
                    Unit::Days => every_days(n),
                    Unit::Weeks => every_days(7 * n),
                    Unit::Months => self.every_nth_month(d, n, |y, m| vec![clamp_day(y, m, self.start.day().into())]),
                    Unit::Years => {
                        self.every_nth_month(d, 12 * n, |y, m| vec![clamp_day(y, m, self.start.day().into())])
                    }
                }
            }
            Rule::Weekly { every, weekdays } => {
                let n = i64::from(*every);
                let first_week = week_index(self.start);
                let k = steps_to(first_week, week_index(d), n);
                let mut offsets: Vec<u64> = weekdays.iter().map(|w| u64::from(w.num_days_from_monday())).collect();
                offsets.sort_unstable();
                // The first chosen week may have all its days before `d`; the next one never has.
                let mut found = None;
                for week in [first_week + k * n, first_week + (k + 1) * n] {
                    let monday = EPOCH_MONDAY.checked_add_days(Days::new(u64::try_from(week * 7).ok()?))?;
                    found = offsets.iter().filter_map(|o| monday.checked_add_days(Days::new(*o))).find(|x| *x >= d);
                    if found.is_some() {
                        break;
                    }
                }
                found
            }
            Rule::MonthlyByDay { every, days } => self.every_nth_month(d, i64::from(*every), |y, m| {
                let mut ds: Vec<u32> = days.iter().map(|day| clamp_day(y, m, i64::from(*day))).collect();
                ds.sort_unstable();
                ds
            }),
            Rule::MonthlyByWeekday { every, nth, weekday } => self.every_nth_month(d, i64::from(*every), |y, m| {
                nth_weekday(y, m, *nth, *weekday).map(|x| x.day()).into_iter().collect()
            }),
            Rule::Yearly { month, day } => (d.year()..=d.year() + 1)
                .filter_map(|y| NaiveDate::from_ymd_opt(y, *month, clamp_day(y, *month, i64::from(*day))))
                .find(|x| *x >= d),
        };
        found.filter(|x| *x <= LAST_DATE)
    }

    /// The first date on or after `d` in the months `start + k * n` (k >= 0), on the days
    /// (ascending) that `days_of` gives for a month.
    fn every_nth_month(&self, d: NaiveDate, n: i64, days_of: impl Fn(i32, u32) -> Vec<u32>) -> Option<NaiveDate> {
        let first = month_index(self.start);
        let k = steps_to(first, month_index(d), n);
        // If every day of the first chosen month is before `d`, the next chosen month is after it.
        for index in [first + k * n, first + (k + 1) * n] {
            let (y, m) = month_of(index)?;
            let found =
                days_of(y, m).into_iter().filter_map(|day| NaiveDate::from_ymd_opt(y, m, day)).find(|x| *x >= d);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The first occurrence date on or after `d`, in season.
    fn next_in_season(&self, mut d: NaiveDate) -> Option<NaiveDate> {
        for _ in 0..MAX_PASSES {
            let found = self.next_date_from(d)?;
            if self.in_season(found) {
                return Some(found);
            }
            d = self.next_season_start(found)?;
        }
        None
    }

    /// The instant of a local date at the chore's time of day (gaps and overlaps resolved
    /// as the module documentation says).
    pub fn at(&self, date: NaiveDate) -> DateTime<Utc> {
        local_instant(self.timezone, date.and_time(self.time_of_day))
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.timezone).date_naive()
    }

    /// The first occurrence strictly after `after`, in season and in the date window; `None`
    /// if there is none. Bounded for every rule the API accepts: dates are computed from the
    /// rule, and out-of-season stretches are jumped a month at a time.
    pub fn first_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Rule::Interval { every, unit: Unit::Hours } = self.rule {
            return self.hourly_after(after, every);
        }
        let mut d = self.local_date(after).max(self.start);
        // A date's occurrence can be at or before `after` only on `after`'s own date.
        for _ in 0..3 {
            let found = self.next_in_season(d)?;
            let t = self.at(found);
            if t > after {
                return Some(t);
            }
            d = found.succ_opt()?;
        }
        None
    }

    /// Hourly chores run on elapsed time from the first due instant.
    fn hourly_after(&self, after: DateTime<Utc>, every: u32) -> Option<DateTime<Utc>> {
        let first = self.at(self.start);
        let step = i64::from(every) * 3600;
        let mut from = after;
        for _ in 0..MAX_PASSES {
            let k = if first > from { 0 } else { (from - first).num_seconds() / step + 1 };
            let t = first + Duration::seconds(k.checked_mul(step)?);
            let d = self.local_date(t);
            if d > LAST_DATE {
                return None;
            }
            if self.in_season(d) {
                return Some(t);
            }
            let next = self.next_season_start(d)?;
            from = local_instant(self.timezone, next.and_time(NaiveTime::MIN)) - Duration::seconds(1);
        }
        None
    }

    /// The next due instant after an occurrence that was due at `due` and completed (or
    /// skipped) at `done`. `None`: the chore does not recur (or no occurrence is left in the
    /// date window).
    pub fn next_due(&self, due: DateTime<Utc>, done: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match (self.anchor, &self.rule) {
            (_, Rule::Once {}) => None,
            (Anchor::Fixed, _) => self.first_after(due),
            (Anchor::Rolling, Rule::Interval { every, unit }) => {
                // Counted from the completion, but never from before the occurrence's own due
                // time: an early completion must not bring the same occurrence back.
                let from = done.max(due);
                let next = match unit {
                    Unit::Hours => from + Duration::hours(i64::from(*every)),
                    _ => self.at(add_interval(self.local_date(from), *every, *unit)?),
                };
                self.season_forward(next)
            }
            // Pattern rules keep their pattern: the next matching date after completion.
            (Anchor::Rolling, _) => self.first_after(done.max(due)),
        }
    }

    /// The next due instant of an adaptive chore, `interval` (learned from completions)
    /// after the completion `done`, placed like every other occurrence: on the local date the
    /// interval ends, at the chore's time of day (hourly rules: elapsed time), moved into the
    /// season, after both `due` and `done`. The interval is never shorter than half the
    /// rule's own spacing after `due`, so completing early cannot shrink it towards nothing.
    /// `None` where the rule itself has no next occurrence.
    pub fn adaptive_next(&self, due: DateTime<Utc>, done: DateTime<Utc>, interval: Duration) -> Option<DateTime<Utc>> {
        let rule_next = self.next_due(due, due)?;
        let target = (done + interval).max(due + (rule_next - due) / 2);
        let t = match self.rule {
            Rule::Interval { unit: Unit::Hours, .. } => target,
            _ => {
                let mut d = self.local_date(target);
                while self.at(d) <= due.max(done) {
                    d = d.succ_opt()?;
                }
                self.at(d)
            }
        };
        self.season_forward(t)
    }

    /// Moves an instant forward to the first day of the next active month, if needed; `None`
    /// past the date window.
    fn season_forward(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let d = self.local_date(t);
        let t = if self.in_season(d) { t } else { self.at(self.next_season_start(d)?) };
        (self.local_date(t) <= LAST_DATE).then_some(t)
    }

    /// Occurrences with `from <= t < to`, at most `limit`, starting from `first_due`.
    pub fn occurrences(
        &self,
        first_due: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut next = Some(first_due);
        while let Some(t) = next {
            if t >= to || out.len() >= limit {
                break;
            }
            if t >= from {
                out.push(t);
            }
            next = self.next_due(t, t);
        }
        out
    }
}

fn add_interval(d: NaiveDate, n: u32, unit: Unit) -> Option<NaiveDate> {
    match unit {
        Unit::Hours => Some(d),
        Unit::Days => d.checked_add_days(Days::new(u64::from(n))),
        Unit::Weeks => d.checked_add_days(Days::new(7 * u64::from(n))),
        Unit::Months => d.checked_add_months(Months::new(n)),
        Unit::Years => d.checked_add_months(Months::new(12 * n)),
    }
}

/// A local date-time in a zone as an instant: the earlier of two on a fall-back overlap;
/// on a spring-forward gap, pushed forward by the gap's length.
pub fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // Find where the gap ends; the offset after the jump tells its length.
            let mut probe = local;
            for _ in 0..(4 * 60) {
                probe += Duration::minutes(1);
                if let LocalResult::Single(t) | LocalResult::Ambiguous(t, _) = tz.from_local_datetime(&probe) {
                    let before = tz.offset_from_utc_datetime(&(t.naive_utc() - Duration::hours(6)));
                    let after = tz.offset_from_utc_datetime(&t.naive_utc());
                    let gap =
                        chrono::Offset::fix(&after).local_minus_utc() - chrono::Offset::fix(&before).local_minus_utc();
                    let shifted = local + Duration::seconds(i64::from(gap.max(60)));
                    return match tz.from_local_datetime(&shifted) {
                        LocalResult::Single(s) | LocalResult::Ambiguous(s, _) => s.with_timezone(&Utc),
                        LocalResult::None => t.with_timezone(&Utc),
                    };
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

/// The interval learned from recent completions, weighted towards the latest: gap i (oldest
/// first) weighs 2^i. Needs at least two completions; never shorter than an hour.
pub fn adaptive_interval(completions: &[DateTime<Utc>]) -> Option<Duration> {
    let mut sorted: Vec<_> = completions.to_vec();
    sorted.sort();
    let recent = &sorted[sorted.len().saturating_sub(9)..];
    if recent.len() < 2 {
        return None;
    }
    let (mut sum, mut weights) = (0f64, 0f64);
    for (i, pair) in recent.windows(2).enumerate() {
        let w = 2f64.powi(i as i32);
        sum += w * (pair[1] - pair[0]).num_seconds() as f64;
        weights += w;
    }
    Some(Duration::seconds((sum / weights).round() as i64).max(Duration::hours(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use proptest::prelude::*;

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn schedule(rule: Rule, start: NaiveDate, hh: u32, mm: u32) -> Schedule {
        Schedule {
            rule,
            anchor: Anchor::Fixed,
            start,
            time_of_day: NaiveTime::from_hms_opt(hh, mm, 0).unwrap(),
            timezone: berlin(),
            active_months: vec![],
        }
    }

    fn local(t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&berlin()).naive_local()
    }

    #[test]
    fn a_rule_with_a_field_it_does_not_have_is_refused_whatever_its_type() {
        for text in [
            r#"{"type":"once","every":1}"#,
            r#"{"type":"once","x":42}"#,
            r#"{"type":"interval","every":1,"unit":"days","weekdays":["Mon"]}"#,
            r#"{"type":"yearly","month":1,"day":1,"every":2}"#,
        ] {
            assert!(serde_json::from_str::<Rule>(text).is_err(), "{text}");
        }
        assert_eq!(serde_json::from_str::<Rule>(r#"{"type":"once"}"#).unwrap(), Rule::Once {});
        assert_eq!(serde_json::to_string(&Rule::Once {}).unwrap(), r#"{"type":"once"}"#);
    }

    #[test]
    fn a_daily_chore_stays_at_eight_local_across_dst() {
        // Clocks go forward in Berlin on 29 March 2026 and back on 25 October 2026.
        let s = schedule(Rule::Interval { every: 1, unit: Unit::Days }, d(2026, 3, 27), 8, 0);
        let all = s.occurrences(s.at(s.start), s.at(s.start), s.at(d(2026, 4, 1)), 10);
        let locals: Vec<_> = all.iter().map(|t| local(*t)).collect();
        assert_eq!(locals.len(), 5);
        assert!(locals.iter().all(|l| l.hour() == 8 && l.minute() == 0));
        assert_eq!(all[2] - all[1], Duration::hours(23), "the spring-forward day is 23 hours long");
        let autumn = schedule(Rule::Interval { every: 1, unit: Unit::Days }, d(2026, 10, 24), 8, 0);
        let next = autumn.next_due(autumn.at(d(2026, 10, 24)), autumn.at(d(2026, 10, 24))).unwrap();
        assert_eq!(next - autumn.at(d(2026, 10, 24)), Duration::hours(25));
    }

    #[test]
    fn the_31st_falls_on_the_last_day_of_shorter_months_and_returns() {
        let s = schedule(Rule::MonthlyByDay { every: 1, days: vec![31] }, d(2026, 1, 31), 9, 0);
        let dates: Vec<NaiveDate> = s
            .occurrences(s.at(s.start), s.at(s.start), s.at(d(2026, 6, 1)), 10)
            .iter()
            .map(|t| local(*t).date())
            .collect();
        assert_eq!(dates, [d(2026, 1, 31), d(2026, 2, 28), d(2026, 3, 31), d(2026, 4, 30), d(2026, 5, 31)]);
        let last = schedule(Rule::MonthlyByDay { every: 1, days: vec![-1] }, d(2028, 1, 1), 9, 0);
        let feb = last.first_after(last.at(d(2028, 1, 31))).unwrap();
        assert_eq!(local(feb).date(), d(2028, 2, 29));
        let interval = schedule(Rule::Interval { every: 1, unit: Unit::Months }, d(2026, 1, 31), 9, 0);
        assert_eq!(local(interval.first_after(interval.at(d(2026, 1, 31))).unwrap()).date(), d(2026, 2, 28));
        assert_eq!(local(interval.first_after(interval.at(d(2026, 2, 28))).unwrap()).date(), d(2026, 3, 31));
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_moves_forward_by_the_gap() {
        let s = schedule(Rule::Interval { every: 1, unit: Unit::Days }, d(2026, 3, 28), 2, 30);
        let on_gap_day = s.first_after(s.at(d(2026, 3, 28))).unwrap();
        assert_eq!(local(on_gap_day), d(2026, 3, 29).and_hms_opt(3, 30, 0).unwrap());
        let after = s.first_after(on_gap_day).unwrap();
        assert_eq!(local(after), d(2026, 3, 30).and_hms_opt(2, 30, 0).unwrap());
        // On the fall-back day 02:30 happens twice: the first one counts.
        let autumn = s.at(d(2026, 10, 25));
        assert_eq!(autumn, Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap());
    }

    #[test]
    fn nth_weekday_and_weekly_rules() {
        let second_tuesday =
            schedule(Rule::MonthlyByWeekday { every: 1, nth: 2, weekday: Weekday::Tue }, d(2026, 1, 1), 18, 0);
        let t = second_tuesday.first_after(second_tuesday.at(d(2026, 1, 1))).unwrap();
        assert_eq!(local(t).date(), d(2026, 1, 13));
        let last_friday =
            schedule(Rule::MonthlyByWeekday { every: 1, nth: -1, weekday: Weekday::Fri }, d(2026, 1, 1), 18, 0);
        assert_eq!(local(last_friday.first_after(last_friday.at(d(2026, 1, 1))).unwrap()).date(), d(2026, 1, 30));
        let mon_thu =
            schedule(Rule::Weekly { every: 1, weekdays: vec![Weekday::Mon, Weekday::Thu] }, d(2026, 11, 2), 7, 0);
        let dates: Vec<_> = mon_thu
            .occurrences(mon_thu.at(d(2026, 11, 2)), mon_thu.at(d(2026, 11, 2)), mon_thu.at(d(2026, 11, 13)), 10)
            .iter()
            .map(|t| local(*t).date())
            .collect();
        assert_eq!(dates, [d(2026, 11, 2), d(2026, 11, 5), d(2026, 11, 9), d(2026, 11, 12)]);
        let fortnightly = schedule(Rule::Weekly { every: 2, weekdays: vec![Weekday::Sat] }, d(2026, 11, 7), 10, 0);
        assert_eq!(local(fortnightly.first_after(fortnightly.at(d(2026, 11, 7))).unwrap()).date(), d(2026, 11, 21));
    }

    #[test]
    fn rolling_counts_from_completion_and_fixed_from_the_due_date() {
        let mut s = schedule(Rule::Interval { every: 3, unit: Unit::Days }, d(2026, 11, 1), 9, 0);
        let due = s.at(d(2026, 11, 1));
        let late = due + Duration::days(2);
        assert_eq!(local(s.next_due(due, late).unwrap()).date(), d(2026, 11, 4));
        s.anchor = Anchor::Rolling;
        assert_eq!(local(s.next_due(due, late).unwrap()).date(), d(2026, 11, 6));
        let once = schedule(Rule::Once {}, d(2026, 11, 1), 9, 0);
        assert_eq!(once.next_due(due, due), None);
    }

    #[test]
    fn seasonal_chores_skip_inactive_months_and_yearly_leap_days_clamp() {
        let mut mow = schedule(Rule::Interval { every: 1, unit: Unit::Weeks }, d(2026, 10, 26), 10, 0);
        mow.active_months = vec![4, 5, 6, 7, 8, 9, 10];
        let next = mow.first_after(mow.at(d(2026, 10, 26))).unwrap();
        assert_eq!(local(next).date().month(), 4);
        assert_eq!(local(next).date().year(), 2027);
        let leap = schedule(Rule::Yearly { month: 2, day: 29 }, d(2024, 2, 29), 9, 0);
        assert_eq!(local(leap.first_after(leap.at(d(2024, 2, 29))).unwrap()).date(), d(2025, 2, 28));
    }

    #[test]
    fn bad_rules_name_their_fields() {
        let err = Rule::MonthlyByDay { every: 0, days: vec![32] }.validate("recurrence").unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["recurrence.every", "recurrence.days"]);
        assert!(Rule::Weekly { every: 1, weekdays: vec![] }.validate("r").is_err());
        assert!(Rule::Yearly { month: 2, day: 30 }.validate("r").is_err());
        assert!(Rule::Yearly { month: 2, day: 29 }.validate("r").is_ok());
        let json: Rule =
            serde_json::from_str(r#"{"type":"monthlyByWeekday","every":1,"nth":-1,"weekday":"Fri"}"#).unwrap();
        assert_eq!(json, Rule::MonthlyByWeekday { every: 1, nth: -1, weekday: Weekday::Fri });
    }

    /// The first local date (from `first`) of each of the next `n` occurrences, by `first_after`.
    fn dates_from(s: &Schedule, first: NaiveDate, n: usize) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut after = s.at(first) - Duration::seconds(1);
        while out.len() < n {
            let Some(t) = s.first_after(after) else { break };
            out.push(local(t).date());
            after = t;
        }
        out
    }

    #[test]
    fn long_periods_fire_however_far_their_next_occurrence_is() {
        // Every 150 months = 12 years 6 months; yearly every 20; every 366 weeks (2,562 days).
        let s = schedule(Rule::Interval { every: 150, unit: Unit::Months }, d(2026, 1, 15), 9, 0);
        assert_eq!(dates_from(&s, d(2026, 1, 15), 3), [d(2026, 1, 15), d(2038, 7, 15), d(2051, 1, 15)]);
        let s = schedule(Rule::Interval { every: 20, unit: Unit::Years }, d(2026, 3, 1), 9, 0);
        assert_eq!(dates_from(&s, d(2026, 3, 1), 2), [d(2026, 3, 1), d(2046, 3, 1)]);
        let s = schedule(Rule::Weekly { every: 366, weekdays: vec![Weekday::Mon] }, d(2026, 1, 5), 9, 0);
        assert_eq!(dates_from(&s, d(2026, 1, 5), 2), [d(2026, 1, 5), d(2033, 1, 10)]);
        let s = schedule(Rule::MonthlyByWeekday { every: 100, nth: -1, weekday: Weekday::Fri }, d(2026, 1, 1), 9, 0);
        assert_eq!(dates_from(&s, d(2026, 1, 1), 2), [d(2026, 1, 30), d(2034, 5, 26)]);
        let s = schedule(Rule::Interval { every: 366, unit: Unit::Days }, d(2026, 1, 1), 9, 0);
        assert_eq!(dates_from(&s, d(2026, 1, 1), 2), [d(2026, 1, 1), d(2027, 1, 2)]);
    }

    #[test]
    fn seasons_reached_only_in_a_later_cycle_are_found_and_unreachable_ones_give_none() {
        // Every 5 months from January: Jan, Jun, Nov, Apr, Sep, Feb, Jul, Dec, May, Oct, Mar
        // (the 11th, 50 months on).
        let mut s = schedule(Rule::Interval { every: 5, unit: Unit::Months }, d(2026, 1, 10), 9, 0);
        s.active_months = vec![3];
        assert_eq!(dates_from(&s, d(2026, 1, 10), 2), [d(2030, 3, 10), d(2035, 3, 10)]);
        // Every 25 months from January reaches December after 11 steps: 275 months, 22 years on.
        let mut s = schedule(Rule::MonthlyByDay { every: 25, days: vec![10] }, d(2026, 1, 10), 9, 0);
        s.active_months = vec![12];
        assert_eq!(dates_from(&s, d(2026, 1, 10), 1), [d(2048, 12, 10)]);
        // Every 6 months from January is only ever January and July.
        let mut s = schedule(Rule::Interval { every: 6, unit: Unit::Months }, d(2026, 1, 10), 9, 0);
        s.active_months = vec![3, 4, 5];
        assert_eq!(s.first_after(s.at(d(2026, 1, 1))), None);
        let mut s = schedule(Rule::Yearly { month: 3, day: 5 }, d(2026, 1, 1), 9, 0);
        s.active_months = vec![6];
        assert_eq!(s.first_after(s.at(d(2026, 1, 1))), None);
        // An hourly chore in a June-only season: the first hour of June, local time.
        let mut s = schedule(Rule::Interval { every: 1, unit: Unit::Hours }, d(2026, 11, 2), 8, 0);
        s.active_months = vec![6];
        assert_eq!(s.first_after(s.at(d(2026, 11, 2))), Some(Utc.with_ymd_and_hms(2027, 5, 31, 22, 0, 0).unwrap()));
    }

    #[test]
    fn no_occurrence_is_scheduled_past_the_date_window() {
        let s = schedule(Rule::MonthlyByDay { every: 1, days: vec![1] }, d(2200, 12, 2), 9, 0);
        assert_eq!(s.first_after(s.at(d(2200, 12, 2))), None, "the next 1st is in 2201");
        let daily = schedule(Rule::Interval { every: 1, unit: Unit::Days }, d(2200, 12, 30), 9, 0);
        assert_eq!(dates_from(&daily, d(2200, 12, 30), 5), [d(2200, 12, 30), d(2200, 12, 31)]);
        let last = daily.at(d(2200, 12, 31));
        assert_eq!(daily.next_due(last, last), None);
        let mut rolling = schedule(Rule::Interval { every: 366, unit: Unit::Years }, d(2200, 1, 1), 9, 0);
        rolling.anchor = Anchor::Rolling;
        assert_eq!(rolling.next_due(rolling.at(d(2200, 1, 1)), rolling.at(d(2200, 1, 1))), None);
    }

    #[test]
    fn an_early_rolling_completion_counts_from_the_due_time() {
        // Due tomorrow at 08:00, done tonight at 21:00: the next one is the day after
        // tomorrow, not tomorrow's 08:00 again.
        let mut s = schedule(Rule::Interval { every: 1, unit: Unit::Days }, d(2026, 11, 2), 8, 0);
        s.anchor = Anchor::Rolling;
        let due = s.at(d(2026, 11, 3));
        let done = berlin().with_ymd_and_hms(2026, 11, 2, 21, 0, 0).unwrap().with_timezone(&Utc);
        assert_eq!(local(s.next_due(due, done).unwrap()), d(2026, 11, 4).and_hms_opt(8, 0, 0).unwrap());
    }

    #[test]
    fn adaptive_keeps_the_local_time_and_the_season() {
        let mut s = schedule(Rule::Interval { every: 1, unit: Unit::Days }, d(2026, 3, 1), 8, 0);
        s.active_months = (4..=10).collect();
        let at = |y, m, day, h| berlin().with_ymd_and_hms(y, m, day, h, 0, 0).unwrap().with_timezone(&Utc);
        // Learned 3 days, done at 19:00 on 10 June: 13 June, at 08:00 local.
        let next = s.adaptive_next(at(2026, 6, 10, 8), at(2026, 6, 10, 19), Duration::days(3)).unwrap();
        assert_eq!(local(next), d(2026, 6, 13).and_hms_opt(8, 0, 0).unwrap());
        // Ending on 2 November, out of season: 1 April, 08:00 local (summer time again).
        let next = s.adaptive_next(at(2026, 10, 30, 8), at(2026, 10, 30, 18), Duration::days(3)).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2027, 4, 1, 6, 0, 0).unwrap());
        // A learned hour is no shorter than half the rule's day: the next day, not today.
        let next = s.adaptive_next(at(2026, 6, 10, 8), at(2026, 6, 10, 7), Duration::hours(1)).unwrap();
        assert_eq!(local(next), d(2026, 6, 11).and_hms_opt(8, 0, 0).unwrap());
        let once = schedule(Rule::Once {}, d(2026, 6, 10), 8, 0);
        assert_eq!(once.adaptive_next(at(2026, 6, 10, 8), at(2026, 6, 10, 8), Duration::days(1)), None);
    }

    #[test]
    fn adaptive_interval_leans_towards_the_latest_gaps() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap();
        assert_eq!(adaptive_interval(&[t0]), None);
        let done = [t0, t0 + Duration::days(10), t0 + Duration::days(12), t0 + Duration::days(14)];
        let learned = adaptive_interval(&done).unwrap();
        assert!(learned < Duration::days(4) && learned > Duration::days(2), "{learned:?}");
    }

    fn zones() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            "Europe/Berlin",
            "America/New_York",
            "Australia/Sydney",
            "Asia/Kolkata",
            "America/Santiago",
            "Pacific/Auckland",
            "UTC",
            "Australia/Lord_Howe",
        ])
        .prop_map(|z| z.parse::<Tz>().unwrap())
    }

    fn weekdays() -> impl Strategy<Value = Vec<Weekday>> {
        prop::collection::btree_set(0u8..7, 1..4)
            .prop_map(|s| s.into_iter().map(|i| Weekday::try_from(i).unwrap()).collect())
    }

    fn rules() -> impl Strategy<Value = Rule> {
        prop_oneof![
            (1u32..48).prop_map(|every| Rule::Interval { every, unit: Unit::Hours }),
            (1u32..20, prop::sample::select(vec![Unit::Days, Unit::Weeks, Unit::Months, Unit::Years]))
                .prop_map(|(every, unit)| Rule::Interval { every, unit }),
            (1u32..4, weekdays()).prop_map(|(every, weekdays)| Rule::Weekly { every, weekdays }),
            (1u32..4, prop::collection::vec(prop_oneof![Just(-1i8), 1i8..=31], 1..4))
                .prop_map(|(every, days)| Rule::MonthlyByDay { every, days }),
            (1u32..4, prop_oneof![Just(-1i8), 1i8..=4], (0u8..7)).prop_map(|(every, nth, w)| Rule::MonthlyByWeekday {
                every,
                nth,
                weekday: Weekday::try_from(w).unwrap()
            }),
            (1u32..=12, 1u32..=28).prop_map(|(month, day)| Rule::Yearly { month, day }),
        ]
    }

    /// The oracle: whether a local date is an occurrence date (ignoring the season), checked
    /// one date at a time, the way the scheduler used to search, independent of the
    /// arithmetic in `next_date_from`.
    fn slow_matches(s: &Schedule, d: NaiveDate) -> bool {
        if d < s.start {
            return false;
        }
        let months = |every: i64| (month_index(d) - month_index(s.start)) % every == 0;
        match &s.rule {
            Rule::Once {} => d == s.start,
            Rule::Interval { every, unit } => {
                let n = i64::from(*every);
                match unit {
                    Unit::Hours => true,
                    Unit::Days => (d - s.start).num_days() % n == 0,
                    Unit::Weeks => (d - s.start).num_days() % (7 * n) == 0,
                    Unit::Months => months(n) && d.day() == clamp_day(d.year(), d.month(), s.start.day().into()),
                    Unit::Years => months(12 * n) && d.day() == clamp_day(d.year(), d.month(), s.start.day().into()),
                }
            }
            Rule::Weekly { every, weekdays } => {
                weekdays.contains(&d.weekday()) && (week_index(d) - week_index(s.start)) % i64::from(*every) == 0
            }
            Rule::MonthlyByDay { every, days } => {
                months(i64::from(*every))
                    && days.iter().any(|day| clamp_day(d.year(), d.month(), i64::from(*day)) == d.day())
            }
            Rule::MonthlyByWeekday { every, nth, weekday } => {
                months(i64::from(*every))
                    && d.weekday() == *weekday
                    && if *nth == -1 {
                        d.day() + 7 > days_in_month(d.year(), d.month())
                    } else {
                        (d.day() - 1) / 7 + 1 == *nth as u32
                    }
            }
            Rule::Yearly { month, day } => {
                d.month() == *month && d.day() == clamp_day(d.year(), *month, i64::from(*day))
            }
        }
    }

    /// Any rule the API accepts, `every` up to its maximum.
    fn any_rule() -> impl Strategy<Value = Rule> {
        prop_oneof![
            (1u32..=MAX_EVERY, prop::sample::select(vec![Unit::Days, Unit::Weeks, Unit::Months, Unit::Years]))
                .prop_map(|(every, unit)| Rule::Interval { every, unit }),
            (1u32..=MAX_EVERY, weekdays()).prop_map(|(every, weekdays)| Rule::Weekly { every, weekdays }),
            (1u32..=MAX_EVERY, prop::collection::vec(prop_oneof![Just(-1i8), 1i8..=31], 1..4))
                .prop_map(|(every, days)| Rule::MonthlyByDay { every, days }),
            (1u32..=MAX_EVERY, prop_oneof![Just(-1i8), 1i8..=4], (0u8..7)).prop_map(|(every, nth, w)| {
                Rule::MonthlyByWeekday { every, nth, weekday: Weekday::try_from(w).unwrap() }
            }),
            (1u32..=12, 1u32..=29).prop_map(|(month, day)| Rule::Yearly { month, day }),
            Just(Rule::Once {}),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The computed next occurrence is the one a date-by-date scan finds: for long
        /// periods and seasons reached only in later cycles too, and `None` only where the
        /// scan finds nothing up to the end of the date window.
        #[test]
        fn first_after_agrees_with_a_date_by_date_scan(
            rule in any_rule(),
            start_days in 0i64..(365 * 40),
            after_days in 0i64..(365 * 30),
            season in prop::option::of(prop::collection::btree_set(1u32..=12, 1..4)),
        ) {
            let start = d(1990, 1, 1) + Duration::days(start_days);
            let mut s = schedule(rule, start, 9, 30);
            s.active_months = season.map(|m| m.into_iter().collect()).unwrap_or_default();
            let after = s.at(start) + Duration::days(after_days) - Duration::hours(12);
            let fast = s.first_after(after);
            let mut day = s.local_date(after).max(start);
            let mut slow = None;
            while day <= LAST_DATE {
                if slow_matches(&s, day) && s.in_season(day) && s.at(day) > after {
                    slow = Some(s.at(day));
                    break;
                }
                day = day.succ_opt().unwrap();
            }
            prop_assert_eq!(fast, slow);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn occurrences_are_strictly_later_match_the_rule_and_keep_local_time(
            rule in rules(),
            tz in zones(),
            start_days in 0i64..800,
            hour in 0u32..24,
            minute in prop::sample::select(vec![0u32, 15, 30, 45]),
            rolling in any::<bool>(),
            season in prop::option::of(prop::collection::btree_set(1u32..=12, 3..12)),
        ) {
            let start = d(2025, 1, 1) + Duration::days(start_days);
            let s = Schedule {
                rule: rule.clone(),
                anchor: if rolling { Anchor::Rolling } else { Anchor::Fixed },
                start,
                time_of_day: NaiveTime::from_hms_opt(hour, minute, 0).unwrap(),
                timezone: tz,
                active_months: season.map(|m| m.into_iter().collect()).unwrap_or_default(),
            };
            let mut due = match s.first_after(s.at(start) - Duration::seconds(1)) {
                Some(t) => t,
                None => return Ok(()),
            };
            for _ in 0..12 {
                let Some(next) = s.next_due(due, due) else { break };
                prop_assert!(next > due, "{next} is not after {due}");
                let local = next.with_timezone(&tz).naive_local();
                if !s.active_months.is_empty() {
                    prop_assert!(s.active_months.contains(&local.month()));
                }
                let expected = start.and_time(s.time_of_day);
                let exact = tz.from_local_datetime(&local.date().and_time(s.time_of_day));
                if let Rule::Interval { unit: Unit::Hours, .. } = rule {
                    // Hourly chores run on elapsed time, not on the wall clock.
                } else if matches!(exact, LocalResult::Single(_)) {
                    prop_assert_eq!(local.time(), expected.time(), "local time drifted");
                }
                match &rule {
                    Rule::Weekly { weekdays, .. } => prop_assert!(weekdays.contains(&local.weekday())),
                    Rule::MonthlyByWeekday { weekday, .. } => prop_assert_eq!(local.weekday(), *weekday),
                    Rule::Yearly { month, .. } => prop_assert_eq!(local.month(), *month),
                    Rule::MonthlyByDay { days, .. } => prop_assert!(
                        days.iter().any(|day| clamp_day(local.year(), local.month(), i64::from(*day)) == local.day())
                    ),
                    _ => {}
                }
                due = next;
            }
        }
    }
}
