//! Exports (issue 8): `POST …/exports` queues one, `GET …/exports/{exportId}` tells where
//! it stands (with a short-lived download URL once ready), and the export worker streams
//! the household's records, Query page by Query page, into an S3 multipart upload, so its
//! memory stays flat however large the household's history grows.

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::{Action, policy};
use shared::domain::audit::AuditEntry;
use shared::domain::export::{CsvRows, Export, ExportFormat, ExportInput, ExportKind, ExportState, Row};
use shared::domain::task::TaskState;
use shared::platform::validate::ulid_param;
use shared::store::exports::{ExportRefused, ExportStart};
use shared::store::tasks::{HistoryFilter, TaskRange};
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::authorize;

/// How long an export (its file and its record) is kept: the bucket's lifecycle rule and
/// the record's TTL.
pub const EXPORT_DAYS: i64 = 7;
/// How long a download URL works.
pub const DOWNLOAD_URL_MINUTES: i64 = 15;
/// S3's smallest part but the last: the worker uploads a part once this much is written.
const PART_BYTES: usize = 5 * 1024 * 1024;

/// What the export queue carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMessage {
    /// Empty for a personal export.
    pub household_id: String,
    pub export_id: String,
    /// Set for a personal (GDPR portability) export: whose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// An export as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportView {
    #[serde(flatten)]
    export: Export,
    /// Once ready: where to download it, for [`DOWNLOAD_URL_MINUTES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    download_expires_at: Option<DateTime<Utc>>,
}

/// `POST /v1/households/{householdId}/exports`: 202 with the queued export and its
/// `Location`. Owners and admins export the household; members and children only their
/// own history (completions). One export runs per household at a time, and a household
/// starts at most `EXPORTS_PER_DAY` a day: 429 with `Retry-After` beyond.
pub async fn create_export(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ViewTasks).await?;
    let input: ExportInput = req.json()?;
    let mut include = input.kinds()?;
    let manager = policy::allows(m.member.role, Action::ManageTasks);
    let only_user = if manager {
        None
    } else {
        // A member's export is their own history; asking for more is refused, not trimmed.
        if include.iter().any(|k| *k != ExportKind::Completions) && input.include.is_some() {
            return Err(ApiError::new(ErrorCode::Forbidden));
        }
        include = vec![ExportKind::Completions];
        Some(m.member.user_id.clone())
    };
    let now = app.now();
    let export = Export {
        export_id: ulid::Ulid::new().to_string(),
        household_id: m.household.household_id.clone(),
        user_id: None,
        requested_by: m.member.user_id.clone(),
        format: input.format,
        include,
        from: input.from,
        to: input.to,
        only_user,
        state: ExportState::Queued,
        rows: None,
        error: None,
        created_at: now,
        updated_at: now,
        expires_at: now + Duration::days(EXPORT_DAYS),
    };
    let audit = AuditEntry::new(
        &m.member.user_id,
        "export.create",
        format!("export/{}", export.export_id),
        &req.correlation_id,
        now,
    )
    .details(serde_json::json!({ "format": export.format, "include": export.include, "ownOnly": export.only_user.is_some() }));
    match app.store.start_export(&export, app.config.exports_per_day, &audit, now).await? {
        Ok(()) => {}
        Err(ExportRefused::Running { retry_after } | ExportRefused::DailyCap { retry_after }) => {
            return Err(ApiError::rate_limited(retry_after));
        }
    }
    let location = format!("/v1/households/{}/exports/{}", export.household_id, export.export_id);
    queue(&app, export, location).await
}

/// Queues a started export for the worker; 202 with it and its `Location`.
async fn queue(app: &App, export: Export, location: String) -> ApiResult {
    let message = ExportMessage {
        household_id: export.household_id.clone(),
        export_id: export.export_id.clone(),
        user_id: export.user_id.clone(),
    };
    let message = serde_json::to_value(&message).expect("a message serializes");
    if let Err(e) = app.enqueue(&app.config.export_queue_url, &message, 0).await {
        // Not left queued with nothing behind it (nor holding the lock).
        app.store.finish_export(&export, ExportState::Failed, None, Some("not queued"), app.now()).await?;
        return Err(e);
    }
    let view = ExportView { export, download_url: None, download_expires_at: None };
    Ok(ApiResponse::json(http::StatusCode::ACCEPTED, &view).header("location", location))
}

/// `POST /v1/me/exports` (and the deprecated `POST /v1/me/export`): a personal export (GDPR portability) of everything about the
/// caller across their households, as one JSON document: their profile, each membership
/// with its household, their completions there, and their notifications. 202 and a
/// `Location`; one runs at a time per member, at most `EXPORTS_PER_DAY` a day.
pub async fn create_my_export(app: App, req: ApiRequest) -> ApiResult {
    let user_id = app.caller(&req).await?.principal.user_id.clone();
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Input {
        /// Only `json`: a structured, machine-readable document. Left out, or a value
        /// (`null` is neither, as the OpenAPI document says).
        #[serde(default, deserialize_with = "shared::domain::export::present")]
        format: Option<ExportFormat>,
    }
    let input: Input = if req.body.is_empty() { Input { format: None } } else { req.json()? };
    if input.format == Some(ExportFormat::Csv) {
        return Err(ApiError::validation(vec![
            shared::platform::error::FieldError::new("format", shared::platform::error::FieldIssue::InvalidValue)
                .with("allowed", "json"),
        ]));
    }
    let now = app.now();
    let export = Export {
        export_id: ulid::Ulid::new().to_string(),
        household_id: String::new(),
        user_id: Some(user_id.clone()),
        requested_by: user_id.clone(),
        format: ExportFormat::Json,
        include: vec![ExportKind::Completions],
        from: None,
        to: None,
        only_user: Some(user_id.clone()),
        state: ExportState::Queued,
        rows: None,
        error: None,
        created_at: now,
        updated_at: now,
        expires_at: now + Duration::days(EXPORT_DAYS),
    };
    let audit =
        AuditEntry::new(&user_id, "export.personal", format!("export/{}", export.export_id), &req.correlation_id, now);
    match app.store.start_export(&export, app.config.exports_per_day, &audit, now).await? {
        Ok(()) => {}
        Err(ExportRefused::Running { retry_after } | ExportRefused::DailyCap { retry_after }) => {
            return Err(ApiError::rate_limited(retry_after));
        }
    }
    let location = format!("/v1/me/exports/{}", export.export_id);
    queue(&app, export, location).await
}

/// `GET /v1/me/exports/{exportId}`: the caller's personal export; once ready, a download URL.
pub async fn get_my_export(app: App, req: ApiRequest) -> ApiResult {
    let user_id = app.caller(&req).await?.principal.user_id.clone();
    let id = ulid_param("exportId", req.path_param("exportId"))?;
    let now = app.now();
    let export = app
        .store
        .get_personal_export(&user_id, &id)
        .await?
        .filter(|e| e.expires_at > now)
        .ok_or_else(|| ApiError::new(ErrorCode::ExportNotFound))?;
    view(&app, export, now).await
}

/// An export still queued or running after this long will not finish: its messages were
/// all used up (5 receives of 30 minutes) or dead-lettered. It reads as failed.
const STALE_AFTER: Duration = Duration::hours(3);

/// The export as the API shows it: with a download URL once ready.
async fn view(app: &App, mut export: Export, now: DateTime<Utc>) -> ApiResult {
    if matches!(export.state, ExportState::Queued | ExportState::Running) && export.updated_at + STALE_AFTER < now {
        export.state = ExportState::Failed;
        export.error = Some("the export did not finish; ask for a new one".into());
    }
    let (download_url, download_expires_at) = match export.state {
        ExportState::Ready => {
            let url = presigned_download(app, &export).await?;
            (Some(url), Some(now + Duration::minutes(DOWNLOAD_URL_MINUTES)))
        }
        _ => (None, None),
    };
    Ok(ApiResponse::ok(&ExportView { export, download_url, download_expires_at }))
}

/// `GET /v1/households/{householdId}/exports/{exportId}`: its state; once ready, a download
/// URL valid for [`DOWNLOAD_URL_MINUTES`]. Owners and admins see every export of the
/// household, members their own.
pub async fn get_export(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ViewTasks).await?;
    let id = ulid_param("exportId", req.path_param("exportId"))?;
    let now = app.now();
    let export = app
        .store
        .get_export(&m.household.household_id, &id)
        .await?
        .filter(|e| e.expires_at > now)
        // Owners and admins see every export; anyone else only their own history's (an
        // admin demoted since keeps no access to a household export they asked for).
        .filter(|e| {
            policy::allows(m.member.role, Action::ManageTasks) || e.only_user.as_deref() == Some(&m.member.user_id)
        })
        .ok_or_else(|| ApiError::new(ErrorCode::ExportNotFound))?;
    view(&app, export, now).await
}

async fn presigned_download(app: &App, export: &Export) -> Result<String, ApiError> {
    let s3 = app.s3().ok_or_else(ApiError::unavailable)?;
    let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(
        DOWNLOAD_URL_MINUTES as u64 * 60,
    ))
    .map_err(|_| ApiError::new(ErrorCode::Internal))?;
    let file = format!("chore-garden-export-{}.{}", export.export_id, export.extension());
    let request = s3
        .get_object()
        .bucket(&app.config.exports_bucket)
        .key(export.object_key())
        .response_content_disposition(format!("attachment; filename=\"{file}\""))
        .presigned(config)
        .await
        .map_err(|e| {
            tracing::error!(error = %aws_sdk_s3::error::DisplayErrorContext(e), "presigning failed");
            ApiError::new(ErrorCode::Internal)
        })?;
    Ok(request.uri().to_string())
}

/// The export worker: one message, one export. A redelivered message for an export that is
/// ready or failed does nothing; one for an export that was running (the worker died) starts
/// it again from the beginning (an unfinished multipart upload is aborted by the bucket's
/// lifecycle rule).
pub async fn handle_batch(app: App, event: SqsEvent) -> SqsBatchResponse {
    let app = &app;
    shared::lambda::each_message(&event, "export", |m| async move {
        let body = m.body.as_deref().unwrap_or_default();
        let message: ExportMessage = serde_json::from_str(body).map_err(|e| format!("unreadable message: {e}"))?;
        run_export(app, &message).await
    })
    .await
}

/// Writes one export. A failure while writing (not while reading the record) ends it as
/// failed, with the reason, and frees the household for another: the member may ask again.
pub async fn run_export(app: &App, message: &ExportMessage) -> Result<(), String> {
    let err = |e: shared::store::StoreError| format!("{e:?}");
    let export = match &message.user_id {
        Some(user) => app.store.get_personal_export(user, &message.export_id).await,
        None => app.store.get_export(&message.household_id, &message.export_id).await,
    };
    let Some(export) = export.map_err(err)? else {
        return Ok(());
    };
    match app.store.export_running(&export, app.now()).await.map_err(err)? {
        ExportStart::Started => {}
        ExportStart::Settled => return Ok(()),
        // Its lock lapsed and another export runs: SQS brings this one back later.
        ExportStart::Busy => return Err("another export of the household runs now".into()),
    }
    match write_export(app, &export).await {
        Ok(rows) => {
            app.store.finish_export(&export, ExportState::Ready, Some(rows), None, app.now()).await.map_err(err)?;
            tracing::info!(export_id = %export.export_id, rows, "export ready");
            Ok(())
        }
        Err(reason) => {
            tracing::error!(export_id = %export.export_id, %reason, "export failed");
            app.store
                .finish_export(&export, ExportState::Failed, None, Some("the export could not be written"), app.now())
                .await
                .map_err(err)
        }
    }
}

/// The bytes written so far, shared between the encoders (CSV, zip, JSON) and the upload.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn len(&self) -> usize {
        self.0.lock().expect("not poisoned").len()
    }

    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }
}

/// An S3 multipart upload that takes a part whenever [`PART_BYTES`] are buffered.
struct Upload<'a> {
    s3: &'a aws_sdk_s3::Client,
    bucket: &'a str,
    key: String,
    id: String,
    parts: Vec<CompletedPart>,
    buffer: Buffer,
}

impl<'a> Upload<'a> {
    async fn start(app: &'a App, export: &Export) -> Result<Upload<'a>, String> {
        let s3 = app.s3().ok_or("no S3 client")?;
        let key = export.object_key();
        let out = s3
            .create_multipart_upload()
            .bucket(&app.config.exports_bucket)
            .key(&key)
            .content_type(export.content_type())
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
        let id = out.upload_id.ok_or("no upload id")?;
        Ok(Upload { s3, bucket: &app.config.exports_bucket, key, id, parts: Vec::new(), buffer: Buffer::default() })
    }

    /// Uploads what is buffered as the next part, if it is a full part (or `last`).
    async fn flush(&mut self, last: bool) -> Result<(), String> {
        if self.buffer.len() < PART_BYTES && !(last && (self.buffer.len() > 0 || self.parts.is_empty())) {
            return Ok(());
        }
        let number = self.parts.len() as i32 + 1;
        let out = self
            .s3
            .upload_part()
            .bucket(self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .part_number(number)
            .body(ByteStream::from(self.buffer.take()))
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
        self.parts.push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag).build());
        Ok(())
    }

    async fn complete(mut self) -> Result<(), String> {
        self.flush(true).await?;
        self.s3
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(self.parts)).build())
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
        Ok(())
    }

    async fn abort(self) {
        let aborted =
            self.s3.abort_multipart_upload().bucket(self.bucket).key(&self.key).upload_id(&self.id).send().await;
        if let Err(e) = aborted {
            tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(e), "upload not aborted; the lifecycle rule will");
        }
    }
}

/// How one kind of record is encoded into the buffer.
enum Encoder {
    /// One CSV file (one kind).
    Csv(CsvRows),
    /// CSV files in a zip, one per kind.
    Zip(Box<zip::ZipWriter<zip::write::StreamWriter<Buffer>>>, Option<CsvRows>),
    /// One JSON document: `{"<kind>": [ … ], …}`.
    Json { first_in_kind: bool },
}

/// Writes the export and returns how many rows it holds.
async fn write_export(app: &App, export: &Export) -> Result<u64, String> {
    let mut upload = Upload::start(app, export).await?;
    match write_records(app, export, &mut upload).await {
        Ok(rows) => {
            upload.complete().await?;
            Ok(rows)
        }
        Err(e) => {
            upload.abort().await;
            Err(e)
        }
    }
}

async fn write_records(app: &App, export: &Export, upload: &mut Upload<'_>) -> Result<u64, String> {
    if let Some(user_id) = &export.user_id {
        return write_personal(app, export, user_id, upload).await;
    }
    let mut encoder = match (export.format, export.include.len()) {
        (ExportFormat::Csv, 1) => Encoder::Csv(CsvRows::new(export.include[0])),
        (ExportFormat::Csv, _) => Encoder::Zip(Box::new(zip::ZipWriter::new_stream(upload.buffer.clone())), None),
        (ExportFormat::Json, _) => {
            write!(
                upload.buffer.clone(),
                "{{\"householdId\":{},\"exportId\":{}",
                json(&export.household_id),
                json(&export.export_id)
            )
            .map_err(|e| e.to_string())?;
            Encoder::Json { first_in_kind: true }
        }
    };
    let mut rows = 0u64;
    for kind in &export.include {
        begin_kind(&mut encoder, *kind, &upload.buffer)?;
        match kind {
            ExportKind::Completions => {
                let filter = HistoryFilter {
                    from: export.from.unwrap_or(DateTime::UNIX_EPOCH),
                    to: export.to.unwrap_or(export.created_at + Duration::days(1)),
                    user_id: export.only_user.as_deref(),
                    task_id: None,
                };
                let mut start = None;
                loop {
                    let (page, next) = app
                        .store
                        .list_completions(&export.household_id, &filter, 100, start)
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    for c in &page {
                        push(&mut encoder, c, &upload.buffer)?;
                    }
                    rows += page.len() as u64;
                    upload.flush(false).await?;
                    match next {
                        Some(n) => start = Some(n),
                        None => break,
                    }
                }
            }
            ExportKind::Tasks => {
                for state in [TaskState::Active, TaskState::Paused, TaskState::Archived, TaskState::Finished] {
                    let range = TaskRange::State { state, after: None, before: None };
                    let mut start = None;
                    loop {
                        let (page, next) = app
                            .store
                            .list_tasks(&export.household_id, &range, None, 100, start)
                            .await
                            .map_err(|e| format!("{e:?}"))?;
                        for t in &page {
                            push(&mut encoder, t, &upload.buffer)?;
                        }
                        rows += page.len() as u64;
                        upload.flush(false).await?;
                        match next {
                            Some(n) => start = Some(n),
                            None => break,
                        }
                    }
                }
            }
            ExportKind::Members => {
                let mut start = None;
                loop {
                    let (page, next) =
                        app.store.list_members(&export.household_id, 100, start).await.map_err(|e| format!("{e:?}"))?;
                    for member in &page {
                        push(&mut encoder, member, &upload.buffer)?;
                    }
                    rows += page.len() as u64;
                    upload.flush(false).await?;
                    match next {
                        Some(n) => start = Some(n),
                        None => break,
                    }
                }
            }
        }
        end_kind(&mut encoder, &upload.buffer)?;
    }
    match encoder {
        Encoder::Zip(zip, _) => {
            zip.finish().map_err(|e| e.to_string())?;
        }
        Encoder::Json { .. } => write!(upload.buffer.clone(), "}}").map_err(|e| e.to_string())?,
        Encoder::Csv(_) => {}
    }
    Ok(rows)
}

/// A personal export: one JSON document of everything about `user_id`.
async fn write_personal(app: &App, export: &Export, user_id: &str, upload: &mut Upload<'_>) -> Result<u64, String> {
    let err = |e: shared::store::StoreError| format!("{e:?}");
    let mut out = upload.buffer.clone();
    let profile = app.store.get_profile(user_id).await.map_err(err)?;
    write!(out, "{{\"userId\":{},\"exportId\":{},\"profile\":", json(user_id), json(&export.export_id))
        .map_err(|e| e.to_string())?;
    serde_json::to_writer(&mut out, &profile).map_err(|e| e.to_string())?;
    write!(out, ",\"households\":[").map_err(|e| e.to_string())?;
    let mut rows = 0u64;
    let mut first_household = true;
    let mut start = None;
    loop {
        let (memberships, next) = app.store.list_my_households(user_id, 25, start).await.map_err(err)?;
        for (household, member) in memberships {
            if !first_household {
                write!(out, ",").map_err(|e| e.to_string())?;
            }
            first_household = false;
            write!(out, "{{\"household\":").map_err(|e| e.to_string())?;
            serde_json::to_writer(&mut out, &household).map_err(|e| e.to_string())?;
            write!(out, ",\"membership\":").map_err(|e| e.to_string())?;
            serde_json::to_writer(&mut out, &member).map_err(|e| e.to_string())?;
            write!(out, ",\"completions\":[").map_err(|e| e.to_string())?;
            let filter = HistoryFilter {
                from: DateTime::UNIX_EPOCH,
                to: export.created_at + Duration::days(1),
                user_id: Some(user_id),
                task_id: None,
            };
            let mut first = true;
            let mut page_start = None;
            loop {
                let (page, next) =
                    app.store.list_completions(&household.household_id, &filter, 100, page_start).await.map_err(err)?;
                for c in &page {
                    json_item(&mut out, &mut first, c)?;
                }
                rows += page.len() as u64;
                upload.flush(false).await?;
                match next {
                    Some(n) => page_start = Some(n),
                    None => break,
                }
            }
            write!(out, "]}}").map_err(|e| e.to_string())?;
        }
        match next {
            Some(n) => start = Some(n),
            None => break,
        }
    }
    write!(out, "],\"notifications\":[").map_err(|e| e.to_string())?;
    let mut first = true;
    let mut start = None;
    loop {
        let (page, next) = app.store.list_notifications(user_id, 100, start, app.now()).await.map_err(err)?;
        for n in &page {
            json_item(&mut out, &mut first, n)?;
        }
        rows += page.len() as u64;
        upload.flush(false).await?;
        match next {
            Some(n) => start = Some(n),
            None => break,
        }
    }
    write!(out, "]}}").map_err(|e| e.to_string())?;
    Ok(rows)
}

/// One element of a JSON array being streamed: a comma before all but the first.
fn json_item(out: &mut Buffer, first: &mut bool, value: &impl Serialize) -> Result<(), String> {
    if !*first {
        out.write_all(b",").map_err(|e| e.to_string())?;
    }
    *first = false;
    serde_json::to_writer(out, value).map_err(|e| e.to_string())
}

fn json(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn begin_kind(encoder: &mut Encoder, kind: ExportKind, buffer: &Buffer) -> Result<(), String> {
    match encoder {
        Encoder::Csv(_) => {}
        Encoder::Zip(zip, current) => {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(true);
            zip.start_file(format!("{}.csv", kind.name()), options).map_err(|e| e.to_string())?;
            *current = Some(CsvRows::new(kind));
        }
        Encoder::Json { first_in_kind } => {
            write!(buffer.clone(), ",{}:[", json(kind.name())).map_err(|e| e.to_string())?;
            *first_in_kind = true;
        }
    }
    Ok(())
}

fn push<T: Row + Serialize>(encoder: &mut Encoder, record: &T, buffer: &Buffer) -> Result<(), String> {
    match encoder {
        Encoder::Csv(rows) => {
            rows.push(record);
            buffer.clone().write_all(&rows.take()).map_err(|e| e.to_string())
        }
        Encoder::Zip(zip, Some(rows)) => {
            rows.push(record);
            zip.write_all(&rows.take()).map_err(|e| e.to_string())
        }
        Encoder::Zip(_, None) => Err("no file started".into()),
        Encoder::Json { first_in_kind } => json_item(&mut buffer.clone(), first_in_kind, record),
    }
}

fn end_kind(encoder: &mut Encoder, buffer: &Buffer) -> Result<(), String> {
    match encoder {
        // A kind with no records still has its header row.
        Encoder::Csv(rows) => buffer.clone().write_all(&rows.take()).map_err(|e| e.to_string()),
        Encoder::Zip(zip, current) => match current.take() {
            Some(mut rows) => zip.write_all(&rows.take()).map_err(|e| e.to_string()),
            None => Ok(()),
        },
        Encoder::Json { .. } => write!(buffer.clone(), "]").map_err(|e| e.to_string()),
    }
}
