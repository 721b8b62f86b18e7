//! Account erasure: `DELETE /v1/me` and the `ErasureFunction` job it queues.
//!
//! The route refuses an owner whose household has other members (they must hand it on or
//! delete it first), queues the job, then marks the profile erased: from that write on,
//! every token issued before it is refused on every route. The job, idempotent and
//! resumable, works through every household the user is in or has left (the membership or
//! `LEFT#` item is its checklist entry, deleted once that household is done), then their
//! S3 objects, their Cognito user and their own partition, and leaves a bare marker that
//! TTL removes.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use shared::auth::Role;
use shared::domain::audit::AuditEntry;
use shared::domain::erasure::{ErasureRequest, Traces, successor, tombstone_id};
use shared::domain::household::Member;
use shared::domain::household_change::{Change, HouseholdChange};
use shared::store::StoreError;
use shared::store::erasure::{CO_MEMBER_PREFIXES, ErasureMark, ErasureState, NameScope, Scrubbed};
use shared::store::keys;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

/// `DELETE /v1/me`: 202; the account is erased at once for every route, and the job
/// removes the rest.
pub async fn delete_me(app: App, req: ApiRequest) -> ApiResult {
    let caller = app.caller(&req).await?;
    let user_id = caller.principal.user_id.clone();
    let now = app.now();
    let mut names: Vec<String> = caller.profile.iter().map(|p| p.display_name.clone()).collect();
    names.extend(caller.principal.name_hint.clone());
    let mut blocking = Vec::new();
    let mut start = None;
    loop {
        let (page, next) = app.store.list_my_households(&user_id, 100, start).await?;
        for (household, member) in page {
            if member.role == Role::Owner && household.member_count > 1 {
                blocking.push(household.household_id.clone());
            }
            names.push(member.display_name);
        }
        match next {
            Some(n) => start = Some(n),
            None => break,
        }
    }
    if !blocking.is_empty() {
        return Err(ApiError::new(ErrorCode::OwnsHousehold).with("households", blocking.join(", ")));
    }
    let emails: Vec<String> =
        caller.profile.iter().filter_map(|p| p.email.clone()).chain(caller.principal.email.clone()).collect();
    // The job is queued first: if marking then fails, the job finds no mark and lets the
    // message go; if queueing fails, nothing has changed and the client may retry.
    // It runs after ERASURE_DELAY_SECONDS (15 minutes in AWS): by then every request let in
    // before the mark has ended, and what it set off (stream events, notifications, an
    // upload being processed) has landed, so the job finds and removes that too.
    let request = ErasureRequest { user_id: user_id.clone(), correlation_id: req.correlation_id.clone() };
    let body = serde_json::to_value(&request).expect("serializable");
    app.enqueue(&app.config.erasure_queue_url, &body, app.config.erasure_delay_seconds).await?;
    let mark = ErasureMark { tombstone_id: tombstone_id(), names, emails };
    let audit = AuditEntry::new(&user_id, "user.erase", format!("user/{user_id}"), &req.correlation_id, now);
    app.store.mark_erased(&user_id, &mark, &audit).await?;
    Ok(ApiResponse::json(http::StatusCode::ACCEPTED, &serde_json::json!({ "erasedAt": now })))
}

/// How long after the route queued it a message may arrive before the mark it waits for.
const YOUNG_MILLIS: i64 = 5 * 60 * 1000;

pub async fn handle_batch(app: App, event: SqsEvent) -> SqsBatchResponse {
    let app = &app;
    shared::lambda::each_message(&event, "erasure", |m| async move {
        let body = m.body.as_deref().unwrap_or_default();
        let request: ErasureRequest = serde_json::from_str(body).map_err(|e| format!("unreadable message: {e}"))?;
        match erase(app, &request.user_id, &request.correlation_id).await? {
            Outcome::NotErased if is_young(app, m) => {
                Err(format!("user {} is not marked erased yet; retrying later", request.user_id))
            }
            outcome => {
                tracing::info!(correlation_id = %request.correlation_id, ?outcome, "erasure");
                Ok(())
            }
        }
    })
    .await
}

fn is_young(app: &App, message: &SqsMessage) -> bool {
    let sent = message.attributes.get("SentTimestamp").and_then(|t| t.parse::<i64>().ok());
    let young = YOUNG_MILLIS + i64::from(app.config.erasure_delay_seconds) * 1000;
    sent.is_some_and(|ms| app.now().timestamp_millis() - ms < young)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No erased mark: the route's write failed (or is still on its way).
    NotErased,
    AlreadyFinished,
    Erased {
        households: usize,
        scrubbed: Scrubbed,
    },
}

/// Erases one user; safe to run again at any point.
pub async fn erase(app: &App, user_id: &str, correlation_id: &str) -> Result<Outcome, String> {
    let err = |e: StoreError| format!("{e:?}");
    let (erased_at, mut mark) = match app.store.erasure_state(user_id).await.map_err(err)? {
        ErasureState::NotErased => return Ok(Outcome::NotErased),
        ErasureState::Finished => return Ok(Outcome::AlreadyFinished),
        ErasureState::Running { erased_at, mark } => (erased_at, mark),
    };
    // Their address as Cognito knows it, kept with the mark before the Cognito user goes.
    if let Some(email) = cognito_email(app, user_id).await?
        && !mark.emails.contains(&email)
    {
        mark.emails.push(email);
        app.store.add_erasure_emails(user_id, &mark).await.map_err(err)?;
    }
    let traces = Traces::new(user_id, &mark.tombstone_id, &mark.names, &mark.emails);
    let ctx = Ctx { app, user_id, traces: &traces, correlation_id, started_at: app.now() };
    let households = app.store.households_of(user_id).await.map_err(err)?;
    let mut scrubbed = Scrubbed::default();
    for household_id in &households {
        scrubbed += ctx.leave_household(household_id).await?;
        app.store.household_erased(user_id, household_id).await.map_err(err)?;
    }
    ctx.delete_personal_exports().await?;
    delete_cognito_user(app, user_id).await?;
    scrubbed.deleted += app.store.finish_erasure(user_id, erased_at).await.map_err(err)?;
    Ok(Outcome::Erased { households: households.len(), scrubbed })
}

struct Ctx<'a> {
    app: &'a App,
    user_id: &'a str,
    traces: &'a Traces,
    correlation_id: &'a str,
    /// When this pass began.
    started_at: DateTime<Utc>,
}

impl Ctx<'_> {
    fn audit(&self, action: &str, target: String) -> AuditEntry {
        AuditEntry::new(&self.traces.tombstone_id, action, target, self.correlation_id, self.app.now())
    }

    /// Takes the user out of one household and out of everything in it that names them.
    async fn leave_household(&self, household_id: &str) -> Result<Scrubbed, String> {
        let err = |e: StoreError| format!("{e:?}");
        let store = &self.app.store;
        let Some(household) = store.get_household(household_id).await.map_err(err)? else {
            // Deleted: the purge worker removes all of it.
            return Ok(Scrubbed::default());
        };
        let roster: Vec<Member> =
            store.roster(household_id).await.map_err(err)?.into_iter().map(|m| m.member).collect();
        if let Some(member) = roster.iter().find(|m| m.user_id == self.user_id) {
            let others: Vec<&Member> = roster.iter().filter(|m| m.user_id != self.user_id).collect();
            let mut member = member.clone();
            if member.role == Role::Owner {
                match successor(&others) {
                    // Alone: the household goes with them.
                    None => {
                        self.app
                            .enqueue(
                                &self.app.config.purge_queue_url,
                                &serde_json::json!({ "householdId": household_id }),
                                self.app.config.purge_delay_seconds,
                            )
                            .await
                            .map_err(|e| e.to_string())?;
                        let audit = self.audit("household.delete", format!("household/{household_id}"));
                        return match store.delete_household(&household, &audit).await {
                            Ok(()) | Err(StoreError::ConditionFailed) => Ok(Scrubbed::default()),
                            Err(e) => Err(err(e)),
                        };
                    }
                    // Someone joined since the route checked: the household is handed on
                    // (admins first, then whoever joined first) rather than lost.
                    Some(next) => {
                        let audit = self
                            .audit("household.transfer", format!("household/{household_id}"))
                            .details(serde_json::json!({ "to": next.user_id }));
                        store.transfer_ownership(&household, &member, next, &audit).await.map_err(err)?;
                        member = store.get_member(household_id, self.user_id).await.map_err(err)?.ok_or("gone")?;
                    }
                }
            }
            // A member record changed meanwhile (points from an approval, a new role) is read
            // again; only a member already gone counts as removed.
            let mut attempts = 0;
            loop {
                let audit = self.audit("member.erase", format!("member/{}", self.traces.tombstone_id));
                match store.remove_member(&member, &audit).await {
                    Ok(()) => break,
                    Err(StoreError::ConditionFailed) if attempts < 5 => {
                        attempts += 1;
                        match store.get_member(household_id, self.user_id).await.map_err(err)? {
                            Some(again) => member = again,
                            None => break,
                        }
                    }
                    Err(e) => return Err(err(e)),
                }
            }
        }
        // Their chores go to the others now (not through the stream, which would tell the
        // household "… left" with their name).
        let change = HouseholdChange {
            household_id: household_id.to_string(),
            change: Change::MemberLeft { user_id: self.user_id.to_string() },
            audit_id: format!("erasure-{}", self.traces.tombstone_id),
            correlation_id: self.correlation_id.to_string(),
        };
        functions_tasks::apply_household_change(self.app, &change).await?;
        functions_households::photos::delete_photos(self.app, household_id, |p| p.uploaded_by == self.user_id).await?;
        let mut scrubbed = store
            .scrub_partition(&keys::household(household_id), "", self.traces, NameScope::Household)
            .await
            .map_err(err)?;
        scrubbed += store.scrub_invites(household_id, self.traces).await.map_err(err)?;
        // What the others were told about them, or did to them.
        for other in roster.iter().filter(|m| m.user_id != self.user_id) {
            for prefix in CO_MEMBER_PREFIXES {
                let scope = NameScope::MessagesAbout(household_id);
                scrubbed += store
                    .scrub_partition(&keys::user(&other.user_id), prefix, self.traces, scope)
                    .await
                    .map_err(err)?;
            }
        }
        // Last, once nothing can start one with their data any more: the exports made until
        // now hold their rows.
        self.delete_household_exports(household_id).await?;
        Ok(scrubbed)
    }

    /// A household's exports made before the erasure hold the member's rows: their files
    /// and records go (members may export again).
    async fn delete_household_exports(&self, household_id: &str) -> Result<(), String> {
        self.delete_exports_under(&keys::household(household_id)).await
    }

    /// The user's personal exports (files under `users/<sub>/`; their records go with the
    /// user's partition).
    async fn delete_personal_exports(&self) -> Result<(), String> {
        self.delete_exports_under(&keys::user(self.user_id)).await
    }

    async fn delete_exports_under(&self, pk: &str) -> Result<(), String> {
        let err = |e: StoreError| format!("{e:?}");
        let s3 = self.app.s3().ok_or("no S3 client")?;
        let mut start = None;
        loop {
            let (items, next) = self.app.store.partition_page(pk, keys::EXPORT_PREFIX, start).await.map_err(err)?;
            for export in self.app.store.exports_of(items).map_err(err)? {
                // One started after this pass began is the next delivery's (it reruns).
                if export.created_at > self.started_at {
                    continue;
                }
                s3.delete_object()
                    .bucket(&self.app.config.exports_bucket)
                    .key(export.object_key())
                    .send()
                    .await
                    .map_err(|e| format!("S3: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
                self.app.store.delete_export(&export).await.map_err(err)?;
            }
            match next {
                Some(n) => start = Some(n),
                None => return Ok(()),
            }
        }
    }
}

/// The user's address in Cognito, if the user is still there.
async fn cognito_email(app: &App, user_id: &str) -> Result<Option<String>, String> {
    let Some(mail) = app.mail() else { return Ok(None) };
    match mail.cognito.admin_get_user().user_pool_id(&app.config.user_pool_id).username(user_id).send().await {
        Ok(user) => {
            Ok(user.user_attributes().iter().find(|a| a.name() == "email").and_then(|a| a.value()).map(str::to_string))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_user_not_found_exception()) => Ok(None),
        Err(e) => Err(format!("Cognito: {}", aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e))),
    }
}

/// Deletes the Cognito user (by `sub`, which Cognito accepts as the user name of a local
/// user); a user already gone is fine.
async fn delete_cognito_user(app: &App, user_id: &str) -> Result<(), String> {
    let Some(mail) = app.mail() else { return Ok(()) };
    match mail.cognito.admin_delete_user().user_pool_id(&app.config.user_pool_id).username(user_id).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_user_not_found_exception()) => Ok(()),
        Err(e) => Err(format!("Cognito: {}", aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e))),
    }
}
