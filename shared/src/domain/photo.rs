//! Proof photos of completed chores: what a member may upload, where it lives, and the
//! states it goes through (pending → ready or rejected). The bytes never pass through the
//! API: the client PUTs them to S3 with a presigned URL, and the photo worker checks,
//! cleans and shrinks them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::platform::error::{ApiError, FieldError, FieldIssue};
use crate::platform::validate::Checks;

/// The largest upload accepted (a 12-megapixel phone JPEG is 3–8 MB).
pub const MAX_PHOTO_BYTES: u64 = 12 * 1024 * 1024;
/// The most pixels decoded (a 12 MP phone photo has 12 million): a small file cannot make
/// the worker decode a gigapixel canvas.
pub const MAX_PIXELS: u64 = 40_000_000;
/// The cleaned copy's longest side: larger images are scaled down.
pub const MAX_PHOTO_SIDE: u32 = 4096;
/// The thumbnail's longest side.
pub const THUMBNAIL_SIDE: u32 = 320;
/// How long the upload URL may be used.
pub const UPLOAD_URL_MINUTES: i64 = 15;
/// How long a download URL may be used.
pub const DOWNLOAD_URL_MINUTES: i64 = 5;
/// A photo never uploaded is forgotten after a day (TTL on its record).
pub const PENDING_HOURS: i64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoState {
    Pending,
    Ready,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PhotoType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
}

impl PhotoType {
    pub const ALL: [PhotoType; 2] = [PhotoType::Jpeg, PhotoType::Png];

    pub fn mime(self) -> &'static str {
        match self {
            PhotoType::Jpeg => "image/jpeg",
            PhotoType::Png => "image/png",
        }
    }

    pub fn from_mime(mime: &str) -> Option<PhotoType> {
        PhotoType::ALL.into_iter().find(|t| t.mime().eq_ignore_ascii_case(mime.trim()))
    }
}

/// Why the worker refused an upload (kept on the photo, shown to the member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Larger than the limit, or than the size the member declared.
    TooLarge,
    /// Not the size declared.
    SizeMismatch,
    /// Not an image of the declared type (a text file named `.jpg`, a truncated file).
    NotAnImage,
    /// Wider or taller than the decoder accepts.
    TooManyPixels,
}

/// `POST …/photos`: what the member is about to upload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PhotoInput {
    pub content_type: String,
    pub size: u64,
}

impl PhotoInput {
    pub fn check(&self) -> Result<PhotoType, ApiError> {
        let mut checks = Checks::new();
        let kind = PhotoType::from_mime(&self.content_type);
        if kind.is_none() {
            let allowed: Vec<&str> = PhotoType::ALL.iter().map(|t| t.mime()).collect();
            checks.push(FieldError::new("contentType", FieldIssue::InvalidValue).with("allowed", allowed.join(", ")));
        }
        checks.range("size", self.size.min(i64::MAX as u64) as i64, 1, MAX_PHOTO_BYTES as i64);
        checks.finish()?;
        Ok(kind.expect("checked"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Photo {
    pub photo_id: String,
    pub household_id: String,
    pub uploaded_by: String,
    pub content_type: PhotoType,
    /// The size declared (the upload URL binds it).
    pub size: u64,
    pub state: PhotoState,
    #[serde(default)]
    pub rejection: Option<Rejection>,
    /// The cleaned copy's size in pixels, once ready.
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    /// The completion it proves: a photo proves one. (Left out while unused: the claim's
    /// condition is `attribute_not_exists`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Photo {
    pub fn new(
        household_id: &str,
        uploaded_by: &str,
        input: &PhotoInput,
        kind: PhotoType,
        now: DateTime<Utc>,
    ) -> Photo {
        Photo {
            photo_id: ulid::Ulid::from_datetime(now.into()).to_string(),
            household_id: household_id.to_string(),
            uploaded_by: uploaded_by.to_string(),
            content_type: kind,
            size: input.size,
            state: PhotoState::Pending,
            rejection: None,
            width: None,
            height: None,
            used_by: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Where the member uploads: only the worker reads it, and deletes it when done.
    pub fn upload_key(&self) -> String {
        upload_key(&self.household_id, &self.photo_id)
    }

    /// The cleaned copy (re-encoded, no metadata).
    pub fn clean_key(&self) -> String {
        self.object_keys()[1].clone()
    }

    pub fn thumbnail_key(&self) -> String {
        self.object_keys()[2].clone()
    }

    /// Every object a photo may have.
    pub fn object_keys(&self) -> [String; 3] {
        object_keys(&self.household_id, &self.photo_id)
    }

    /// Whether it may prove a completion `recorder` records: ready, theirs, not used yet.
    pub fn proves_for(&self, recorder: &str) -> bool {
        self.state == PhotoState::Ready && self.uploaded_by == recorder && self.used_by.is_none()
    }
}

/// Where uploads go: the bucket notifies the worker of objects under it, and a lifecycle
/// rule removes any left behind.
pub const UPLOADS_PREFIX: &str = "uploads/";

/// The key a photo is uploaded to.
pub fn upload_key(household_id: &str, photo_id: &str) -> String {
    format!("{UPLOADS_PREFIX}{household_id}/{photo_id}")
}

/// Every object a photo may have: the upload, the cleaned copy, the thumbnail.
pub fn object_keys(household_id: &str, photo_id: &str) -> [String; 3] {
    let prefix = photo_prefix(household_id, photo_id);
    [upload_key(household_id, photo_id), format!("{prefix}photo.jpg"), format!("{prefix}thumbnail.jpg")]
}

/// A photo's folder in the bucket (its cleaned copy and thumbnail).
pub fn photo_prefix(household_id: &str, photo_id: &str) -> String {
    format!("households/{household_id}/photos/{photo_id}/")
}

/// A key as an S3 event notification gives it: URL-encoded (`+` for a space; emulators
/// encode `/` too). `None` for a malformed encoding.
pub fn event_key(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The household and photo an uploaded object's key names, if it is an upload.
pub fn upload_of_key(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix(UPLOADS_PREFIX)?;
    let mut parts = rest.split('/');
    let (household, photo) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let ulid = |s: &str| s.parse::<ulid::Ulid>().ok().map(|u| u.to_string());
    Some((ulid(household)?, ulid(photo)?))
}

/// The longest side scaled to at most `max`, keeping the aspect ratio.
pub fn fit_within(width: u32, height: u32, max: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max {
        return (width, height);
    }
    let scale =
        |side: u32| ((u64::from(side) * u64::from(max) + u64::from(longest) / 2) / u64::from(longest)).max(1) as u32;
    (scale(width), scale(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jpeg_and_png_up_to_the_limit() {
        let input = |ct: &str, size: u64| PhotoInput { content_type: ct.into(), size };
        assert_eq!(input("image/jpeg", 3_000_000).check().unwrap(), PhotoType::Jpeg);
        assert_eq!(input(" IMAGE/PNG", 1).check().unwrap(), PhotoType::Png);
        assert!(input("text/plain", 10).check().is_err());
        assert!(input("image/jpeg", 0).check().is_err());
        assert!(input("image/jpeg", MAX_PHOTO_BYTES + 1).check().is_err());
        assert!(input("image/jpeg", MAX_PHOTO_BYTES).check().is_ok());
    }

    #[test]
    fn upload_keys_are_found_again_and_nothing_else_is() {
        let h = "01JD3N7Y2K5V8T4R6W9Q1M0ZXB";
        let p = "01JD3T5B7D9F1H3K5M7P9R1T3V";
        let key = upload_key(h, p);
        assert_eq!(key, format!("uploads/{h}/{p}"));
        assert_eq!(upload_of_key(&key), Some((h.to_string(), p.to_string())));
        assert_eq!(upload_of_key(&format!("households/{h}/photos/{p}/photo.jpg")), None);
        assert_eq!(upload_of_key(&format!("uploads/{h}/{p}/x")), None);
        assert_eq!(upload_of_key("uploads/../x"), None);
    }

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(event_key("uploads%2FA%2FB").as_deref(), Some("uploads/A/B"));
        assert_eq!(event_key("uploads/A/B").as_deref(), Some("uploads/A/B"));
        assert_eq!(event_key("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(event_key("bad%2"), None);
        assert_eq!(event_key("bad%zz"), None);
    }

    #[test]
    fn fitting_keeps_the_aspect_and_never_enlarges() {
        assert_eq!(fit_within(4000, 3000, 320), (320, 240));
        assert_eq!(fit_within(3000, 4000, 320), (240, 320));
        assert_eq!(fit_within(200, 100, 320), (200, 100));
        assert_eq!(fit_within(10_000, 1, 320), (320, 1));
    }
}
