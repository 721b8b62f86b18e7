//! Issue 7: a chore's pending reminder item follows the chore in the same transaction as
//! every change (delivery comes with the dispatcher).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use http::Method;
use serde_json::json;
use shared::domain::reminder::ReminderKind;
use shared::store::keys;
use shared::store::reminders::PendingReminder;

use crate::support::TestStack;
use crate::tasks::{create, daily, household_of_three, stack_at_half_past_seven};

async fn pending(s: &TestStack, h: &str, task: &str) -> Option<PendingReminder> {
    s.stack.app.store.pending_reminder(h, task).await.unwrap()
}

/// The reminder item's index keys, as stored.
async fn index_keys(s: &TestStack, h: &str, task: &str) -> (String, String) {
    let store = &s.stack.app.store;
    let item = store
        .client
        .get_item()
        .table_name(&store.table)
        .key(keys::PK, AttributeValue::S(keys::household(h)))
        .key(keys::SK, AttributeValue::S(keys::reminder(task)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let get = |k: &str| item[k].as_s().unwrap().clone();
    (get(keys::GSI2PK), get(keys::GSI2SK))
}

fn today_at(h: u32, m: u32) -> DateTime<Utc> {
    Utc::now().date_naive().and_hms_opt(h, m, 0).unwrap().and_utc()
}

#[tokio::test]
async fn the_pending_reminder_moves_with_the_chore_and_only_when_its_occurrence_or_plan_changes() {
    // 07:30 UTC today; the household is in UTC; the chore is due at 08:00 every day from today.
    let s = stack_at_half_past_seven().await;
    let (h, owner, _member, _child) = household_of_three(&s).await;
    let mut body = daily("Plants", &[&owner]);
    body["startDate"] = json!(Utc::now().date_naive());
    body["reminderOffsets"] = json!([60, 15]);
    body["overdueOffsets"] = json!([30]);
    let task = create(&s, &owner, &h, body).await;
    let id = task["taskId"].as_str().unwrap();
    let path = format!("/v1/households/{h}/tasks/{id}");

    // 07:00 has passed: the first step ahead is 07:45, before the 08:00 occurrence.
    let p = pending(&s, &h, id).await.expect("a pending reminder");
    assert_eq!((p.due, p.remind_at, p.kind), (today_at(8, 0), today_at(7, 45), ReminderKind::Reminder));
    let (bucket, sort) = index_keys(&s, &h, id).await;
    let shard = keys::reminder_shard(id);
    assert_eq!(bucket, format!("REMIND#{}T07#{shard}", Utc::now().date_naive()));
    assert!(sort.starts_with(&format!("{}T07:45:00.000Z#{h}#{id}", Utc::now().date_naive())), "{sort}");

    // Completed before its reminder: the item moves to tomorrow's occurrence, whose first
    // step (07:00 tomorrow) is ahead. Today's 07:45 is no longer pending anywhere.
    let done = s.call(&owner, Method::POST, &format!("{path}/complete"), None).await;
    done.assert_status(200);
    let p = pending(&s, &h, id).await.unwrap();
    assert_eq!((p.due, p.remind_at), (today_at(8, 0) + Duration::days(1), today_at(7, 0) + Duration::days(1)));

    // The dispatcher owns the step within an occurrence: say it sent 07:00 and moved on.
    let store = &s.stack.app.store;
    store
        .client
        .update_item()
        .table_name(&store.table)
        .key(keys::PK, AttributeValue::S(keys::household(&h)))
        .key(keys::SK, AttributeValue::S(keys::reminder(id)))
        .update_expression("SET remindAt = :at")
        .expression_attribute_values(":at", AttributeValue::S("2099-01-01T00:00:00.000Z".into()))
        .send()
        .await
        .unwrap();
    // A rename leaves the occurrence, the plan and the state: the item stays where it is.
    let version = format!("\"{}\"", done.body["task"]["version"]);
    s.call_with(&owner, Method::PATCH, &path, Some(json!({ "title": "Water plants" })), &[("if-match", &version)])
        .await
        .assert_status(200);
    assert_eq!(pending(&s, &h, id).await.unwrap().remind_at.to_rfc3339(), "2099-01-01T00:00:00+00:00");

    // A changed plan starts over from now.
    let renamed = s.call(&owner, Method::GET, &path, None).await;
    let version = renamed.header("etag").unwrap().to_string();
    s.call_with(&owner, Method::PATCH, &path, Some(json!({ "reminderOffsets": [0] })), &[("if-match", &version)])
        .await
        .assert_status(200);
    assert_eq!(pending(&s, &h, id).await.unwrap().remind_at, today_at(8, 0) + Duration::days(1));

    // Archived: no reminder. Restored: back at the first step ahead.
    s.call(&owner, Method::POST, &format!("{path}/archive"), None).await.assert_status(200);
    assert_eq!(pending(&s, &h, id).await, None);
    s.call(&owner, Method::POST, &format!("{path}/restore"), None).await.assert_status(200);
    assert_eq!(pending(&s, &h, id).await.unwrap().remind_at, today_at(8, 0) + Duration::days(1));

    // Paused: none either.
    let restored = s.call(&owner, Method::GET, &path, None).await;
    let version = restored.header("etag").unwrap().to_string();
    s.call_with(&owner, Method::PATCH, &path, Some(json!({ "paused": true })), &[("if-match", &version)])
        .await
        .assert_status(200);
    assert_eq!(pending(&s, &h, id).await, None);
}

#[tokio::test]
async fn a_chore_without_reminders_has_no_pending_item_and_undo_puts_the_old_one_back() {
    let s = stack_at_half_past_seven().await;
    let (h, owner, _member, _child) = household_of_three(&s).await;
    let mut quiet = daily("Quiet", &[&owner]);
    quiet["startDate"] = json!(Utc::now().date_naive());
    let quiet = create(&s, &owner, &h, quiet).await;
    assert_eq!(pending(&s, &h, quiet["taskId"].as_str().unwrap()).await, None);

    let mut body = daily("Trash", &[&owner]);
    body["startDate"] = json!(Utc::now().date_naive());
    body["reminderOffsets"] = json!([15]);
    let task = create(&s, &owner, &h, body).await;
    let id = task["taskId"].as_str().unwrap();
    let done = s.call(&owner, Method::POST, &format!("/v1/households/{h}/tasks/{id}/complete"), None).await;
    done.assert_status(200);
    assert_eq!(pending(&s, &h, id).await.unwrap().due, today_at(8, 0) + Duration::days(1));
    let completion = done.body["completion"]["completionId"].as_str().unwrap();
    s.call(&owner, Method::POST, &format!("/v1/households/{h}/completions/{completion}/undo"), None)
        .await
        .assert_status(200);
    let p = pending(&s, &h, id).await.unwrap();
    assert_eq!((p.due, p.remind_at), (today_at(8, 0), today_at(7, 45)));
}

#[tokio::test]
async fn every_change_that_leaves_nothing_to_remind_removes_the_pending_item() {
    // 07:30 UTC; chores due at 08:00 from today.
    let s = stack_at_half_past_seven().await;
    let (h, owner, _member, _child) = household_of_three(&s).await;
    let chore = |title: &str, offsets: &[u32], extra: serde_json::Value| {
        let mut body = daily(title, &[&owner]);
        body["startDate"] = json!(Utc::now().date_naive());
        body["reminderOffsets"] = json!(offsets);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let once = json!({ "recurrence": { "type": "once" } });
    let call = |path: String, body: Option<serde_json::Value>| {
        let s = &s;
        let owner = &owner;
        async move { s.call(owner, Method::POST, &path, body).await }
    };
    let tasks = format!("/v1/households/{h}/tasks");

    // A one-off chore, completed or skipped, is finished: nothing left to remind.
    for action in ["complete", "skip"] {
        let t = create(&s, &owner, &h, chore(action, &[15], once.clone())).await;
        let id = t["taskId"].as_str().unwrap();
        assert!(pending(&s, &h, id).await.is_some());
        call(format!("{tasks}/{id}/{action}"), None).await.assert_status(200);
        assert_eq!(pending(&s, &h, id).await, None, "{action}");
    }

    // Snoozed to 09:00 with a reminder two hours before: 07:00 has passed.
    let t = create(&s, &owner, &h, chore("snooze", &[0], json!({}))).await;
    let id = t["taskId"].as_str().unwrap();
    assert!(pending(&s, &h, id).await.is_some());
    let mut plan = s
        .call_with(
            &owner,
            Method::PATCH,
            &format!("{tasks}/{id}"),
            Some(json!({ "reminderOffsets": [120] })),
            &[("if-match", "\"1\"")],
        )
        .await;
    plan.assert_status(200);
    assert_eq!(pending(&s, &h, id).await, None, "06:00 has passed");
    plan = s
        .call_with(
            &owner,
            Method::PATCH,
            &format!("{tasks}/{id}"),
            Some(json!({ "reminderOffsets": [0] })),
            &[("if-match", "\"2\"")],
        )
        .await;
    plan.assert_status(200);
    assert!(pending(&s, &h, id).await.is_some());
    call(format!("{tasks}/{id}/snooze"), Some(json!({ "until": today_at(8, 0) + Duration::hours(26) })))
        .await
        .assert_status(200);
    assert!(pending(&s, &h, id).await.is_some(), "tomorrow 10:00 is ahead");
    let t = create(&s, &owner, &h, chore("snooze-past", &[60], json!({}))).await;
    let id = t["taskId"].as_str().unwrap();
    call(format!("{tasks}/{id}/snooze"), Some(json!({ "until": today_at(8, 20) }))).await.assert_status(200);
    assert_eq!(pending(&s, &h, id).await, None, "07:20 has passed");

    // Restored from the archive with every step behind it.
    let t = create(&s, &owner, &h, chore("restore", &[15], json!({}))).await;
    let id = t["taskId"].as_str().unwrap();
    s.call_with(
        &owner,
        Method::PATCH,
        &format!("{tasks}/{id}"),
        Some(json!({ "reminderOffsets": [60] })),
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_status(200);
    call(format!("{tasks}/{id}/archive"), None).await.assert_status(200);
    call(format!("{tasks}/{id}/restore"), None).await.assert_status(200);
    assert_eq!(pending(&s, &h, id).await, None);

    // Undone, or rejected: back to today's occurrence, whose one reminder (07:00) has passed.
    for (title, decide) in [("undo", "undo"), ("reject", "reject")] {
        let extra = if decide == "reject" { json!({ "requiresApproval": true }) } else { json!({}) };
        let t = create(&s, &owner, &h, chore(title, &[60], extra)).await;
        let id = t["taskId"].as_str().unwrap();
        let done = call(format!("{tasks}/{id}/complete"), None).await;
        done.assert_status(200);
        assert!(pending(&s, &h, id).await.is_some(), "tomorrow 07:00 is ahead");
        let completion = done.body["completion"]["completionId"].as_str().unwrap();
        call(format!("/v1/households/{h}/completions/{completion}/{decide}"), None).await.assert_status(200);
        assert_eq!(pending(&s, &h, id).await, None, "{decide}");
    }
}

mod dispatch {
    //! The dispatcher against DynamoDB Local and moto's SQS. Its chores live on days of
    //! their own (2031), so no other test's reminders share its buckets. The table (and so
    //! the dispatcher's one checkpoint) is shared by the whole suite: one test runs the
    //! scenarios in turn, each from a fresh checkpoint.

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use functions_notifications::{ReminderMessage, dispatch_reminders};
    use shared::platform::clock::ManualClock;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    async fn stack_on_a_day_of_its_own(now: &str) -> TestStack {
        crate::support::builder().clock(Arc::new(ManualClock::at(at(now)))).start().await
    }

    async fn queue(s: &TestStack) -> String {
        let name = format!("reminders-{}", ulid::Ulid::new());
        s.stack.app.sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap()
    }

    /// Every message on the queue, for this household.
    async fn drain(s: &TestStack, url: &str, household: &str) -> Vec<ReminderMessage> {
        let mut all = Vec::new();
        loop {
            let out = s.stack.app.sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                all.push(serde_json::from_str::<ReminderMessage>(m.body().unwrap()).unwrap());
                let receipt = m.receipt_handle().unwrap();
                s.stack.app.sqs.delete_message().queue_url(url).receipt_handle(receipt).send().await.unwrap();
            }
        }
        all.retain(|m| m.household_id == household);
        all
    }

    async fn chores_with(s: &TestStack, n: usize, start: &str, offsets: serde_json::Value) -> (String, Vec<String>) {
        let (h, owner, _member, _child) = household_of_three(s).await;
        let mut ids = Vec::new();
        for i in 0..n {
            let mut body = daily(&format!("Chore {i}"), &[&owner]);
            body["startDate"] = json!(start);
            body["reminderOffsets"] = offsets.clone();
            ids.push(create(s, &owner, &h, body).await["taskId"].as_str().unwrap().to_string());
        }
        (h, ids)
    }

    async fn forget_checkpoint(s: &TestStack) {
        let store = &s.stack.app.store;
        store
            .client
            .delete_item()
            .table_name(&store.table)
            .key(keys::PK, AttributeValue::S(keys::DISPATCH.into()))
            .key(keys::SK, AttributeValue::S(keys::DISPATCH_REMINDERS.into()))
            .send()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_dispatcher_sends_each_reminder_once_through_races_deaths_and_outages() {
        two_dispatcher_runs_at_once_send_each_due_reminder_once().await;
        a_run_that_died_after_claiming_loses_nothing_and_an_outage_sends_only_the_latest_step_late().await;
        a_claim_left_late_in_the_next_hour_holds_the_checkpoint_back().await;
    }

    async fn two_dispatcher_runs_at_once_send_each_due_reminder_once() {
        let s = stack_on_a_day_of_its_own("2031-03-10T07:30:00Z").await;
        forget_checkpoint(&s).await;
        // 23 chores due at 08:00 with a reminder at 07:45: more than two batches of 10.
        let (h, ids) = chores_with(&s, 23, "2031-03-10", json!([15])).await;
        let url = queue(&s).await;
        let now = at("2031-03-10T07:46:00Z");
        let (a, b) = tokio::join!(
            dispatch_reminders(&s.stack.app, &url, "run-a", now),
            dispatch_reminders(&s.stack.app, &url, "run-b", now)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.sent + b.sent, 23, "{a:?} {b:?}");
        let sent = drain(&s, &url, &h).await;
        let mut per_chore: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &sent {
            *per_chore.entry(m.task_id.as_str()).or_default() += 1;
            assert_eq!((m.due, m.step_at, m.late), (at("2031-03-10T08:00:00Z"), at("2031-03-10T07:45:00Z"), false));
        }
        assert_eq!(per_chore.len(), 23);
        assert!(per_chore.values().all(|n| *n == 1), "{per_chore:?}");
        // Each run sends what it claimed ten to a call.
        assert!(a.sqs_calls <= a.sent.div_ceil(10) && b.sqs_calls <= b.sent.div_ceil(10), "{a:?} {b:?}");
        // Its one reminder sent, no chore has one pending for this occurrence.
        for id in &ids {
            assert_eq!(pending(&s, &h, id).await, None);
        }
        // A run a minute later finds nothing more.
        let again = dispatch_reminders(&s.stack.app, &url, "run-c", at("2031-03-10T07:47:00Z")).await.unwrap();
        assert_eq!(again.sent, 0);
        assert!(drain(&s, &url, &h).await.is_empty());
    }

    async fn a_run_that_died_after_claiming_loses_nothing_and_an_outage_sends_only_the_latest_step_late() {
        let s = stack_on_a_day_of_its_own("2031-04-14T05:30:00Z").await;
        forget_checkpoint(&s).await;
        // Due 08:00, reminded at 06:00, 07:00 and 07:45.
        let (h, ids) = chores_with(&s, 2, "2031-04-14", json!([120, 60, 15])).await;
        let url = queue(&s).await;
        let first = pending(&s, &h, &ids[0]).await.unwrap();
        assert_eq!(first.remind_at, at("2031-04-14T06:00:00Z"));

        // A run claims the first chore's reminder at 06:00:30 and dies before sending.
        assert!(
            s.stack.app.store.claim_reminder(&first, "dead-run", at("2031-04-14T06:00:30Z")).await.unwrap().is_some()
        );
        // The next run, a minute later, leaves the live claim alone but sends the other.
        let r = dispatch_reminders(&s.stack.app, &url, "run-1", at("2031-04-14T06:01:00Z")).await.unwrap();
        assert_eq!((r.claimed, r.sent), (1, 1), "{r:?}");
        let sent = drain(&s, &url, &h).await;
        assert_eq!(sent.iter().map(|m| m.task_id.as_str()).collect::<Vec<_>>(), [ids[1].as_str()]);
        // Once the claim expires (2 minutes), it goes out, once.
        let r = dispatch_reminders(&s.stack.app, &url, "run-2", at("2031-04-14T06:03:00Z")).await.unwrap();
        assert_eq!(r.sent, 1, "{r:?}");
        let sent = drain(&s, &url, &h).await;
        assert_eq!((sent.len(), sent[0].task_id.as_str(), sent[0].late), (1, ids[0].as_str(), true));

        // Then the dispatcher is down until 07:50: 07:00 and 07:45 fell due for both chores.
        // Only the latest goes out, once, marked late; nothing is left for this occurrence.
        let r = dispatch_reminders(&s.stack.app, &url, "run-3", at("2031-04-14T07:50:00Z")).await.unwrap();
        assert_eq!(r.sent, 2, "{r:?}");
        let sent = drain(&s, &url, &h).await;
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|m| m.step_at == at("2031-04-14T07:45:00Z") && m.late));
        for id in &ids {
            assert_eq!(pending(&s, &h, id).await, None);
        }
    }

    async fn a_claim_left_late_in_the_next_hour_holds_the_checkpoint_back() {
        let s = stack_on_a_day_of_its_own("2031-05-20T05:30:00Z").await;
        forget_checkpoint(&s).await;
        // Due 08:00, reminded at 06:50.
        let (h, ids) = chores_with(&s, 1, "2031-05-20", json!([70])).await;
        let url = queue(&s).await;
        let p = pending(&s, &h, &ids[0]).await.unwrap();
        assert_eq!(p.remind_at, at("2031-05-20T06:50:00Z"));
        // A run reaches it late, at 07:04:30, claims it and dies. At 07:05:30 the claim is
        // live, and 07:05:30 - 5 min is past 07:00: without holding back, the checkpoint
        // would pass the 06:00 bucket for good and the reminder would never go out.
        assert!(s.stack.app.store.claim_reminder(&p, "dead-run", at("2031-05-20T07:04:30Z")).await.unwrap().is_some());
        let r = dispatch_reminders(&s.stack.app, &url, "run-1", at("2031-05-20T07:05:30Z")).await.unwrap();
        assert_eq!((r.sent, r.checkpoint), (0, Some(at("2031-05-20T06:00:00Z"))), "{r:?}");
        // An item no version of ours can read, in every bucket of that hour: skipped, not fatal.
        let store = &s.stack.app.store;
        for shard in 0..keys::REMINDER_SHARDS {
            store
                .client
                .put_item()
                .table_name(&store.table)
                .item(keys::PK, AttributeValue::S(format!("HOUSEHOLD#garbage{shard}")))
                .item(keys::SK, AttributeValue::S("REMINDER#garbage".into()))
                .item(keys::GSI2PK, AttributeValue::S(keys::reminder_bucket_of_hour(at("2031-05-20T06:00:00Z"), shard)))
                .item(keys::GSI2SK, AttributeValue::S("2031-05-20T06:10:00.000Z#garbage#garbage".into()))
                .send()
                .await
                .unwrap();
        }
        let r = dispatch_reminders(&s.stack.app, &url, "run-2", at("2031-05-20T07:07:00Z")).await.unwrap();
        assert_eq!((r.sent, r.checkpoint), (1, Some(at("2031-05-20T07:00:00Z"))), "{r:?}");
        let sent = drain(&s, &url, &h).await;
        assert_eq!((sent.len(), sent[0].late), (1, true));
    }
}

#[tokio::test]
async fn a_new_escalation_setting_keeps_a_due_step_and_never_overwrites_a_runs_claim() {
    // 07:30 UTC today; a chore due at 08:00 every day, reminded at 07:45.
    let s = stack_at_half_past_seven().await;
    let (h, owner, _member, _child) = household_of_three(&s).await;
    let mut body = daily("Plants", &[&owner]);
    body["startDate"] = json!(Utc::now().date_naive());
    body["reminderOffsets"] = json!([15]);
    let id = create(&s, &owner, &h, body).await["taskId"].as_str().unwrap().to_string();
    let store = &s.stack.app.store;
    let task = store.get_task(&h, &id).await.unwrap().unwrap();

    // Not due yet: the item takes the new plan at its first step ahead.
    assert!(store.replan_reminder(&task, Some(30), today_at(7, 30)).await.unwrap());
    let p = pending(&s, &h, &id).await.unwrap();
    assert_eq!((p.remind_at, p.plan.escalate_after), (today_at(7, 45), Some(30)));

    // 07:50: 07:45 is due and not sent yet. It keeps its step (it still goes out) and
    // takes the new plan for the steps after it.
    assert!(store.replan_reminder(&task, Some(60), today_at(7, 50)).await.unwrap());
    let p = pending(&s, &h, &id).await.unwrap();
    assert_eq!((p.remind_at, p.plan.escalate_after), (today_at(7, 45), Some(60)));

    // A dispatcher run claims it: the replan does not write under the run (which moves the
    // item on by the plan it claimed) and says so, to be tried again.
    store.claim_reminder(&p, "run-1", today_at(7, 50)).await.unwrap().expect("claimed");
    assert!(!store.replan_reminder(&task, None, today_at(7, 51)).await.unwrap());
    assert_eq!(pending(&s, &h, &id).await.unwrap().plan.escalate_after, Some(60));
    // Once the claim has lapsed (the run died), it goes through.
    let later = today_at(7, 51) + shared::store::reminders::CLAIM_LEASE;
    assert!(store.replan_reminder(&task, None, later).await.unwrap());
    assert_eq!(pending(&s, &h, &id).await.unwrap().plan.escalate_after, None);
}
