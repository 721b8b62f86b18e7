use reqwest::Method;
use serde_json::json;

use crate::support::stack;

#[tokio::test]
async fn invites_are_created_listed_accepted_until_used_up_and_revoked() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let ben = s.user("ben").await;
    let cy = s.user("cy").await;
    let dee = s.user("dee").await;
    let id = s.household(&ana, "Invites").await;
    let h = format!("/v1/households/{id}");

    let created = s
        .call(
            &ana,
            Method::POST,
            &format!("{h}/invites"),
            Some(json!({ "role": "child", "maxUses": 2, "expiresInHours": 24 })),
        )
        .await;
    created.assert_status(201);
    let code = created.body["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 10);
    assert_eq!(created.header("location"), Some(format!("{h}/invites/{code}").as_str()));

    let listed = s.call(&ana, Method::GET, &format!("{h}/invites"), None).await;
    listed.assert_status(200);
    assert_eq!(listed.body["items"][0]["code"], code.as_str());

    // Codes are case-insensitive for people typing them.
    let joined = s.call(&ben, Method::POST, &format!("/v1/invites/{}/accept", code.to_lowercase()), None).await;
    joined.assert_status(201);
    assert_eq!(joined.body["member"]["role"], "child");
    assert_eq!(joined.body["household"]["householdId"], id.as_str());
    s.call(&ben, Method::POST, &format!("/v1/invites/{code}/accept"), None)
        .await
        .assert_problem(409, "member.already_member");
    s.call(&cy, Method::POST, &format!("/v1/invites/{code}/accept"), None).await.assert_status(201);
    s.call(&dee, Method::POST, &format!("/v1/invites/{code}/accept"), None).await.assert_problem(410, "invite.used_up");

    let second = s.call(&ana, Method::POST, &format!("{h}/invites"), Some(json!({}))).await;
    let code2 = second.body["code"].as_str().unwrap().to_string();
    s.call(&ana, Method::DELETE, &format!("{h}/invites/{code2}"), None).await.assert_status(204);
    s.call(&dee, Method::POST, &format!("/v1/invites/{code2}/accept"), None)
        .await
        .assert_problem(410, "invite.revoked");
    s.call(&dee, Method::POST, "/v1/invites/ZZZZZZZZZZ/accept", None).await.assert_problem(404, "invite.not_found");
    s.call(&dee, Method::POST, "/v1/invites/not-a-code/accept", None).await.assert_problem(404, "invite.not_found");

    let got = s.call(&ana, Method::GET, &h, None).await;
    assert_eq!(got.body["memberCount"], 3);
}

#[tokio::test]
async fn an_expired_invite_is_refused_even_before_ttl_deletes_it() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let ben = s.user("ben").await;
    let id = s.household(&ana, "Expiry").await;
    let created =
        s.call(&ana, Method::POST, &format!("/v1/households/{id}/invites"), Some(json!({ "expiresInHours": 1 }))).await;
    let code = created.body["code"].as_str().unwrap().to_string();
    // Age the stored invite as TTL would see it: expired an hour ago, item still present.
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    s.stack
        .app
        .store
        .client
        .update_item()
        .table_name(&s.stack.app.store.table)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("INVITE#{code}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("META".into()))
        .update_expression("SET expiresAt = :at, expiresAtEpoch = :epoch")
        .expression_attribute_values(":at", aws_sdk_dynamodb::types::AttributeValue::S(past.to_rfc3339()))
        .expression_attribute_values(":epoch", aws_sdk_dynamodb::types::AttributeValue::N(past.timestamp().to_string()))
        .send()
        .await
        .unwrap();
    s.call(&ben, Method::POST, &format!("/v1/invites/{code}/accept"), None).await.assert_problem(410, "invite.expired");
    let got = s.call(&ana, Method::GET, &format!("/v1/households/{id}"), None).await;
    assert_eq!(got.body["memberCount"], 1);
}

#[tokio::test]
async fn invite_input_is_validated() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let id = s.household(&ana, "Validation").await;
    let r = s
        .call(
            &ana,
            Method::POST,
            &format!("/v1/households/{id}/invites"),
            Some(json!({ "role": "owner", "maxUses": 0, "expiresInHours": 100000 })),
        )
        .await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 3);
    let r =
        s.call(&ana, Method::POST, &format!("/v1/households/{id}/invites"), Some(json!({ "role": "emperor" }))).await;
    r.assert_problem(422, "request.validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "role");
    let listed = s.call(&ana, Method::GET, &format!("/v1/households/{id}/invites"), None).await;
    assert!(listed.body["items"].as_array().unwrap().is_empty());
}
