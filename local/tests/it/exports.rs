//! Issue 8: exports, end to end through the local stack: the API queues one, the worker
//! (run here as its function, with its policy) writes it to the emulator's S3, and the
//! presigned URL downloads it, read back with independent CSV and zip readers.

use std::io::Read;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestStack, User, stack};
use crate::tasks::{create, daily, household_of_three};

/// Runs the export worker on the export in `location` (a household's, or the caller's own),
/// then reads it.
async fn written(s: &TestStack, user: &User, location: &str) -> Value {
    let message = match location.strip_prefix("/v1/me/exports/") {
        Some(id) => functions_households::exports::ExportMessage {
            household_id: String::new(),
            export_id: id.to_string(),
            user_id: Some(user.id.clone()),
        },
        None => {
            let mut parts = location.trim_start_matches("/v1/households/").split("/exports/");
            let (household_id, export_id) = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());
            functions_households::exports::ExportMessage { household_id, export_id, user_id: None }
        }
    };
    let worker = s.stack.function_app("ExportWorkerFunction");
    functions_households::exports::run_export(&worker, &message).await.unwrap();
    let r = s.call(user, Method::GET, location, None).await;
    r.assert_status(200);
    r.body
}

async fn download(s: &TestStack, export: &Value) -> Vec<u8> {
    let url = export["downloadUrl"].as_str().expect("a download URL once ready");
    let r = s.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().await.unwrap().to_vec()
}

fn rows(csv_bytes: &[u8]) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(csv_bytes);
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

#[tokio::test]
async fn a_household_exports_as_a_zip_of_csvs_or_json_and_a_member_only_their_own_history() {
    let s = stack().await;
    let (h, owner, member, _child) = household_of_three(&s).await;
    // A chore whose title a spreadsheet would run as a formula; done by each member.
    let mut body = daily("=HYPERLINK(\"http://evil.example\",\"x\")", &[&owner, &member]);
    body["startDate"] = json!(chrono::Utc::now().date_naive() - chrono::Duration::days(3));
    let task = create(&s, &owner, &h, body).await;
    let id = task["taskId"].as_str().unwrap();
    for who in [&owner, &member, &owner] {
        s.call(
            &owner,
            Method::POST,
            &format!("/v1/households/{h}/tasks/{id}/complete"),
            Some(json!({ "asUserId": who.id })),
        )
        .await
        .assert_status(200);
    }
    let history = s.call(&owner, Method::GET, &format!("/v1/households/{h}/completions"), None).await;
    let done: Vec<String> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["completionId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(done.len(), 3);
    let exports = format!("/v1/households/{h}/exports");

    // Everything as CSV: a zip with one RFC 4180 file per kind.
    let created = s.call(&owner, Method::POST, &exports, Some(json!({ "format": "csv", "include": "all" }))).await;
    created.assert_status(202);
    assert_eq!(created.body["state"], "queued");
    let location = created.header("location").unwrap().to_string();
    assert!(location.ends_with(created.body["exportId"].as_str().unwrap()));
    let ready = written(&s, &owner, &location).await;
    assert_eq!(ready["state"], "ready", "{ready:#}");
    let bytes = download(&s, &ready).await;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut content = Vec::new();
        f.read_to_end(&mut content).unwrap();
        files.insert(f.name().unwrap().to_string(), content);
    }
    assert_eq!(files.keys().collect::<Vec<_>>(), ["completions.csv", "members.csv", "tasks.csv"]);
    let completions = rows(&files["completions.csv"]);
    assert_eq!(completions[0][0], "completionId", "a header row");
    let exported: Vec<String> = completions[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(exported, done, "the same history, newest first");
    assert!(completions[1..].iter().all(|r| r[2].starts_with("'=HYPERLINK")), "formula shown as text: {completions:?}");
    assert_eq!(rows(&files["members.csv"]).len(), 1 + 3);
    assert_eq!(rows(&files["tasks.csv"]).len(), 1 + 1);
    assert_eq!(ready["rows"], 3 + 1 + 3);

    // JSON: one document, every kind.
    let created = s.call(&owner, Method::POST, &exports, Some(json!({ "format": "json" }))).await;
    created.assert_status(202);
    let ready = written(&s, &owner, created.header("location").unwrap()).await;
    let doc: Value = serde_json::from_slice(&download(&s, &ready).await).unwrap();
    assert_eq!(doc["completions"].as_array().unwrap().len(), 3);
    assert_eq!(doc["members"].as_array().unwrap().len(), 3);
    assert_eq!(doc["tasks"][0]["taskId"], id);

    // A member: their own history only, one CSV; asking for the household's is refused.
    s.call(&member, Method::POST, &exports, Some(json!({ "format": "csv", "include": ["tasks"] })))
        .await
        .assert_problem(403, "auth.forbidden");
    let created = s.call(&member, Method::POST, &exports, Some(json!({ "format": "csv" }))).await;
    created.assert_status(202);
    let mine_at = created.header("location").unwrap().to_string();
    // A member's export holds only their own lock and count: the owner may start one meanwhile.
    let owners =
        s.call(&owner, Method::POST, &exports, Some(json!({ "format": "json", "include": ["members"] }))).await;
    owners.assert_status(202);
    written(&s, &owner, owners.header("location").unwrap()).await;
    let mine = written(&s, &member, &mine_at).await;
    let theirs = rows(&download(&s, &mine).await);
    assert_eq!(theirs.len(), 1 + 1, "{theirs:?}");
    assert_eq!(theirs[1][4], member.id, "their completion only");
    // The owner sees the member's export; the member does not see the owner's; another
    // household sees none.
    s.call(&owner, Method::GET, &mine_at, None).await.assert_status(200);
    s.call(&member, Method::GET, &location, None).await.assert_problem(404, "export.not_found");
    let stranger = s.user("stranger").await;
    s.call(&stranger, Method::GET, &location, None).await.assert_problem(404, "household.not_found");

    // Two at once: one runs, the other is told when to come back.
    let (a, b) = tokio::join!(
        s.call(&owner, Method::POST, &exports, Some(json!({ "format": "json", "include": ["members"] }))),
        s.call(&owner, Method::POST, &exports, Some(json!({ "format": "json", "include": ["members"] }))),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [202, 429]);
    let refused = if a.status == 429 { &a } else { &b };
    assert_eq!(refused.body["code"], "rate.limited");
    assert!(refused.header("retry-after").unwrap().parse::<u32>().unwrap() >= 1);

    // The member's personal (GDPR) export: everything about them, in every household.
    let second = s.household(&member, "Second home").await;
    let created = s.call(&member, Method::POST, "/v1/me/exports", None).await;
    created.assert_status(202);
    let at = created.header("location").unwrap().to_string();
    assert!(at.starts_with("/v1/me/exports/"), "{at}");
    let personal = written(&s, &member, &at).await;
    assert_eq!(personal["state"], "ready", "{personal:#}");
    let doc: Value = serde_json::from_slice(&download(&s, &personal).await).unwrap();
    assert_eq!(doc["userId"], member.id.as_str());
    assert_eq!(doc["profile"]["userId"], member.id.as_str(), "{doc:#}");
    let households = doc["households"].as_array().unwrap();
    let mut names: Vec<&str> = households.iter().map(|h| h["household"]["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Chores", "Second home"]);
    let chores = households.iter().find(|x| x["household"]["householdId"] == h.as_str()).unwrap();
    let theirs: Vec<&Value> = chores["completions"].as_array().unwrap().iter().collect();
    assert_eq!(theirs.len(), 1);
    assert!(theirs.iter().all(|c| c["userId"] == member.id.as_str()), "only their own completions");
    assert!(doc["notifications"].is_array());
    let _ = second;
    // Nobody else reads it; a household export cannot be read as a personal one.
    s.call(&owner, Method::GET, &at, None).await.assert_problem(404, "export.not_found");
    for body in [json!({ "format": "csv" }), json!({ "format": null })] {
        s.call(&member, Method::POST, "/v1/me/exports", Some(body))
            .await
            .assert_problem(422, "request.validation_failed");
    }
    s.call(&owner, Method::POST, &exports, Some(json!({ "format": "csv", "to": null })))
        .await
        .assert_problem(422, "request.validation_failed");

    // Bad input: named.
    let bad = s.call(&owner, Method::POST, &exports, Some(json!({ "format": "xlsx" }))).await;
    assert!(matches!(bad.status.as_u16(), 400 | 422), "{:#}", bad.body);
    s.call(&owner, Method::POST, &exports, Some(json!({ "format": "csv", "include": [] })))
        .await
        .assert_problem(422, "request.validation_failed");
}
