//! Issue 7 end to end through the local stack as `scripts/dev` runs it: the template's
//! schedule fires the dispatcher, the worker polls the notification queue, and the test
//! moves the clock forward with `POST /_local/clock`, as a developer would.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Timelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestStack, User, builder};
use crate::tasks::daily;

pub(crate) async fn clock_now(s: &TestStack) -> DateTime<Utc> {
    let now: Value = s.http.get(s.url("/_local/clock")).send().await.unwrap().json().await.unwrap();
    DateTime::parse_from_rfc3339(now["now"].as_str().unwrap()).unwrap().to_utc()
}

/// Moves the stack's clock to `at`, at most five hours at a time (a dispatcher run
/// catches up six hours), waiting after each move until the dispatcher has caught up.
pub(crate) async fn advance_to(s: &TestStack, at: DateTime<Utc>) {
    loop {
        let now = clock_now(s).await;
        if now >= at {
            return;
        }
        let step = (at - now).min(Duration::hours(5));
        let r = s
            .http
            .post(s.url("/_local/clock"))
            .json(&json!({ "advanceSeconds": step.num_seconds() }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let caught_up = shared::domain::reminder::dispatch_window(None, now + step).next_checkpoint;
        for _ in 0..100 {
            let checkpoint = s.stack.app.store.dispatch_checkpoint().await.unwrap();
            if checkpoint.is_some_and(|c| c >= caught_up) {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    }
}

/// The mail sent to `user` so far.
async fn mail_to(s: &TestStack, user: &User) -> Vec<local::mail::SentMail> {
    let all = local::mail::sent(&s.stack.provisioned.endpoints.moto).await.unwrap();
    all.into_iter().filter(|m| m.destinations.to.contains(&user.email)).collect()
}

/// Waits until `count` mails reached `user`.
async fn mails(s: &TestStack, user: &User, count: usize) -> Vec<local::mail::SentMail> {
    for _ in 0..60 {
        let m = mail_to(s, user).await;
        if m.len() >= count {
            return m;
        }
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    panic!("{count} mails did not reach {}", user.email);
}

/// The caller's notifications, once `count` have arrived (the worker polls every second).
pub(crate) async fn notifications(s: &TestStack, user: &User, count: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..60 {
        let r = s.call(user, Method::GET, "/v1/me/notifications", None).await;
        r.assert_status(200);
        if r.body["items"].as_array().unwrap().len() >= count {
            return r.body;
        }
        last = r.body;
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    panic!("{count} notifications did not arrive: {last:#}");
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().to_utc()
}

/// A daily chore for `user`, due at `due` (UTC household), reminding 30 minutes before and
/// at due.
fn chore_due_at(title: &str, user: &User, due: DateTime<Utc>) -> Value {
    let mut body = daily(title, &[user]);
    body["dueTime"] = json!(format!("{:02}:{:02}", due.hour(), due.minute()));
    body["startDate"] = json!(due.date_naive());
    body["reminderOffsets"] = json!([30, 0]);
    body
}

#[tokio::test]
async fn reminders_reach_the_member_in_app_at_the_right_times_in_their_language() {
    let travel = local::schedule::TravelClock::new();
    let s = builder().dev_like(travel.clone()).start().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "Flat").await;
    // German, so the reminder must read German.
    let me = s.call(&owner, Method::GET, "/v1/me", None).await;
    s.call_with(&owner, Method::PATCH, "/v1/me", Some(json!({ "locale": "de" })), &[("if-match", &me.etag())])
        .await
        .assert_status(200);

    // Two hours ahead, to the minute: the dispatcher's first window (from an hour ago)
    // reaches it in one run.
    let start = Utc::now();
    let due = (start + Duration::hours(2)).with_second(0).unwrap().with_nanosecond(0).unwrap();
    let plants = s
        .call(&owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(chore_due_at("Pflanzen", &owner, due)))
        .await;
    plants.assert_status(201);
    let plants_id = plants.body["taskId"].as_str().unwrap().to_string();
    // Done before its reminders: nobody is reminded of it.
    let dishes = s
        .call(&owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(chore_due_at("Abwasch", &owner, due)))
        .await;
    dishes.assert_status(201);
    let dishes_id = dishes.body["taskId"].as_str().unwrap();
    s.call(&owner, Method::POST, &format!("/v1/households/{h}/tasks/{dishes_id}/complete"), Some(json!({})))
        .await
        .assert_status(200);

    // Nothing is due yet.
    let none = s.call(&owner, Method::GET, "/v1/me/notifications", None).await;
    assert_eq!(none.body["items"], json!([]));
    assert_eq!(none.body["unreadCount"], 0);

    // 30 minutes before due (and a minute): the first reminder.
    advance_to(&s, due - Duration::minutes(29)).await;
    let first = notifications(&s, &owner, 1).await;
    let n = &first["items"][0];
    assert_eq!(n["event"], "reminder");
    assert_eq!(n["taskId"], plants_id.as_str());
    assert_eq!(n["title"], "Erinnerung: Pflanzen");
    assert_eq!(n["body"], format!("Pflanzen ist fällig am {}.", due.format("%Y-%m-%d %H:%M UTC")));
    assert_eq!(time(&n["occurredAt"]), due - Duration::minutes(30));
    assert_eq!(n["late"], false);
    assert_eq!(n["read"], false);
    assert_eq!(first["unreadCount"], 1);
    // The same reminder by email, in German, to the address Cognito holds.
    let sent = mails(&s, &owner, 1).await;
    assert_eq!(sent[0].subject, "Erinnerung: Pflanzen");
    assert_eq!(sent[0].source, "reminders@choregarden.example");
    assert!(sent[0].body.contains("Pflanzen ist fällig am"), "{}", sent[0].body);

    // At due: the second; the first stays as it was.
    advance_to(&s, due + Duration::minutes(1)).await;
    let both = notifications(&s, &owner, 2).await;
    let items = both["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{both:#}");
    assert_eq!(time(&items[0]["occurredAt"]), due, "newest first");
    assert!(items.iter().all(|i| i["taskId"] == plants_id.as_str()), "the finished chore reminds nobody: {both:#}");
    assert_eq!(both["unreadCount"], 2);
    let sent = mails(&s, &owner, 2).await;
    assert_eq!(sent.len(), 2, "one mail per reminder, none for the finished chore");
    assert!(sent.iter().all(|m| !m.subject.contains("Abwasch")));

    // Marked read one by one, then all: the count follows.
    let id = items[1]["notificationId"].as_str().unwrap();
    s.call(&owner, Method::POST, &format!("/v1/me/notifications/{id}/read"), None).await.assert_status(204);
    s.call(&owner, Method::POST, &format!("/v1/me/notifications/{id}/read"), None).await.assert_status(204);
    let after = s.call(&owner, Method::GET, "/v1/me/notifications", None).await;
    assert_eq!(after.body["unreadCount"], 1);
    assert_eq!(after.body["items"][1]["read"], true);
    s.call(&owner, Method::POST, "/v1/me/notifications/read-all", None).await.assert_status(204);
    let all = s.call(&owner, Method::GET, "/v1/me/notifications", None).await;
    assert_eq!(all.body["unreadCount"], 0);
    assert!(all.body["items"].as_array().unwrap().iter().all(|i| i["read"] == true));

    // Another member cannot read or mark them; an id that is not one is a 400.
    let stranger = s.user("stranger").await;
    let theirs = s.call(&stranger, Method::GET, "/v1/me/notifications", None).await;
    assert_eq!(theirs.body["items"], json!([]));
    s.call(&stranger, Method::POST, &format!("/v1/me/notifications/{id}/read"), None)
        .await
        .assert_problem(404, "notification.not_found");
    s.call(&owner, Method::POST, "/v1/me/notifications/not-an-id/read", None)
        .await
        .assert_problem(400, "request.invalid_parameter");

    // The dispatcher's event file runs as its function, on this stack's table.
    let job = local::routes::jobs().into_iter().find(|j| j.function == "ReminderDispatcherFunction").unwrap();
    let text = std::fs::read_to_string(local::events::event_file(job.function)).unwrap();
    let event: shared::lambda::ScheduledEvent = serde_json::from_str(&text).unwrap();
    (job.handler)(s.stack.function_app(job.function), event).await.unwrap();
    drop(travel);
}

#[tokio::test]
async fn quiet_hours_hold_the_email_until_they_end_and_in_app_arrives_at_once() {
    let travel = local::schedule::TravelClock::new();
    let s = builder().dev_like(travel.clone()).start().await;
    let owner = s.user("ana").await;
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let me = s.call(&owner, Method::GET, "/v1/me", None).await;
    let quiet =
        json!({ "timezone": "Europe/Berlin", "notifications": { "quietHours": { "start": "22:00", "end": "07:00" } } });
    s.call_with(&owner, Method::PATCH, "/v1/me", Some(quiet), &[("if-match", &me.etag())]).await.assert_status(200);
    let h = s
        .call(&owner, Method::POST, "/v1/households", Some(json!({ "name": "Wohnung", "timezone": "Europe/Berlin" })))
        .await;
    h.assert_status(201);
    let h = h.body["householdId"].as_str().unwrap().to_string();

    // The next 23:00 in Berlin at least an hour away; reminded at due.
    let local_now = (Utc::now() + Duration::hours(1)).with_timezone(&berlin);
    let mut day = local_now.date_naive();
    if local_now.time() >= chrono::NaiveTime::from_hms_opt(23, 0, 0).unwrap() {
        day = day.succ_opt().unwrap();
    }
    let due = day.and_hms_opt(23, 0, 0).unwrap().and_local_timezone(berlin).unwrap().to_utc();
    let mut body = daily("Müll", &[&owner]);
    body["dueTime"] = json!("23:00");
    body["startDate"] = json!(day);
    body["reminderOffsets"] = json!([0]);
    s.call(&owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await.assert_status(201);
    // And one due at 06:59 the next morning: its email waits a few seconds, in SQS.
    let next_day = day.succ_opt().unwrap();
    let mut body = daily("Frühstück", &[&owner]);
    body["dueTime"] = json!("06:59");
    body["startDate"] = json!(next_day);
    body["reminderOffsets"] = json!([0]);
    s.call(&owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await.assert_status(201);

    // 23:01: in-app at once, the email waits.
    advance_to(&s, due + Duration::minutes(1)).await;
    let n = notifications(&s, &owner, 1).await;
    assert_eq!(time(&n["items"][0]["occurredAt"]), due);
    tokio::time::sleep(StdDuration::from_secs(2)).await;
    assert!(mail_to(&s, &owner).await.is_empty(), "no email at 23:00 in quiet hours");

    // 06:59:50 the next morning: still no email. The 06:59 chore's reminder is in-app at
    // once, and its email comes back from SQS ten (real) seconds later, at 07:00.
    let seven = next_day.and_hms_opt(7, 0, 0).unwrap().and_local_timezone(berlin).unwrap().to_utc();
    advance_to(&s, seven - Duration::seconds(10)).await;
    notifications(&s, &owner, 2).await;
    assert!(mail_to(&s, &owner).await.is_empty(), "quiet until 07:00");
    let sent = mails(&s, &owner, 1).await;
    assert_eq!(sent[0].subject, "Reminder: Frühstück");

    // 07:01: the dispatcher brings the 23:00 one back from the reminder index.
    advance_to(&s, seven + Duration::minutes(1)).await;
    let sent = mails(&s, &owner, 2).await;
    assert_eq!(sent.len(), 2);
    let garbage = sent.iter().find(|m| m.subject == "Reminder: Müll").expect("the 23:00 reminder by email");
    let when = shared::domain::notification::local_when(due, berlin);
    assert!(garbage.body.contains(&when), "told in Berlin time ({when}): {}", garbage.body);
    // Two in-app notifications: the passes that sent the emails stored nothing again.
    let n = s.call(&owner, Method::GET, "/v1/me/notifications", None).await;
    assert_eq!(n.body["items"].as_array().unwrap().len(), 2);
    drop(travel);
}

#[tokio::test]
async fn a_member_who_chose_the_daily_digest_gets_one_email_in_the_morning() {
    let travel = local::schedule::TravelClock::new();
    let s = builder().dev_like(travel.clone()).start().await;
    let owner = s.user("ana").await;
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let me = s.call(&owner, Method::GET, "/v1/me", None).await;
    let digest = json!({ "timezone": "Europe/Berlin", "locale": "de", "notifications": { "dailyDigest": true } });
    s.call_with(&owner, Method::PATCH, "/v1/me", Some(digest), &[("if-match", &me.etag())]).await.assert_status(200);
    let h = s
        .call(&owner, Method::POST, "/v1/households", Some(json!({ "name": "Wohnung", "timezone": "Europe/Berlin" })))
        .await;
    h.assert_status(201);
    let h = h.body["householdId"].as_str().unwrap().to_string();

    // Two chores due the next 18:00 and 19:00 in Berlin at least an hour away.
    let local_now = (Utc::now() + Duration::hours(1)).with_timezone(&berlin);
    let mut day = local_now.date_naive();
    if local_now.time() >= chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap() {
        day = day.succ_opt().unwrap();
    }
    let mut ids = Vec::new();
    for (title, at) in [("Müll", "18:00"), ("Glas", "19:00")] {
        let mut body = daily(title, &[&owner]);
        body["dueTime"] = json!(at);
        body["startDate"] = json!(day);
        body["reminderOffsets"] = json!([0]);
        let r = s.call(&owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await;
        r.assert_status(201);
        ids.push(r.body["taskId"].as_str().unwrap().to_string());
    }
    let local =
        |d: chrono::NaiveDate, hour| d.and_hms_opt(hour, 0, 0).unwrap().and_local_timezone(berlin).unwrap().to_utc();

    // 19:01: both in-app at once; no email, they wait for the digest.
    advance_to(&s, local(day, 19) + Duration::minutes(1)).await;
    notifications(&s, &owner, 2).await;
    tokio::time::sleep(StdDuration::from_secs(2)).await;
    assert!(mail_to(&s, &owner).await.is_empty(), "no single reminder emails");
    // Glas is done in the evening: the morning digest does not remind of it.
    s.call(&owner, Method::POST, &format!("/v1/households/{h}/tasks/{}/complete", ids[1]), Some(json!({})))
        .await
        .assert_status(200);

    // 07:01 the next morning: one email, in German, with what is still to do.
    advance_to(&s, local(day.succ_opt().unwrap(), 7) + Duration::minutes(1)).await;
    let sent = mails(&s, &owner, 1).await;
    assert_eq!(sent[0].subject, "Deine Erinnerungen: 1");
    assert!(sent[0].body.contains("Müll ist fällig"), "{}", sent[0].body);
    assert!(!sent[0].body.contains("Glas"), "{}", sent[0].body);
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    assert_eq!(mail_to(&s, &owner).await.len(), 1, "one digest");

    // The Müll reminder delivered again after its digest went out (SQS redelivers; quiet
    // hours of another member bring a message back): it is not collected a second time.
    let again = functions_notifications::ReminderMessage {
        household_id: h.clone(),
        task_id: ids[0].clone(),
        due: local(day, 18),
        step_at: local(day, 18),
        kind: shared::domain::reminder::ReminderKind::Reminder,
        late: false,
    };
    let worker = s.stack.function_app("NotificationWorkerFunction");
    functions_notifications::deliver_reminder(&worker, &again).await.unwrap();
    let far = local(day, 7) + Duration::days(30);
    assert_eq!(s.stack.app.store.digest_lines(&owner.id, far).await.unwrap(), vec![], "nothing waits for a digest");
    drop(travel);
}

/// What a local webhook receiver got, and what it answers next.
#[derive(Clone, Default)]
struct Receiver {
    got: std::sync::Arc<std::sync::Mutex<Vec<(http::HeaderMap, String)>>>,
    /// Per request, in order: a status, or 0 to hang past the worker's timeout. Then 200.
    script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<u16>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Receiver, String) {
        let r = Receiver::default();
        r.script.lock().unwrap().extend(script);
        let state = r.clone();
        let app = axum::Router::new().fallback(move |headers: http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                state.got.lock().unwrap().push((headers, body));
                let next = state.script.lock().unwrap().pop_front().unwrap_or(200);
                if next == 0 {
                    tokio::time::sleep(StdDuration::from_secs(8)).await;
                    return http::StatusCode::OK;
                }
                http::StatusCode::from_u16(next).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn requests(&self) -> Vec<(http::HeaderMap, String)> {
        self.got.lock().unwrap().clone()
    }
}

/// Verifies a delivery the way the README tells receivers to, written out here rather than
/// with the code under test: HMAC-SHA256, keyed with the secret's base64-decoded bytes, over
/// `id.timestamp.body`, base64, after `v1,`.
fn signature_verifies(secret: &str, headers: &http::HeaderMap, body: &str) -> bool {
    use base64::Engine;
    let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let signed = format!("{}.{}.{}", h("webhook-id"), h("webhook-timestamp"), body);
    let expected = base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::hmac::sign(&key, signed.as_bytes()));
    h("webhook-signature").split(' ').any(|s| s == format!("v1,{expected}"))
}

async fn deliveries(s: &TestStack, user: &User, h: &str, webhook: &str, settled: usize) -> Value {
    for _ in 0..80 {
        let r = s.call(user, Method::GET, &format!("/v1/households/{h}/webhooks/{webhook}/deliveries"), None).await;
        r.assert_status(200);
        let done = r.body["items"].as_array().unwrap().iter().filter(|d| d["state"] != "pending").count();
        if done >= settled {
            return r.body;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    panic!("{settled} deliveries of {webhook} did not settle");
}

#[tokio::test]
async fn webhooks_are_signed_retried_with_backoff_logged_and_guarded() {
    let travel = local::schedule::TravelClock::new();
    let s = builder().dev_like(travel.clone()).start().await;
    let owner = s.user("owner").await;
    let member = s.user("member").await;
    let h = s.household(&owner, "Hooks").await;
    s.join(&owner, &h, &member, "member").await;
    let hooks = format!("/v1/households/{h}/webhooks");

    // Bad input: 422 with the field's issue; members may not; other households see nothing.
    for (url, issue) in [
        ("https://10.1.2.3/hook", "private_address"),
        ("https://169.254.169.254/latest/meta-data", "private_address"),
        ("http://93.184.215.14/hook", "invalid_url"),
        ("not a url", "invalid_url"),
        ("https://user:pw@example.com/", "invalid_url"),
    ] {
        let r = s.call(&owner, Method::POST, &hooks, Some(json!({ "url": url, "events": ["reminder"] }))).await;
        r.assert_problem(422, "request.validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "url", "{url}");
        assert_eq!(r.body["errors"][0]["code"], issue, "{url}");
    }
    let (ok, ok_url) = Receiver::start(&[500, 500, 200]).await;
    let r = s.call(&owner, Method::POST, &hooks, Some(json!({ "url": ok_url, "events": ["remind"] }))).await;
    r.assert_problem(422, "request.validation_failed");
    s.call(&member, Method::POST, &hooks, Some(json!({ "url": ok_url, "events": ["reminder"] })))
        .await
        .assert_problem(403, "auth.forbidden");
    let stranger = s.user("stranger").await;
    s.call(&stranger, Method::GET, &hooks, None).await.assert_problem(404, "household.not_found");

    // Two receivers: one answers 500, 500, 200; one hangs once, then answers.
    let created = s.call(&owner, Method::POST, &hooks, Some(json!({ "url": ok_url, "events": ["reminder"] }))).await;
    created.assert_status(201);
    assert!(created.header("location").unwrap().ends_with(created.body["webhookId"].as_str().unwrap()));
    let secret = created.body["secret"].as_str().unwrap().to_string();
    let a = created.body["webhookId"].as_str().unwrap().to_string();
    let (slow, slow_url) = Receiver::start(&[0]).await;
    let created = s.call(&owner, Method::POST, &hooks, Some(json!({ "url": slow_url, "events": ["reminder"] }))).await;
    created.assert_status(201);
    let b = created.body["webhookId"].as_str().unwrap().to_string();
    let listed = s.call(&owner, Method::GET, &hooks, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    assert!(!listed.body.to_string().contains(&secret), "the secret is shown once");

    // A chore due in two hours, reminded at due.
    let due = (Utc::now() + Duration::hours(2)).with_second(0).unwrap().with_nanosecond(0).unwrap();
    let mut body = chore_due_at("Bins", &owner, due);
    body["reminderOffsets"] = json!([0]);
    s.call(&owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await.assert_status(201);
    advance_to(&s, due + Duration::minutes(1)).await;

    // 500, 500, 200: one delivery, three attempts in its log, each signed alike.
    let log = deliveries(&s, &owner, &h, &a, 1).await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{log:#}");
    assert_eq!(items[0]["state"], "delivered");
    let statuses: Vec<&Value> = items[0]["attempts"].as_array().unwrap().iter().map(|a| &a["status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)], "{log:#}");
    let got = ok.requests();
    assert_eq!(got.len(), 3);
    let id = items[0]["deliveryId"].as_str().unwrap();
    for (headers, body) in &got {
        assert_eq!(headers["webhook-id"], id, "retries keep the id: receivers dedupe on it");
        assert!(signature_verifies(&secret, headers, body), "signature of {body}");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["type"], "reminder");
        assert_eq!(v["data"]["title"], "Bins");
    }
    assert!(!signature_verifies("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &got[0].0, &got[0].1));
    // Backed off through SQS delays: 1 s, then 2 s (the test stack's base is 1 s).
    let at = |i: usize| time(&items[0]["attempts"][i]["at"]);
    assert!(at(1) - at(0) >= Duration::milliseconds(900), "{log:#}");
    assert!(at(2) - at(1) >= Duration::milliseconds(1900), "{log:#}");

    // The hanging receiver: the first attempt timed out, the retry got through.
    let log = deliveries(&s, &owner, &h, &b, 1).await;
    let attempts = log["items"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!(log["items"][0]["state"], "delivered", "{log:#}");
    assert!(attempts[0]["status"].is_null() && attempts[0]["error"].as_str().unwrap().contains("no answer"), "{log:#}");
    assert_eq!(attempts.last().unwrap()["status"], 200);
    assert_eq!(slow.requests().len(), attempts.len());

    // Redeliver: the same payload as a new delivery; the log keeps both.
    let r = s.call(&owner, Method::POST, &format!("{hooks}/{a}/deliveries/{id}/redeliver"), None).await;
    r.assert_status(202);
    let log = deliveries(&s, &owner, &h, &a, 2).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 2);
    assert_eq!(ok.requests().len(), 4);
    assert_eq!(ok.requests()[3].1, got[0].1, "the same payload");
    assert_ne!(ok.requests()[3].0["webhook-id"], id);

    // Changed with If-Match, then removed.
    let r = s
        .call_with(
            &owner,
            Method::PATCH,
            &format!("{hooks}/{b}"),
            Some(json!({ "active": false })),
            &[("if-match", "\"1\"")],
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["active"], false);
    s.call_with(
        &owner,
        Method::PATCH,
        &format!("{hooks}/{b}"),
        Some(json!({ "active": true })),
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_problem(412, "precondition.failed");
    s.call(&owner, Method::DELETE, &format!("{hooks}/{b}"), None).await.assert_status(204);
    s.call(&owner, Method::DELETE, &format!("{hooks}/{b}"), None).await.assert_problem(404, "webhook.not_found");
    drop(travel);
}

#[tokio::test]
async fn what_happens_in_the_household_reaches_the_others_through_the_stream() {
    let travel = local::schedule::TravelClock::new();
    let s = builder().dev_like(travel.clone()).start().await;
    let owner = s.user("owner").await;
    let h = s.household(&owner, "Stream").await;
    let (hook, hook_url) = Receiver::start(&[]).await;
    let created = s
        .call(
            &owner,
            Method::POST,
            &format!("/v1/households/{h}/webhooks"),
            Some(json!({ "url": hook_url, "events": ["completed", "memberJoined"] })),
        )
        .await;
    created.assert_status(201);
    let secret = created.body["secret"].as_str().unwrap().to_string();

    // Ben joins: the owner is told (in-app), the webhook gets `memberJoined`.
    let ben = s.user("ben").await;
    s.join(&owner, &h, &ben, "member").await;
    let joined = notifications(&s, &owner, 1).await;
    assert_eq!(joined["items"][0]["event"], "memberJoined", "{joined:#}");
    assert_eq!(joined["items"][0]["title"], "New member in Stream");

    // Ben completes a chore of his: the owner gets the completion alert, Ben nothing.
    let mut body = daily("Plants", &[&ben]);
    body["startDate"] = json!(Utc::now().date_naive() - chrono::Duration::days(1));
    let task = s.call(&owner, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await;
    task.assert_status(201);
    let id = task.body["taskId"].as_str().unwrap();
    s.call_with(
        &ben,
        Method::POST,
        &format!("/v1/households/{h}/tasks/{id}/complete"),
        None,
        &[("x-correlation-id", "e2e-complete-1")],
    )
    .await
    .assert_status(200);
    let told = notifications(&s, &owner, 2).await;
    let done = &told["items"][0];
    assert_eq!(done["event"], "completed", "{told:#}");
    assert_eq!(done["taskId"], id);
    assert!(done["body"].as_str().unwrap().contains("Plants"), "{done:#}");
    let bens = s.call(&ben, Method::GET, "/v1/me/notifications", None).await;
    assert!(bens.body["items"].as_array().unwrap().iter().all(|n| n["event"] != "completed"), "not told of his own");

    // Both events reached the webhook, signed.
    for _ in 0..60 {
        if hook.requests().len() >= 2 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    let got = hook.requests();
    let types: Vec<String> = got
        .iter()
        .map(|(_, b)| serde_json::from_str::<Value>(b).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["memberJoined", "completed"]);
    assert!(got.iter().all(|(h, b)| signature_verifies(&secret, h, b)));
    drop(travel);
}
