//! Dependencies failing: a 503 with Retry-After and nothing half-done; the worker's
//! partial batch failures and the dead-letter queue.

use aws_sdk_sqs::types::QueueAttributeName;
use local::poller::poll_once;
use reqwest::Method;
use serde_json::json;

use crate::support::{builder, stack};

#[tokio::test]
async fn an_unreachable_dynamodb_gives_503_with_retry_after() {
    let healthy = stack().await;
    let ana = healthy.user("ana").await;
    // Nothing listens on port 9 of the loopback: connections are refused at once.
    let broken = builder().dynamodb("http://127.0.0.1:9").start().await;
    let r = broken.call(&ana, Method::GET, "/v1/me", None).await;
    r.assert_problem(503, "dependency.unavailable");
    assert!(r.header("retry-after").is_some());
    let r = broken.call(&ana, Method::POST, "/v1/households", Some(json!({ "name": "Never" }))).await;
    r.assert_problem(503, "dependency.unavailable");
    let list = healthy.call(&ana, Method::GET, "/v1/households", None).await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_purge_worker_reports_partial_failures_and_poison_messages_reach_the_dlq() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let id = s.household(&ana, "Purge me").await;
    let worker = local::routes::workers().into_iter().find(|w| w.function == "PurgeHouseholdFunction").unwrap();
    let queue_url = s.stack.provisioned.queue_urls[worker.queue].clone();
    let dlq_url = s.stack.provisioned.queue_urls["HouseholdPurgeDLQ"].clone();
    let sqs = s.stack.provisioned.endpoints.sqs_client().await;
    let purge = s.stack.functions[worker.function].clone();

    // An active household is never purged. A young message for it is retried later (the
    // delete may still be marking it deleted); nothing is deleted meanwhile.
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(json!({ "householdId": id }).to_string())
        .send()
        .await
        .unwrap();
    let (ok, failed) = poll_once(&purge, &sqs, &worker, &queue_url, "arn:test", 0, 1).await.unwrap();
    assert_eq!((ok, failed), (0, 1));
    s.call(&ana, Method::GET, &format!("/v1/households/{id}"), None).await.assert_status(200);
    // Once it is marked deleted, the retried message purges it.
    let dlq_before = dlq_depth(&sqs, &dlq_url).await;
    s.call(&ana, Method::DELETE, &format!("/v1/households/{id}"), None).await.assert_status(204);
    let mut purged = false;
    for _ in 0..20 {
        poll_once(&purge, &sqs, &worker, &queue_url, "arn:test", 1, 1).await.unwrap();
        if s.items(&format!("HOUSEHOLD#{id}")).await.is_empty() {
            purged = true;
            break;
        }
    }
    assert!(purged, "the retried purge message did not purge the household");
    // Drain what is left of the two purge messages so the counts below are the new ones.
    while poll_once(&purge, &sqs, &worker, &queue_url, "arn:test", 1, 1).await.unwrap() != (0, 0) {}
    assert_eq!(dlq_depth(&sqs, &dlq_url).await, dlq_before);

    // One good message (a repeat for a household that no longer exists) and one poison.
    let gone = ulid::Ulid::new().to_string();
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(json!({ "householdId": gone }).to_string())
        .send()
        .await
        .unwrap();
    sqs.send_message().queue_url(&queue_url).message_body("{ not json").send().await.unwrap();
    let mut total_ok = 0;
    let mut total_failed = 0;
    for _ in 0..40 {
        let (ok, failed) = poll_once(&purge, &sqs, &worker, &queue_url, "arn:test", 1, 1).await.unwrap();
        total_ok += ok;
        total_failed += failed;
        let n = dlq_depth(&sqs, &dlq_url).await;
        if n == dlq_before + 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(total_ok, 1, "the good message is handled once and deleted");
    let max_receive = crate::support::template()
        .queues()
        .into_iter()
        .find(|q| q.logical_id == worker.queue)
        .and_then(|q| q.redrive)
        .unwrap()
        .1 as usize;
    assert_eq!(total_failed, max_receive, "the poison message is retried maxReceiveCount times");
    let dead = sqs.receive_message().queue_url(&dlq_url).wait_time_seconds(1).send().await.unwrap();
    assert_eq!(dead.messages.unwrap_or_default()[0].body(), Some("{ not json"));
}

async fn dlq_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> i32 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    out.attributes().unwrap()[&QueueAttributeName::ApproximateNumberOfMessages].parse().unwrap()
}

#[tokio::test]
async fn a_poison_notification_reaches_the_dlq_after_max_receives() {
    let s = stack().await;
    let worker = local::routes::workers().into_iter().find(|w| w.function == "NotificationWorkerFunction").unwrap();
    let queue_url = s.stack.provisioned.queue_urls[worker.queue].clone();
    let dlq_url = s.stack.provisioned.queue_urls["NotificationDLQ"].clone();
    let sqs = s.stack.provisioned.endpoints.sqs_client().await;
    let function = s.stack.functions[worker.function].clone();
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(r#"{"type":"reminder","householdId":7}"#)
        .send()
        .await
        .unwrap();
    let mut failed = 0;
    for _ in 0..40 {
        failed += poll_once(&function, &sqs, &worker, &queue_url, "arn:test", 1, 1).await.unwrap().1;
        if dlq_depth(&sqs, &dlq_url).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let max_receive = crate::support::template()
        .queues()
        .into_iter()
        .find(|q| q.logical_id == worker.queue)
        .and_then(|q| q.redrive)
        .unwrap()
        .1 as usize;
    assert_eq!(failed, max_receive, "reported failed on each receive, then dead-lettered");
    assert_eq!(dlq_depth(&sqs, &dlq_url).await, 1);
}
