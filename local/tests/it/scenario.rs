//! Eight weeks of a household's chores through the local gateway, with a clock the test
//! moves: a daily, a Mon/Thu, a last-day-of-month and an every-3-days rolling chore, each
//! assigned differently, across the end of summer time in Berlin (25 October 2026). Every
//! due date, assignee and point is checked against what the test works out by hand.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use reqwest::Method;
use serde_json::{Value, json};
use shared::platform::clock::ManualClock;

use crate::support::{User, builder};

/// Berlin's UTC offset in hours on a date (at any time after 03:00 local).
fn berlin_offset(d: NaiveDate) -> i64 {
    if d >= NaiveDate::from_ymd_opt(2026, 10, 25).unwrap() { 1 } else { 2 }
}

/// A Berlin wall-clock time on a date, in UTC, by hand.
fn berlin(d: NaiveDate, hour: i64) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap()) + Duration::hours(hour - berlin_offset(d))
}

fn last_day_of_month(d: NaiveDate) -> NaiveDate {
    let first_next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1).unwrap()
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1).unwrap()
    };
    first_next.pred_opt().unwrap()
}

struct Chore {
    id: String,
    hour: i64,
    points: i64,
    /// The next due date after one on `d`, by hand.
    next: fn(NaiveDate) -> NaiveDate,
    /// Who the test expects to do the occurrence numbered `n` (from 0).
    who: fn(usize) -> usize,
    due: DateTime<Utc>,
    done: usize,
}

#[tokio::test]
async fn eight_weeks_of_chores_across_a_dst_change() {
    let start = NaiveDate::from_ymd_opt(2026, 10, 5).unwrap(); // a Monday
    assert_eq!(start.weekday(), Weekday::Mon);
    let clock = ManualClock::at(berlin(start, 0) - Duration::hours(1));
    let s = builder().clock(Arc::new(clock.clone())).start().await;
    let users = [s.user("ana").await, s.user("ben").await, s.user("cy").await];
    let [a, b, c] = &users;
    let h = s.household(a, "Scenario").await;
    s.join(a, &h, b, "member").await;
    s.join(a, &h, c, "member").await;
    s.call_with(
        a,
        Method::PATCH,
        &format!("/v1/households/{h}"),
        Some(json!({ "timezone": "Europe/Berlin" })),
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_status(200);
    let ids = |us: &[&User]| us.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
    let create = |body: Value| {
        let s = &s;
        let a = a.clone();
        let h = h.clone();
        async move {
            let r = s.call(&a, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await;
            r.assert_status(201);
            r.body
        }
    };
    let dishes = create(json!({ "title": "Dishes", "effort": 1, "dueTime": "20:00", "startDate": start,
        "recurrence": { "type": "interval", "every": 1, "unit": "days" },
        "assignment": { "type": "roundRobin" }, "pool": ids(&[a, b, c]) }))
    .await;
    let trash = create(json!({ "title": "Trash", "effort": 2, "dueTime": "07:00", "startDate": start,
        "recurrence": { "type": "weekly", "every": 1, "weekdays": ["Mon", "Thu"] },
        "assignment": { "type": "leastCompleted" }, "pool": ids(&[a, b, c]) }))
    .await;
    let bills = create(json!({ "title": "Bills", "effort": 3, "dueTime": "18:00", "startDate": start,
        "recurrence": { "type": "monthlyByDay", "every": 1, "days": [-1] },
        "assignment": { "type": "fixed", "userId": b.id } }))
    .await;
    let plants =
        create(json!({ "title": "Plants", "effort": 2, "dueTime": "09:00", "startDate": start, "anchor": "rolling",
        "recurrence": { "type": "interval", "every": 3, "unit": "days" },
        "assignment": { "type": "anyone" }, "pool": ids(&[a, c]) }))
        .await;

    let parse = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let mut chores = [
        Chore {
            id: dishes["taskId"].as_str().unwrap().into(),
            hour: 20,
            points: 10,
            next: |d| d + Duration::days(1),
            who: |n| n % 3,
            due: parse(&dishes["nextDue"]),
            done: 0,
        },
        Chore {
            id: trash["taskId"].as_str().unwrap().into(),
            hour: 7,
            points: 20,
            next: |d| {
                (1..=7)
                    .map(|k| d + Duration::days(k))
                    .find(|x| matches!(x.weekday(), Weekday::Mon | Weekday::Thu))
                    .unwrap()
            },
            who: |n| n % 3, // least completed, ties in pool order: a, b, c, a, …
            due: parse(&trash["nextDue"]),
            done: 0,
        },
        Chore {
            id: bills["taskId"].as_str().unwrap().into(),
            hour: 18,
            points: 30,
            next: |d| last_day_of_month(d + Duration::days(1)),
            who: |_| 1,
            due: parse(&bills["nextDue"]),
            done: 0,
        },
        Chore {
            id: plants["taskId"].as_str().unwrap().into(),
            hour: 9,
            points: 20,
            next: |d| d + Duration::days(3),
            who: |_| 2,
            due: parse(&plants["nextDue"]),
            done: 0,
        },
    ];
    // First due dates, by hand.
    assert_eq!(chores[0].due, berlin(start, 20));
    assert_eq!(chores[1].due, berlin(start, 7));
    assert_eq!(chores[2].due, berlin(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(), 18));
    assert_eq!(chores[3].due, berlin(start, 9));

    let mut expected_points = [0i64; 3];
    let end = start + Duration::days(56);
    loop {
        // The next chore due, in order; stop at the end of the eight weeks.
        let i = (0..chores.len()).min_by_key(|&i| (chores[i].due, i)).unwrap();
        let due = chores[i].due;
        if due >= berlin(end, 0) {
            break;
        }
        clock.set(due + Duration::minutes(30));
        let doer = (chores[i].who)(chores[i].done);
        let path = format!("/v1/households/{h}/tasks/{}/complete", chores[i].id);
        let r = s.call(&users[doer], Method::POST, &path, None).await;
        r.assert_status(200);
        assert_eq!(r.body["completion"]["userId"], users[doer].id.as_str());
        assert_eq!(parse(&r.body["completion"]["due"]), due);
        let date = (due + Duration::hours(berlin_offset(due.date_naive()))).date_naive();
        let next = berlin((chores[i].next)(date), chores[i].hour);
        assert_eq!(parse(&r.body["task"]["nextDue"]), next, "chore {i} after {date}");
        expected_points[doer] += chores[i].points;
        chores[i].done += 1;
        chores[i].due = next;
        // The next assignee, where one member is responsible.
        if i != 3 {
            let expected = &users[(chores[i].who)(chores[i].done)].id;
            assert_eq!(r.body["task"]["assignee"]["userId"], expected.as_str(), "chore {i} after {date}");
        } else {
            assert_eq!(r.body["task"]["assignee"]["type"], "anyone");
        }
    }
    assert_eq!(chores.iter().map(|c| c.done).collect::<Vec<_>>(), [56, 16, 1, 19]);
    assert_eq!(expected_points, [310, 320, 660]);
    let members = s.call(a, Method::GET, &format!("/v1/households/{h}/members"), None).await;
    for (k, u) in users.iter().enumerate() {
        let m = members.body["items"].as_array().unwrap().iter().find(|m| m["userId"] == u.id.as_str()).unwrap();
        assert_eq!(m["points"], expected_points[k], "points of member {k}");
    }
}
