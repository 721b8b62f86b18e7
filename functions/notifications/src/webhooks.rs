//! Webhooks per household: CRUD by owners and admins (the secret is shown once and kept
//! encrypted with KMS), the fan-out of events to them, and `WebhookDelivery`, the SQS
//! worker that signs and posts each delivery, retrying with exponential backoff through
//! SQS delays and logging every attempt.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::auth::Action;
use shared::domain::audit::AuditEntry;
use shared::domain::notification::{EventType, notification_id};
use shared::domain::webhook::{
    ATTEMPT_TIMEOUT_SECONDS, MAX_ATTEMPTS, MAX_WEBHOOKS, TargetPolicy, Webhook, WebhookInput, allowed_address,
    backoff_seconds, check_url, new_secret, secret_key, signature,
};
use shared::platform::error::{FieldError, FieldIssue};
use shared::platform::pagination::{CursorRule, Page};
use shared::platform::validate::ulid_param;
use shared::store::StoreError;
use shared::store::keys;
use shared::store::webhooks::{Attempt, Delivery, DeliveryState};
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

fn policy(app: &App) -> TargetPolicy {
    if app.config.webhook_allow_loopback { TargetPolicy::AllowLoopback } else { TargetPolicy::PublicHttps }
}

/// The addresses `url`'s host resolves to, all of which the policy allows; an error names
/// the field issue (unresolvable, or a refused address).
async fn resolve_allowed(url: &str, policy: TargetPolicy) -> Result<(String, Vec<SocketAddr>), FieldIssue> {
    let target = check_url(url, policy).map_err(|_| FieldIssue::InvalidUrl)?;
    let lookup =
        tokio::time::timeout(Duration::from_secs(3), tokio::net::lookup_host((target.host.as_str(), target.port)));
    let addrs: Vec<SocketAddr> = match lookup.await {
        Ok(Ok(a)) => a.collect(),
        _ => return Err(FieldIssue::InvalidUrl),
    };
    // Every address must be allowed: a name that resolves to a public and a private
    // address could be made to pick the private one.
    if addrs.is_empty() {
        return Err(FieldIssue::InvalidUrl);
    }
    if addrs.iter().any(|a| !allowed_address(a.ip(), policy)) {
        return Err(FieldIssue::PrivateAddress);
    }
    // Plain http only ever to this machine (the local stack's receivers).
    if !target.https && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(FieldIssue::InvalidUrl);
    }
    Ok((target.host, addrs))
}

async fn checked_url(app: &App, url: &str) -> Result<(), ApiError> {
    resolve_allowed(url, policy(app))
        .await
        .map(|_| ())
        .map_err(|issue| ApiError::validation(vec![FieldError::new("url", issue)]))
}

fn kms(app: &App) -> Result<&aws_sdk_kms::Client, ApiError> {
    app.kms().ok_or_else(|| {
        tracing::error!("no KMS client: webhook secrets cannot be kept");
        ApiError::new(ErrorCode::Internal)
    })
}

async fn encrypt_secret(app: &App, w: &Webhook, secret: &str) -> Result<String, ApiError> {
    let out = kms(app)?
        .encrypt()
        .key_id(&app.config.webhook_key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(secret.as_bytes()))
        .encryption_context("householdId", &w.household_id)
        .encryption_context("webhookId", &w.webhook_id)
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %aws_sdk_kms::error::DisplayErrorContext(&e), "KMS encrypt failed");
            ApiError::unavailable()
        })?;
    let blob = out.ciphertext_blob.ok_or_else(ApiError::unavailable)?;
    Ok(STANDARD.encode(blob.into_inner()))
}

async fn decrypt_secret(app: &App, w: &Webhook, ciphertext: &str) -> Result<String, String> {
    let kms = app.kms().ok_or("no KMS client")?;
    let blob = STANDARD.decode(ciphertext).map_err(|e| format!("stored secret: {e}"))?;
    let out = kms
        .decrypt()
        .key_id(&app.config.webhook_key_id)
        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob))
        .encryption_context("householdId", &w.household_id)
        .encryption_context("webhookId", &w.webhook_id)
        .send()
        .await
        .map_err(|e| format!("KMS decrypt: {}", aws_sdk_kms::error::DisplayErrorContext(e)))?;
    let plain = out.plaintext.ok_or("KMS returned no plaintext")?;
    String::from_utf8(plain.into_inner()).map_err(|e| e.to_string())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created<'a> {
    #[serde(flatten)]
    webhook: &'a Webhook,
    /// Shown this once: the receiver verifies signatures with it.
    secret: String,
}

/// `POST /v1/households/{householdId}/webhooks`: 201 with the secret, shown once.
pub async fn create_webhook(app: App, req: ApiRequest) -> ApiResult {
    let (m, existing) = app
        .membership_with(&req, Action::ManageWebhooks, async {
            let id = ulid_param("householdId", req.path_param("householdId"))?;
            Ok::<_, ApiError>(app.store.list_webhooks(&id).await?)
        })
        .await?;
    let existing = existing?;
    let input: WebhookInput = req.json()?;
    let url =
        input.url.clone().ok_or_else(|| ApiError::validation(vec![FieldError::new("url", FieldIssue::Required)]))?;
    let events = WebhookInput::event_types(&input.events.clone().unwrap_or_default())?;
    checked_url(&app, &url).await?;
    if existing.len() >= MAX_WEBHOOKS {
        return Err(ApiError::new(ErrorCode::WebhookLimit).with("max", MAX_WEBHOOKS));
    }
    let now = app.now();
    let w = Webhook {
        webhook_id: ulid::Ulid::new().to_string(),
        household_id: m.household.household_id.clone(),
        url,
        events,
        active: input.active.unwrap_or(true),
        created_by: m.member.user_id.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut random = [0u8; 32];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| ApiError::new(ErrorCode::Internal))?;
    let secret = new_secret(random);
    let ciphertext = encrypt_secret(&app, &w, &secret).await?;
    let audit = webhook_audit(&m.member.user_id, "webhook.create", &w, &req, now);
    app.store.create_webhook(&w, &ciphertext, &audit).await?;
    let location = format!("/v1/households/{}/webhooks/{}", w.household_id, w.webhook_id);
    Ok(ApiResponse::created(location, &Created { webhook: &w, secret }).etag(w.version))
}

/// `GET /v1/households/{householdId}/webhooks`: all of them (at most ten), one page.
pub async fn list_webhooks(app: App, req: ApiRequest) -> ApiResult {
    let m = app.membership(&req, Action::ManageWebhooks).await?;
    let items = app.store.list_webhooks(&m.household.household_id).await?;
    Ok(ApiResponse::ok(&Page::new(items, None)))
}

/// The webhook in the path, and the caller (an owner or admin of its household).
async fn target_webhook(app: &App, req: &ApiRequest) -> Result<(Webhook, String), ApiError> {
    let m = app.membership(req, Action::ManageWebhooks).await?;
    let id = ulid_param("webhookId", req.path_param("webhookId"))?;
    let w = app
        .store
        .get_webhook(&m.household.household_id, &id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::WebhookNotFound))?;
    Ok((w, m.member.user_id))
}

/// The audit entry of a change to webhook `w`: where household data goes (the URL's host,
/// and a hash of the whole URL: some receivers carry a secret in the path, which a log kept
/// two years must not), which events, and whether it is on.
fn webhook_audit(actor: &str, action: &str, w: &Webhook, req: &ApiRequest, at: DateTime<Utc>) -> AuditEntry {
    use sha2::Digest;
    let host = reqwest::Url::parse(&w.url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    let hash = sha2::Sha256::digest(w.url.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    AuditEntry::new(actor, action, format!("webhook/{}", w.webhook_id), &req.correlation_id, at).details(
        serde_json::json!({
            "host": host,
            "urlSha256": hash,
            "events": w.events.iter().map(|e| e.name()).collect::<Vec<_>>(),
            "active": w.active,
        }),
    )
}

/// `PATCH …/webhooks/{webhookId}` with `If-Match`: url, events, active.
pub async fn update_webhook(app: App, req: ApiRequest) -> ApiResult {
    let (current, actor) = target_webhook(&app, &req).await?;
    let input: WebhookInput = req.json()?;
    req.require_if_match(current.version)?;
    let mut updated = current.clone();
    if let Some(url) = input.url {
        checked_url(&app, &url).await?;
        updated.url = url;
    }
    if let Some(events) = input.events {
        updated.events = WebhookInput::event_types(&events)?;
    }
    if let Some(active) = input.active {
        updated.active = active;
    }
    updated.version += 1;
    updated.updated_at = app.now();
    let audit = webhook_audit(&actor, "webhook.update", &updated, &req, updated.updated_at);
    match app.store.update_webhook(&updated, &audit).await {
        Ok(()) => Ok(ApiResponse::ok(&updated).etag(updated.version)),
        Err(StoreError::ConditionFailed) => Err(req.lost_race()),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE …/webhooks/{webhookId}`: 204; its pending deliveries then fail.
pub async fn delete_webhook(app: App, req: ApiRequest) -> ApiResult {
    let (w, actor) = target_webhook(&app, &req).await?;
    let audit = webhook_audit(&actor, "webhook.delete", &w, &req, app.now());
    if app.store.delete_webhook(&w.household_id, &w.webhook_id, &audit).await? {
        Ok(ApiResponse::no_content())
    } else {
        // Deleted by someone else meanwhile.
        Err(ApiError::new(ErrorCode::WebhookNotFound))
    }
}

/// `GET …/webhooks/{webhookId}/deliveries`: the log, newest first, every attempt shown.
pub async fn list_deliveries(app: App, req: ApiRequest) -> ApiResult {
    let (w, _) = target_webhook(&app, &req).await?;
    let pk = keys::household(&w.household_id);
    let prefix = keys::webhook_delivery(&w.webhook_id, "");
    let (limit, start) = req.page(&CursorRule {
        attributes: &[keys::PK, keys::SK],
        equal: &[(keys::PK, &pk)],
        prefixed: &[(keys::SK, &prefix)],
    })?;
    let (items, next) = app.store.list_deliveries(&w.household_id, &w.webhook_id, limit, start, app.now()).await?;
    Ok(ApiResponse::ok(&Page::new(items, next)))
}

/// `POST …/deliveries/{deliveryId}/redeliver`: the same payload again, as a new delivery
/// (202, with its id); the log keeps both.
pub async fn redeliver(app: App, req: ApiRequest) -> ApiResult {
    let (w, actor) = target_webhook(&app, &req).await?;
    let id = ulid_param("deliveryId", req.path_param("deliveryId"))?;
    let original = app
        .store
        .get_delivery(&w.household_id, &w.webhook_id, &id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::DeliveryNotFound))?;
    let now = app.now();
    let original_id = original.delivery_id.clone();
    let again = Delivery {
        delivery_id: ulid::Ulid::new().to_string(),
        state: DeliveryState::Pending,
        attempts: Vec::new(),
        attempts_started: 0,
        created_at: now,
        ..original
    };
    let audit = AuditEntry::new(
        &actor,
        "webhook.redeliver",
        format!("webhook/{}/deliveries/{}", w.webhook_id, again.delivery_id),
        &req.correlation_id,
        now,
    )
    .details(serde_json::json!({ "of": original_id }));
    app.store.log_redelivery(&again, &audit).await?;
    if let Err(e) = enqueue(&app, &again, 1, 0).await {
        tracing::warn!(error = %e, "redelivery not queued");
        // Not left pending with nothing behind it: failed, and the client may try again.
        let attempt = Attempt { number: 1, at: now, status: None, error: Some("not queued".into()), duration_ms: 0 };
        app.store.record_attempt(&again, &attempt, DeliveryState::Failed).await?;
        return Err(ApiError::unavailable());
    }
    Ok(ApiResponse::json(http::StatusCode::ACCEPTED, &again))
}

/// What the webhook queue carries: which delivery to attempt next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    pub household_id: String,
    pub webhook_id: String,
    pub delivery_id: String,
    /// The attempt this message is for: a stray copy (SQS delivers at least once) of an
    /// attempt already made is dropped, so retries keep their backoff.
    #[serde(default = "first")]
    pub attempt: u32,
}

fn first() -> u32 {
    1
}

async fn enqueue(app: &App, d: &Delivery, attempt: u32, delay_seconds: i32) -> Result<(), String> {
    let m = WebhookMessage {
        household_id: d.household_id.clone(),
        webhook_id: d.webhook_id.clone(),
        delivery_id: d.delivery_id.clone(),
        attempt,
    };
    app.sqs
        .send_message()
        .queue_url(&app.config.webhook_queue_url)
        .message_body(serde_json::to_string(&m).expect("a webhook message serializes"))
        .delay_seconds(delay_seconds)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    Ok(())
}

/// Hands `event` (its identity `key`, at `at`) to every active webhook of the household
/// that takes it. Idempotent: the same event gives each webhook the same delivery, queued
/// again only while no attempt has started.
pub async fn fan_out(
    app: &App,
    household_id: &str,
    event: EventType,
    key: &str,
    at: DateTime<Utc>,
    data: serde_json::Value,
) -> Result<usize, String> {
    let hooks = app.store.list_webhooks(household_id).await.map_err(|e| format!("webhooks: {e:?}"))?;
    let mut queued = 0;
    for w in hooks.iter().filter(|w| w.active && w.events.contains(&event)) {
        let payload = json!({ "type": event.name(), "timestamp": shared::platform::clock::rfc3339(at), "data": data });
        let d = Delivery {
            delivery_id: notification_id(key, &w.webhook_id, at),
            webhook_id: w.webhook_id.clone(),
            household_id: household_id.to_string(),
            event,
            payload: payload.to_string(),
            state: DeliveryState::Pending,
            attempts: Vec::new(),
            attempts_started: 0,
            created_at: app.now(),
        };
        let new = app.store.put_delivery(&d).await.map_err(|e| format!("delivery: {e:?}"))?;
        let waiting = new
            || app
                .store
                .get_delivery(household_id, &w.webhook_id, &d.delivery_id)
                .await
                .map_err(|e| format!("delivery: {e:?}"))?
                .is_some_and(|x| x.state == DeliveryState::Pending && x.attempts_started == 0);
        if waiting {
            enqueue(app, &d, 1, 0).await?;
            queued += 1;
        }
    }
    Ok(queued)
}

pub async fn handle_deliveries(app: App, event: SqsEvent) -> SqsBatchResponse {
    shared::lambda::each_message(&event, "webhook delivery", |m| attempt_delivery(&app, m)).await
}

/// One attempt at one delivery. An attempt that fails at the receiver is logged and
/// scheduled again (a delayed message) rather than failed back to SQS: receives count
/// towards the DLQ, and the backoff is ours.
async fn attempt_delivery(app: &App, message: &SqsMessage) -> Result<(), String> {
    let m: WebhookMessage = serde_json::from_str(message.body.as_deref().unwrap_or_default())
        .map_err(|e| format!("unreadable message: {e}"))?;
    let store_err = |e: StoreError| format!("{e:?}");
    let Some(d) = app.store.get_delivery(&m.household_id, &m.webhook_id, &m.delivery_id).await.map_err(store_err)?
    else {
        return Ok(());
    };
    if d.state != DeliveryState::Pending {
        return Ok(());
    }
    let number = d.attempts_started + 1;
    // This message's attempt began and was never logged: the worker stopped during it (SQS
    // shows the message again after its visibility timeout). The next attempt goes ahead.
    let died = m.attempt == d.attempts_started && (d.attempts.len() as u32) < d.attempts_started;
    if m.attempt != number && !died {
        return Ok(()); // A copy of a message for an attempt already made.
    }
    let now = app.now();
    let hook = app.store.webhook_with_secret(&m.household_id, &m.webhook_id).await.map_err(store_err)?;
    let Some((w, ciphertext)) = hook.filter(|(w, _)| w.active) else {
        let attempt = Attempt {
            number,
            at: now,
            status: None,
            error: Some("the webhook was removed or turned off".into()),
            duration_ms: 0,
        };
        return app.store.record_attempt(&d, &attempt, DeliveryState::Failed).await.map_err(store_err);
    };
    if !app.store.begin_attempt(&d, number).await.map_err(store_err)? {
        return Ok(()); // Another worker took this attempt (a redelivered message).
    }
    // A secret that cannot be read is a failed attempt like any other: logged, retried.
    let key = match decrypt_secret(app, &w, &ciphertext).await {
        Ok(secret) => secret_key(&secret).ok_or_else(|| "the stored secret is not a whsec_ secret".to_string()),
        Err(e) => Err(e),
    };
    let attempt = match key {
        Ok(key) => post(app, &w, &d, &key, number, now).await,
        Err(e) => {
            tracing::error!(error = %e, "webhook secret unreadable");
            Attempt { number, at: now, status: None, error: Some("signing failed".into()), duration_ms: 0 }
        }
    };
    let ok = attempt.status.is_some_and(|s| (200..300).contains(&s));
    let state = if ok {
        DeliveryState::Delivered
    } else if number >= MAX_ATTEMPTS {
        DeliveryState::Failed
    } else {
        DeliveryState::Pending
    };
    tracing::info!(delivery_id = %d.delivery_id, number, status = ?attempt.status, error = ?attempt.error, ?state, "webhook attempt");
    app.store.record_attempt(&d, &attempt, state).await.map_err(store_err)?;
    if state == DeliveryState::Pending {
        enqueue(app, &d, number + 1, backoff_seconds(app.config.webhook_retry_base_seconds, number + 1)).await?;
    }
    Ok(())
}

/// Signs and posts the delivery to an address the guard allows, within the timeout.
async fn post(app: &App, w: &Webhook, d: &Delivery, key: &[u8], number: u32, now: DateTime<Utc>) -> Attempt {
    let started = Instant::now();
    let fail = |error: String| Attempt {
        number,
        at: now,
        status: None,
        error: Some(error),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    // Checked again at delivery: DNS may have changed since the webhook was saved. The
    // request goes to the address checked, not to a second lookup.
    let (host, addrs) = match resolve_allowed(&w.url, policy(app)).await {
        Ok(a) => a,
        Err(FieldIssue::PrivateAddress) => return fail("the host resolves to a refused address".into()),
        Err(_) => return fail("the host does not resolve".into()),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(ATTEMPT_TIMEOUT_SECONDS))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve_to_addrs(&host, &addrs)
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => return fail(format!("client: {e}")),
    };
    let timestamp = now.timestamp();
    let response = client
        .post(&w.url)
        .header("content-type", "application/json")
        .header("user-agent", "ChoreGarden-Webhooks/1")
        .header("webhook-id", &d.delivery_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature(key, &d.delivery_id, timestamp, &d.payload))
        .body(d.payload.clone())
        .send()
        .await;
    match response {
        Ok(r) => Attempt {
            number,
            at: now,
            status: Some(r.status().as_u16()),
            error: None,
            duration_ms: started.elapsed().as_millis() as u64,
        },
        Err(e) if e.is_timeout() => fail(format!("no answer within {ATTEMPT_TIMEOUT_SECONDS} s")),
        Err(e) if e.is_connect() => fail("connection refused or unreachable".into()),
        Err(e) => fail(format!("request failed: {e}")),
    }
}
