//! Issue 8: proof photos end to end through the local stack: the API hands out a presigned
//! PUT URL, the upload goes straight to the emulator's S3, S3 tells the photo queue itself
//! (the bucket's notification, configured from template.yaml), and the photo worker (its
//! function, its policy) cleans the photo. The stored copy is read back with an independent
//! JPEG marker walk: no EXIF, no GPS.

use std::time::Duration as StdDuration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestStack, User, builder};
use crate::tasks::daily;

/// A 1200 × 900 JPEG carrying an EXIF segment with a GPS position and a description we can
/// look for afterwards.
pub(crate) fn jpeg_with_gps() -> Vec<u8> {
    let img = image::RgbImage::from_fn(1200, 900, |x, y| image::Rgb([(x / 5) as u8, (y / 4) as u8, 90]));
    let mut plain = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut plain, image::ImageFormat::Jpeg).unwrap();
    let plain = plain.into_inner();
    // TIFF, big-endian: IFD0 with ImageDescription and a pointer to the GPS IFD, which holds
    // GPSLatitudeRef "N" and GPSLongitudeRef "E".
    let description = b"GPS-SECRET 52.5200N 13.4050E\0";
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
    let gps_ifd = 8 + 2 + 2 * 12 + 4;
    let text_at = gps_ifd + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x0e, 0, 2]);
    tiff.extend_from_slice(&(description.len() as u32).to_be_bytes());
    tiff.extend_from_slice(&(text_at as u32).to_be_bytes());
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1]);
    tiff.extend_from_slice(&(gps_ifd as u32).to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&[0, 3, 0, 2, 0, 0, 0, 2, b'E', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(description);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

/// The JPEG's marker segments before the image data (SOI … SOS), by marker byte.
fn jpeg_markers(bytes: &[u8]) -> Vec<u8> {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
    let mut markers = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        at += 2 + len;
    }
    markers
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asks for an upload URL and PUTs `bytes` to it as the API said; the photo's path.
pub(crate) async fn upload(s: &TestStack, user: &User, h: &str, content_type: &str, bytes: Vec<u8>) -> String {
    let created = s
        .call(
            user,
            Method::POST,
            &format!("/v1/households/{h}/photos"),
            Some(json!({ "contentType": content_type, "size": bytes.len() })),
        )
        .await;
    created.assert_status(201);
    assert_eq!(created.body["state"], "pending");
    let location = created.header("location").unwrap().to_string();
    let upload = &created.body["upload"];
    assert_eq!(upload["method"], "PUT");
    // The signature covers the declared type and length: S3 refuses a PUT with others.
    assert_eq!(upload["headers"]["content-type"], content_type);
    assert_eq!(upload["headers"]["content-length"], bytes.len().to_string());
    let url = upload["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"), "{url}");
    let mut put = s.http.put(upload["url"].as_str().unwrap()).body(bytes);
    for (name, value) in upload["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let response = put.send().await.unwrap();
    assert!(response.status().is_success(), "{}: {}", response.status(), response.text().await.unwrap());
    location
}

/// The photo once the worker decided it.
pub(crate) async fn decided(s: &TestStack, user: &User, location: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..240 {
        let r = s.call(user, Method::GET, location, None).await;
        r.assert_status(200);
        if r.body["state"] != "pending" {
            return r.body;
        }
        last = r.body;
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    panic!("the worker never decided: {last:#}");
}

async fn download(s: &TestStack, url: &Value) -> Vec<u8> {
    let r = s.http.get(url.as_str().expect("a download URL")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn an_uploaded_photo_loses_its_gps_and_only_a_ready_photo_of_the_household_proves_a_chore() {
    let s = builder().dev_like(local::schedule::TravelClock::new()).start().await;
    let (ana, ben) = (s.user("ana").await, s.user("ben").await);
    let h = s.household(&ana, "Photos").await;
    s.join(&ana, &h, &ben, "member").await;
    let mut body = daily("Clean the balcony", &[&ben]);
    body["requiresPhoto"] = json!(true);
    body["startDate"] = json!(chrono::Utc::now().date_naive() - chrono::Duration::days(1));
    let task = s.call(&ana, Method::POST, &format!("/v1/households/{h}/tasks"), Some(body)).await;
    task.assert_status(201);
    let complete = format!("/v1/households/{h}/tasks/{}/complete", task.body["taskId"].as_str().unwrap());

    // A JPEG with GPS EXIF, through the presigned URL: the stored copy has none of it.
    let original = jpeg_with_gps();
    assert!(contains(&original, b"Exif\0\0") && contains(&original, b"GPS-SECRET"));
    assert!(jpeg_markers(&original).contains(&0xE1), "the original has an APP1 (EXIF) segment");
    let location = upload(&s, &ben, &h, "image/jpeg", original).await;
    let photo = decided(&s, &ben, &location).await;
    assert_eq!(photo["state"], "ready", "{photo:#}");
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(1200), Some(900)));
    let stored = download(&s, &photo["url"]).await;
    assert!(!jpeg_markers(&stored).contains(&0xE1), "no APP1 (EXIF/XMP) segment left");
    assert!(!contains(&stored, b"Exif") && !contains(&stored, b"GPS-SECRET"));
    let decoded = image::load_from_memory(&stored).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1200, 900));
    let thumbnail = image::load_from_memory(&download(&s, &photo["thumbnailUrl"]).await).unwrap();
    assert!(thumbnail.width().max(thumbnail.height()) <= shared::domain::photo::THUMBNAIL_SIDE);
    assert_eq!((thumbnail.width(), thumbnail.height()), (320, 240));
    let photo_id = photo["photoId"].as_str().unwrap().to_string();

    // A text file named .jpg is no image: rejected; so is an upload larger than declared,
    // refused on its size alone (HeadObject) — it is put there directly, as if the URL had
    // not bound the length.
    let text = upload(&s, &ben, &h, "image/jpeg", b"<html>not a photo.jpg</html>".to_vec()).await;
    let text = decided(&s, &ben, &text).await;
    assert_eq!((text["state"].as_str(), text["rejection"].as_str()), (Some("rejected"), Some("not_an_image")));
    assert!(text.get("url").is_none());
    let small = s
        .call(
            &ben,
            Method::POST,
            &format!("/v1/households/{h}/photos"),
            Some(json!({ "contentType": "image/png", "size": 100 })),
        )
        .await;
    small.assert_status(201);
    let big_id = small.body["photoId"].as_str().unwrap();
    let s3 = s.stack.provisioned.endpoints.s3_client().await;
    let bucket = &s.stack.function_app("PhotoWorkerFunction").config.photos_bucket;
    s3.put_object()
        .bucket(bucket)
        .key(shared::domain::photo::upload_key(&h, big_id))
        .body(vec![0u8; 5000].into())
        .send()
        .await
        .unwrap();
    let big = decided(&s, &ben, &format!("/v1/households/{h}/photos/{big_id}")).await;
    assert_eq!(big["rejection"], "too_large", "{big:#}");
    // Over the limit is refused before any URL is made.
    let limit = shared::domain::photo::MAX_PHOTO_BYTES;
    s.call(
        &ben,
        Method::POST,
        &format!("/v1/households/{h}/photos"),
        Some(json!({ "contentType": "image/jpeg", "size": limit + 1 })),
    )
    .await
    .assert_problem(422, "request.validation_failed");

    // A chore needing proof takes only a ready photo of this household.
    let other = s.household(&ana, "Elsewhere").await;
    let elsewhere = upload(&s, &ana, &other, "image/jpeg", jpeg_with_gps()).await;
    let elsewhere = decided(&s, &ana, &elsewhere).await;
    assert_eq!(elsewhere["state"], "ready");
    let pending = s
        .call(
            &ben,
            Method::POST,
            &format!("/v1/households/{h}/photos"),
            Some(json!({ "contentType": "image/jpeg", "size": 10 })),
        )
        .await;
    for bad in [
        elsewhere["photoId"].as_str().unwrap(),
        text["photoId"].as_str().unwrap(),
        pending.body["photoId"].as_str().unwrap(),
        "not-a-photo",
    ] {
        let r = s.call(&ben, Method::POST, &complete, Some(json!({ "photo": bad }))).await;
        r.assert_problem(422, "request.validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "photo", "{:#}", r.body);
    }
    s.call(&ben, Method::POST, &complete, None).await.assert_problem(422, "request.validation_failed");
    // Ana's photo of this household proves nothing Ben records.
    let anas = upload(&s, &ana, &h, "image/jpeg", jpeg_with_gps()).await;
    let anas = decided(&s, &ana, &anas).await;
    let r = s.call(&ben, Method::POST, &complete, Some(json!({ "photo": anas["photoId"] }))).await;
    r.assert_problem(422, "request.validation_failed");
    let done = s.call(&ben, Method::POST, &complete, Some(json!({ "photo": photo_id }))).await;
    done.assert_status(200);
    assert_eq!(done.body["completion"]["photo"], photo_id.as_str());
    // One photo proves one completion.
    let again = s.call(&ben, Method::POST, &complete, Some(json!({ "photo": photo_id }))).await;
    again.assert_problem(422, "request.validation_failed");
    // Another household's member cannot read it.
    let cy = s.user("cy").await;
    s.call(&cy, Method::GET, &location, None).await.assert_problem(404, "household.not_found");

    // Deleting a household removes its photos (the purge worker).
    s.call(&ana, Method::DELETE, &format!("/v1/households/{other}"), None).await.assert_status(204);
    let mut left = usize::MAX;
    for _ in 0..240 {
        let listed = s3.list_objects_v2().bucket(bucket).prefix(format!("households/{other}/")).send().await.unwrap();
        left = listed.key_count().unwrap_or(0) as usize;
        if left == 0 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    assert_eq!(left, 0, "the deleted household's photos are gone");
    let kept = s3.list_objects_v2().bucket(bucket).prefix(format!("households/{h}/")).send().await.unwrap();
    assert_eq!(kept.key_count(), Some(4), "the other household keeps its two photos and thumbnails");
    let uploads = s3.list_objects_v2().bucket(bucket).prefix("uploads/").send().await.unwrap();
    assert_eq!(uploads.key_count(), Some(0), "every handled upload is deleted: {uploads:?}");
}
