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

use chrono::{
    DateTime, Datelike, Duration, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::platform::error::{ApiError, FieldError, FieldIssue};
use crate::platform::validate::Checks;

/// Upper bounds that keep every search finite and every rule meaningful.
pub const MAX_EVERY: u32 = 366;
const SEARCH_DAYS: i64 = 366 * 12;

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
    Once,
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
            Rule::Once => {}
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

/// Monday-based week number since the epoch, for every-N-weeks phases.
fn week_index(d: NaiveDate) -> i64 {
    let monday = d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
    (monday - NaiveDate::from_ymd_opt(1970, 1, 5).expect("a Monday")).num_days().div_euclid(7)
}

fn clamp_day(year: i32, month: u32, day: i64) -> u32 {
    let last = days_in_month(year, month);
    if day == -1 { last } else { (day as u32).min(last) }
}

impl Schedule {
    fn in_season(&self, d: NaiveDate) -> bool {
        self.active_months.is_empty() || self.active_months.contains(&d.month())
    }

    /// Whether a local date is an occurrence date of the rule (ignoring the season).
    fn matches(&self, d: NaiveDate) -> bool {
        if d < self.start {
            return false;
        }
        match &self.rule {
            Rule::Once => d == self.start,
            Rule::Interval { every, unit } => {
                let n = i64::from(*every);
                match unit {
                    Unit::Hours => true,
                    Unit::Days => (d - self.start).num_days() % n == 0,
                    Unit::Weeks => (d - self.start).num_days() % (7 * n) == 0,
                    Unit::Months => {
                        let k = month_index(d) - month_index(self.start);
                        k % n == 0 && d.day() == clamp_day(d.year(), d.month(), i64::from(self.start.day()))
                    }
                    Unit::Years => {
                        let k = i64::from(d.year() - self.start.year());
                        k % n == 0
                            && d.month() == self.start.month()
                            && d.day() == clamp_day(d.year(), d.month(), i64::from(self.start.day()))
                    }
                }
            }
            Rule::Weekly { every, weekdays } => {
                weekdays.contains(&d.weekday()) && (week_index(d) - week_index(self.start)) % i64::from(*every) == 0
            }
            Rule::MonthlyByDay { every, days } => {
                (month_index(d) - month_index(self.start)) % i64::from(*every) == 0
                    && days.iter().any(|day| clamp_day(d.year(), d.month(), i64::from(*day)) == d.day())
            }
            Rule::MonthlyByWeekday { every, nth, weekday } => {
                if (month_index(d) - month_index(self.start)) % i64::from(*every) != 0 || d.weekday() != *weekday {
                    return false;
                }
                if *nth == -1 {
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

    /// The instant of a local date at the chore's time of day (gaps and overlaps resolved
    /// as the module documentation says).
    pub fn at(&self, date: NaiveDate) -> DateTime<Utc> {
        local_instant(self.timezone, date.and_time(self.time_of_day))
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.timezone).date_naive()
    }

    /// The first occurrence strictly after `after`, in season.
    pub fn first_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Rule::Interval { every, unit: Unit::Hours } = self.rule {
            let first = self.at(self.start);
            if first > after {
                return Some(first);
            }
            let step = Duration::hours(i64::from(every));
            let k = (after - first).num_seconds() / step.num_seconds() + 1;
            let mut t = first + step * k as i32;
            for _ in 0..(24 * 366) {
                if self.in_season(self.local_date(t)) {
                    return Some(t);
                }
                t += step;
            }
            return None;
        }
        let mut d = self.local_date(after).max(self.start) - Duration::days(1);
        for _ in 0..SEARCH_DAYS {
            d += Duration::days(1);
            if self.matches(d) && self.in_season(d) {
                let t = self.at(d);
                if t > after {
                    return Some(t);
                }
            }
        }
        None
    }

    /// The next due instant after an occurrence that was due at `due` and completed (or
    /// skipped) at `done`. `None`: the chore does not recur.
    pub fn next_due(&self, due: DateTime<Utc>, done: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match (self.anchor, &self.rule) {
            (_, Rule::Once) => None,
            (Anchor::Fixed, _) => self.first_after(due),
            (Anchor::Rolling, Rule::Interval { every, unit }) => {
                let n = *every;
                let next = match unit {
                    Unit::Hours => done + Duration::hours(i64::from(n)),
                    _ => self.at(add_interval(self.local_date(done), n, *unit)),
                };
                self.season_forward(next)
            }
            // Pattern rules keep their pattern: the next matching date after completion.
            (Anchor::Rolling, _) => self.first_after(done.max(due)),
        }
    }

    /// Moves an instant forward to the first day of the next active month, if needed.
    fn season_forward(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut d = self.local_date(t);
        if self.in_season(d) {
            return Some(t);
        }
        for _ in 0..12 {
            d = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("first of month") + Months::new(1);
            if self.in_season(d) {
                return Some(self.at(d));
            }
        }
        None
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

fn add_interval(d: NaiveDate, n: u32, unit: Unit) -> NaiveDate {
    match unit {
        Unit::Hours => d,
        Unit::Days => d + Duration::days(i64::from(n)),
        Unit::Weeks => d + Duration::days(7 * i64::from(n)),
        Unit::Months => d + Months::new(n),
        Unit::Years => d + Months::new(12 * n),
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
        let once = schedule(Rule::Once, d(2026, 11, 1), 9, 0);
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
