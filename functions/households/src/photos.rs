//! Proof photos: `POST …/photos` hands out a presigned PUT URL, S3 tells the photo queue of
//! the upload, and `PhotoWorkerFunction` checks its size (HeadObject, before reading a
//! byte), decodes it as the declared type, and stores a re-encoded copy (pixels only: no
//! EXIF, no GPS, nothing appended) and a thumbnail; the upload itself is deleted.
//! `GET …/photos/{photoId}` gives the state and, once ready, short-lived download URLs.

use std::io::Cursor;
use std::time::Duration as StdDuration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Duration;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};
use shared::auth::Action;
use shared::domain::audit::AuditEntry;
use shared::domain::photo::{
    DOWNLOAD_URL_MINUTES, MAX_PHOTO_BYTES, MAX_PHOTO_SIDE, MAX_PIXELS, Photo, PhotoInput, PhotoState, PhotoType,
    Rejection, THUMBNAIL_SIDE, UPLOAD_URL_MINUTES, event_key, fit_within, upload_of_key,
};
use shared::platform::validate::ulid_param;
use shared::store::StoreError;
use shared::store::rate::RateLimit;
use shared::{ApiError, ApiRequest, ApiResponse, ApiResult, App, ErrorCode};

use crate::authorize;

/// The decoder refuses images wider or taller than this (a 12 MP photo is 4000 × 3000),
/// and any allocation beyond [`MAX_DECODE_BYTES`]: a small file cannot claim gigapixels.
const MAX_DECODE_SIDE: u32 = 10_000;
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
const PHOTO_QUALITY: u8 = 85;
const THUMBNAIL_QUALITY: u8 = 80;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Upload {
    url: String,
    method: &'static str,
    /// Send exactly these headers: the signature covers them.
    headers: std::collections::BTreeMap<String, String>,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhotoView {
    #[serde(flatten)]
    photo: Photo,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload: Option<Upload>,
    /// Once ready: the cleaned photo and its thumbnail, for [`DOWNLOAD_URL_MINUTES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    urls_expire_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn s3(app: &App) -> Result<&aws_sdk_s3::Client, ApiError> {
    app.s3().ok_or_else(ApiError::unavailable)
}

fn presigning(minutes: i64) -> Result<aws_sdk_s3::presigning::PresigningConfig, ApiError> {
    aws_sdk_s3::presigning::PresigningConfig::expires_in(StdDuration::from_secs(minutes as u64 * 60))
        .map_err(|_| ApiError::new(ErrorCode::Internal))
}

fn presign_failed(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "presigning failed");
    ApiError::new(ErrorCode::Internal)
}

/// Uploads a member may start a day, across households.
pub const PHOTO_UPLOADS: RateLimit = RateLimit { action: "photo-upload", limit: 100, seconds: 86_400 };

/// `POST /v1/households/{householdId}/photos`: a pending photo and the URL to upload it to.
/// Any member may upload (children complete chores too), [`PHOTO_UPLOADS`] a day.
pub async fn create_photo(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ViewTasks).await?;
    let input: PhotoInput = req.json()?;
    let kind = input.check()?;
    let now = app.now();
    if !app.store.rate_take(&PHOTO_UPLOADS, &m.member.user_id, now).await? {
        return Err(ApiError::rate_limited(PHOTO_UPLOADS.retry_after(now)));
    }
    let photo = Photo::new(&m.household.household_id, &m.member.user_id, &input, kind, now);
    // The URL binds the type and the length as signed headers: S3 refuses a PUT with any
    // other Content-Type or Content-Length (SignatureDoesNotMatch).
    let presigned = s3(&app)?
        .put_object()
        .bucket(&app.config.photos_bucket)
        .key(photo.upload_key())
        .content_type(kind.mime())
        .content_length(input.size as i64)
        .presigned(presigning(UPLOAD_URL_MINUTES)?)
        .await
        .map_err(|e| presign_failed(aws_sdk_s3::error::DisplayErrorContext(e)))?;
    let headers = presigned
        .headers()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
        .collect();
    let audit = AuditEntry::new(
        &m.member.user_id,
        "photo.create",
        format!("photo/{}", photo.photo_id),
        &req.correlation_id,
        now,
    );
    app.store.create_photo(&photo, &audit).await?;
    let location = format!("/v1/households/{}/photos/{}", photo.household_id, photo.photo_id);
    let upload = Upload {
        url: presigned.uri().to_string(),
        method: "PUT",
        headers,
        expires_at: now + Duration::minutes(UPLOAD_URL_MINUTES),
    };
    let view = PhotoView { photo, upload: Some(upload), url: None, thumbnail_url: None, urls_expire_at: None };
    Ok(ApiResponse::created(location, &view))
}

/// `GET /v1/households/{householdId}/photos/{photoId}`: its state; once ready, download
/// URLs for the cleaned photo and its thumbnail.
pub async fn get_photo(app: App, req: ApiRequest) -> ApiResult {
    let m = authorize(&app, &req, Action::ViewTasks).await?;
    let id = ulid_param("photoId", req.path_param("photoId"))?;
    let now = app.now();
    let photo = app
        .store
        .get_photo(&m.household.household_id, &id, now)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::PhotoNotFound))?;
    let mut view = PhotoView { photo, upload: None, url: None, thumbnail_url: None, urls_expire_at: None };
    if view.photo.state == PhotoState::Ready {
        let get = |key: String| async {
            let request = s3(&app)?
                .get_object()
                .bucket(&app.config.photos_bucket)
                .key(key)
                .presigned(presigning(DOWNLOAD_URL_MINUTES)?)
                .await
                .map_err(|e| presign_failed(aws_sdk_s3::error::DisplayErrorContext(e)))?;
            Ok::<_, ApiError>(request.uri().to_string())
        };
        view.url = Some(get(view.photo.clean_key()).await?);
        view.thumbnail_url = Some(get(view.photo.thumbnail_key()).await?);
        view.urls_expire_at = Some(now + Duration::minutes(DOWNLOAD_URL_MINUTES));
    }
    Ok(ApiResponse::ok(&view))
}

/// The cleaned photo and thumbnail (JPEG) of an accepted upload.
#[derive(Debug)]
pub struct Processed {
    pub photo: Vec<u8>,
    pub thumbnail: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Decodes `bytes` as `declared`, turns it upright (EXIF orientation), scales it to at
/// most [`MAX_PHOTO_SIDE`] and re-encodes it as JPEG with a thumbnail. Only pixels cross
/// over: metadata (EXIF, GPS, comments) and anything appended to the file are left behind.
/// A file whose content is not of the declared type is refused, whatever its name.
pub fn process(bytes: &[u8], declared: PhotoType) -> Result<Processed, Rejection> {
    let format = match declared {
        PhotoType::Jpeg => ImageFormat::Jpeg,
        PhotoType::Png => ImageFormat::Png,
    };
    if image::guess_format(bytes).ok() != Some(format) {
        return Err(Rejection::NotAnImage);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let refused = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => Rejection::TooManyPixels,
        _ => Rejection::NotAnImage,
    };
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(Rejection::TooManyPixels);
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(refused)?;
    img.apply_orientation(orientation);
    let (width, height) = fit_within(img.width(), img.height(), MAX_PHOTO_SIDE);
    if (width, height) != (img.width(), img.height()) {
        img = img.resize_exact(width, height, image::imageops::FilterType::Triangle);
    }
    // JPEG has no alpha: a transparent PNG's colours are kept, its transparency dropped.
    let rgb = img.into_rgb8();
    let (tw, th) = fit_within(width, height, THUMBNAIL_SIDE);
    let thumbnail = image::imageops::thumbnail(&rgb, tw, th);
    Ok(Processed { photo: jpeg(&rgb, PHOTO_QUALITY), thumbnail: jpeg(&thumbnail, THUMBNAIL_QUALITY), width, height })
}

fn jpeg(img: &image::RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .expect("encoding an RGB image into memory does not fail");
    out
}

/// The parts of an S3 event notification the worker reads (S3 sends `s3:TestEvent`, with
/// no records, when the notification is configured).
#[derive(Debug, Deserialize)]
struct S3Notification {
    #[serde(default, rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Debug, Deserialize)]
struct S3Record {
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    object: S3Object,
}

#[derive(Debug, Deserialize)]
struct S3Object {
    key: String,
}

pub async fn handle_batch(app: App, event: SqsEvent) -> SqsBatchResponse {
    let app = &app;
    shared::lambda::each_message(&event, "photo", |m| async move {
        let body = m.body.as_deref().unwrap_or_default();
        let notification: S3Notification =
            serde_json::from_str(body).map_err(|e| format!("unreadable message: {e}"))?;
        for record in notification.records {
            // Keys arrive URL-encoded.
            let key = event_key(&record.s3.object.key);
            let Some((household_id, photo_id)) = key.as_deref().and_then(upload_of_key) else {
                tracing::warn!(key = %record.s3.object.key, "not a photo upload; ignored");
                continue;
            };
            let outcome = check_upload(app, &household_id, &photo_id).await?;
            tracing::info!(%household_id, %photo_id, ?outcome, "photo");
        }
        Ok(())
    })
    .await
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    Rejected(Rejection),
    /// Nothing to do: no such photo (its household is gone), already decided, or the
    /// upload already handled and deleted.
    Nothing,
}

/// Checks one upload and decides its photo; safe to run again.
pub async fn check_upload(app: &App, household_id: &str, photo_id: &str) -> Result<Outcome, String> {
    let err = |e: StoreError| format!("{e:?}");
    let s3 = app.s3().ok_or("no S3 client")?;
    let bucket = &app.config.photos_bucket;
    let now = app.now();
    let Some(photo) = app.store.get_photo(household_id, photo_id, now).await.map_err(err)? else {
        delete_objects(app, &shared::domain::photo::object_keys(household_id, photo_id)).await?;
        return Ok(Outcome::Nothing);
    };
    let upload = photo.upload_key();
    if photo.state != PhotoState::Pending {
        delete_objects(app, std::slice::from_ref(&upload)).await?;
        return Ok(Outcome::Nothing);
    }
    let head = match s3.head_object().bucket(bucket).key(&upload).send().await {
        Ok(h) => h,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => return Ok(Outcome::Nothing),
        Err(e) => return Err(format!("S3: {}", aws_sdk_s3::error::DisplayErrorContext(e))),
    };
    // The size first: nothing is read of an upload that is too large.
    let size = head.content_length().unwrap_or(0).max(0) as u64;
    let decided = if size > MAX_PHOTO_BYTES || size > photo.size {
        Err(Rejection::TooLarge)
    } else if size != photo.size {
        Err(Rejection::SizeMismatch)
    } else {
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(&upload)
            .send()
            .await
            .map_err(|e| format!("S3: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let bytes = object.body.collect().await.map_err(|e| format!("S3 body: {e}"))?.into_bytes();
        if bytes.len() as u64 > photo.size {
            Err(Rejection::TooLarge)
        } else {
            let kind = photo.content_type;
            tokio::task::spawn_blocking(move || process(&bytes, kind)).await.map_err(|e| e.to_string())?
        }
    };
    let outcome = match decided {
        Ok(processed) => {
            for (key, bytes) in [(photo.clean_key(), processed.photo), (photo.thumbnail_key(), processed.thumbnail)] {
                s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type("image/jpeg")
                    .body(bytes.into())
                    .send()
                    .await
                    .map_err(|e| format!("S3: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
            }
            if !app.store.photo_ready(&photo, processed.width, processed.height, now).await.map_err(err)? {
                // Deleted meanwhile (its household purged, its uploader erased): what was
                // just written goes too.
                delete_objects(app, &[photo.clean_key(), photo.thumbnail_key()]).await?;
                return Ok(Outcome::Nothing);
            }
            Outcome::Ready
        }
        Err(rejection) => {
            app.store.photo_rejected(&photo, rejection, now).await.map_err(err)?;
            Outcome::Rejected(rejection)
        }
    };
    delete_objects(app, std::slice::from_ref(&upload)).await?;
    Ok(outcome)
}

async fn delete_objects(app: &App, keys: &[String]) -> Result<(), String> {
    let s3 = app.s3().ok_or("no S3 client")?;
    for key in keys {
        s3.delete_object()
            .bucket(&app.config.photos_bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("S3: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}

/// Deletes the photos of a household that `which` picks: their files, then their records
/// (the purge of a deleted household, the erasure of a member's uploads).
pub async fn delete_photos(app: &App, household_id: &str, which: impl Fn(&Photo) -> bool) -> Result<usize, String> {
    let err = |e: StoreError| format!("{e:?}");
    let mut deleted = 0;
    let mut start = None;
    loop {
        let (photos, next) = app.store.list_photos(household_id, start).await.map_err(err)?;
        for photo in photos.iter().filter(|p| which(p)) {
            delete_objects(app, &photo.object_keys()).await?;
            app.store.delete_photo(photo).await.map_err(err)?;
            deleted += 1;
        }
        match next {
            Some(n) => start = Some(n),
            None => return Ok(deleted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img).write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_photo_is_re_encoded_and_gets_a_thumbnail_within_its_size() {
        let p = process(&encoded(ImageFormat::Jpeg, 640, 480), PhotoType::Jpeg).unwrap();
        assert_eq!((p.width, p.height), (640, 480));
        let thumb = image::load_from_memory(&p.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
        assert_eq!(image::guess_format(&p.photo).unwrap(), ImageFormat::Jpeg);
    }

    #[test]
    fn a_png_becomes_a_jpeg() {
        let p = process(&encoded(ImageFormat::Png, 100, 50), PhotoType::Png).unwrap();
        assert_eq!(image::guess_format(&p.photo).unwrap(), ImageFormat::Jpeg);
        assert_eq!((p.width, p.height), (100, 50));
    }

    #[test]
    fn text_a_wrong_type_or_a_truncated_file_is_not_an_image() {
        assert_eq!(process(b"just some text, named photo.jpg", PhotoType::Jpeg).unwrap_err(), Rejection::NotAnImage);
        let png = encoded(ImageFormat::Png, 10, 10);
        assert_eq!(process(&png, PhotoType::Jpeg).unwrap_err(), Rejection::NotAnImage, "declared JPEG, is PNG");
        let jpeg = encoded(ImageFormat::Jpeg, 64, 64);
        assert_eq!(process(&jpeg[..jpeg.len() / 3], PhotoType::Jpeg).unwrap_err(), Rejection::NotAnImage);
    }

    #[test]
    fn a_header_claiming_gigapixels_is_refused_before_decoding() {
        // A PNG header of 60000 × 60000 pixels (3.6 gigapixels), and nothing else.
        let mut png = encoded(ImageFormat::Png, 1, 1);
        png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        // The IHDR chunk's CRC-32 (over its type and data), so only the size is wrong.
        let crc = png[12..29].iter().fold(!0u32, |mut c, &b| {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            }
            c
        });
        png[29..33].copy_from_slice(&(!crc).to_be_bytes());
        assert_eq!(process(&png, PhotoType::Png).unwrap_err(), Rejection::TooManyPixels);
    }
}
