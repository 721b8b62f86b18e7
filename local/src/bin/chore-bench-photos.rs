//! Benchmark (not a test): the photo worker on one upload of a 3- and a 12-megapixel JPEG,
//! against DynamoDB Local and the emulator's S3: HeadObject, GetObject, decode, orient,
//! re-encode, thumbnail, two PutObjects, the record marked ready. The worker runs in a child
//! process of its own, so its peak RSS (VmHWM) is the worker's alone. Prints the file's
//! size, wall time (the child's, process start included), the decode-and-encode time and
//! peak RSS; then checks the stored copy decodes at the same size.
//!
//! Run with scripts/bench (`--only photos`).

use std::io::Cursor;
use std::time::Instant;

use chrono::Utc;
use local::bench::{BoxError, ensure_bucket, peak_rss_kb, s3_client, worker_app};
use local::provision::{Endpoints, create_table};
use local::template::Template;
use shared::domain::audit::AuditEntry;
use shared::domain::photo::{Photo, PhotoInput, PhotoState, PhotoType};

const BUCKET: &str = "bench-photos";

/// A photo-like JPEG: smooth gradients with grain (a flat image would compress to nothing
/// and decode faster than a real one).
fn photo(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let grain = (seed % 48) as i32 - 24;
        let c = |v: u32| (v as i32 + grain).clamp(0, 255) as u8;
        image::Rgb([c(x * 255 / width), c(y * 255 / height), c((x + y) % 256)])
    });
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).expect("encode");
    out.into_inner()
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let ddb_endpoint = std::env::var("CG_BENCH_DYNAMODB_ENDPOINT").map_err(|_| "run this with scripts/bench")?;
    let s3_endpoint = std::env::var("CG_BENCH_MOTO_ENDPOINT").map_err(|_| "run this with scripts/bench")?;
    let args: Vec<String> = std::env::args().collect();
    // The child: the one upload, then its decode time and peak RSS.
    if args.get(1).map(String::as_str) == Some("--worker") {
        let (table, household_id, photo_id) = (&args[2], &args[3], &args[4]);
        let app = worker_app(&ddb_endpoint, &s3_endpoint, table, "PHOTOS_BUCKET", BUCKET).await?;
        let outcome = functions_households::photos::check_upload(&app, household_id, photo_id).await?;
        if outcome != functions_households::photos::Outcome::Ready {
            return Err(format!("the worker decided {outcome:?}").into());
        }
        println!("{}", peak_rss_kb());
        return Ok(());
    }
    let setup_ddb = aws_sdk_dynamodb::Client::new(&Endpoints::sdk_config(&ddb_endpoint).await);
    let s3 = s3_client(&s3_endpoint).await;
    ensure_bucket(&s3, BUCKET).await?;
    println!("The photo worker on one JPEG upload (worker in its own process)");
    println!(
        "{:>14} | {:>8} | {:>7} | {:>15} | {:>12} | {:>10}",
        "photo", "file MB", "wall s", "decode+encode s", "peak RSS MB", "stored"
    );
    for (label, width, height) in [("3 MP 2000×1500", 2000, 1500), ("12 MP 4000×3000", 4000, 3000)] {
        let table = format!("bench-photo-{}", ulid::Ulid::new().to_string().to_lowercase());
        create_table(&Template::load_default()?, &setup_ddb, &table).await?;
        let app = worker_app(&ddb_endpoint, &s3_endpoint, &table, "PHOTOS_BUCKET", BUCKET).await?;
        let bytes = photo(width, height);
        // The pure part alone, in this process: how long the pixels take.
        let started = Instant::now();
        functions_households::photos::process(&bytes, PhotoType::Jpeg).map_err(|r| format!("{r:?}"))?;
        let compute = started.elapsed().as_secs_f64();

        let household_id = ulid::Ulid::new().to_string();
        let input = PhotoInput { content_type: "image/jpeg".into(), size: bytes.len() as u64 };
        let now = Utc::now();
        let photo = Photo::new(&household_id, "ana", &input, PhotoType::Jpeg, now);
        let audit = AuditEntry::new("ana", "photo.create", format!("photo/{}", photo.photo_id), "bench", now);
        app.store.create_photo(&photo, &audit).await?;
        s3.put_object().bucket(BUCKET).key(photo.upload_key()).body(bytes.clone().into()).send().await?;

        let started = Instant::now();
        let child = std::process::Command::new(std::env::current_exe()?)
            .args(["--worker", &table, &household_id, &photo.photo_id])
            .output()?;
        let wall = started.elapsed().as_secs_f64();
        if !child.status.success() {
            return Err(format!("the worker failed: {}", String::from_utf8_lossy(&child.stderr)).into());
        }
        let peak_kb: u64 = String::from_utf8_lossy(&child.stdout).trim().parse()?;
        let done = app.store.get_photo(&household_id, &photo.photo_id, Utc::now()).await?.ok_or("no photo")?;
        let stored = s3.get_object().bucket(BUCKET).key(done.clean_key()).send().await?;
        let stored = image::load_from_memory(&stored.body.collect().await?.into_bytes())?;
        let same = done.state == PhotoState::Ready && (stored.width(), stored.height()) == (width, height);
        println!(
            "{label:>14} | {:>8.1} | {wall:>7.2} | {compute:>15.2} | {:>12.1} | {:>10}",
            bytes.len() as f64 / 1_048_576.0,
            peak_kb as f64 / 1024.0,
            if same { "same size" } else { "DIFFERENT" }
        );
        if !same {
            return Err("the stored photo is not the upload's size".into());
        }
    }
    Ok(())
}
