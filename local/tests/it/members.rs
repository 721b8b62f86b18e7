use reqwest::Method;
use serde_json::json;

use crate::support::stack;

#[tokio::test]
async fn a_member_of_one_household_gets_404_for_every_route_of_another() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let eve = s.user("eve").await;
    let theirs = s.household(&ana, "Ana's").await;
    let _mine = s.household(&eve, "Eve's").await;
    let h = format!("/v1/households/{theirs}");
    let attempts = [
        (Method::GET, h.clone(), None),
        (Method::PATCH, h.clone(), Some(json!({ "name": "pwned" }))),
        (Method::DELETE, h.clone(), None),
        (Method::GET, format!("{h}/members"), None),
        (Method::PATCH, format!("{h}/members/{}", ana.id), Some(json!({ "role": "child" }))),
        (Method::DELETE, format!("{h}/members/{}", ana.id), None),
        (Method::POST, format!("{h}/invites"), Some(json!({}))),
        (Method::GET, format!("{h}/invites"), None),
        (Method::DELETE, format!("{h}/invites/ABCDEFGHJK"), None),
    ];
    for (method, path, body) in attempts {
        let r = s.call_with(&eve, method.clone(), &path, body, &[("if-match", "\"1\"")]).await;
        r.assert_problem(404, "household.not_found");
    }
    // And nothing changed for Ana.
    let got = s.call(&ana, Method::GET, &h, None).await;
    assert_eq!(got.body["name"], "Ana's");
    assert_eq!(got.body["memberCount"], 1);
}

#[tokio::test]
async fn roles_decide_who_may_change_roles_remove_members_and_delete() {
    let s = stack().await;
    let owner = s.user("owner").await;
    let member = s.user("member").await;
    let child = s.user("child").await;
    let id = s.household(&owner, "Roles").await;
    s.join(&owner, &id, &member, "member").await;
    s.join(&owner, &id, &child, "child").await;
    let h = format!("/v1/households/{id}");

    // A child cannot change roles, not even their own.
    s.call_with(
        &child,
        Method::PATCH,
        &format!("{h}/members/{}", member.id),
        Some(json!({ "role": "child" })),
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_problem(403, "auth.forbidden");
    s.call_with(
        &child,
        Method::PATCH,
        &format!("{h}/members/{}", child.id),
        Some(json!({ "role": "admin" })),
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_problem(403, "auth.forbidden");
    // A member cannot delete the household, edit it, or manage invites.
    s.call(&member, Method::DELETE, &h, None).await.assert_problem(403, "auth.forbidden");
    s.call_with(&member, Method::PATCH, &h, Some(json!({ "name": "x" })), &[("if-match", "\"1\"")])
        .await
        .assert_problem(403, "auth.forbidden");
    s.call(&member, Method::POST, &format!("{h}/invites"), Some(json!({}))).await.assert_problem(403, "auth.forbidden");
    s.call(&member, Method::DELETE, &format!("{h}/members/{}", child.id), None)
        .await
        .assert_problem(403, "auth.forbidden");
    // Everyone may see the members.
    let members = s.call(&child, Method::GET, &format!("{h}/members"), None).await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 3);

    // The owner promotes the member to admin; a stale ETag is refused.
    let path = format!("{h}/members/{}", member.id);
    s.call_with(&owner, Method::PATCH, &path, Some(json!({ "role": "admin" })), &[("if-match", "\"9\"")])
        .await
        .assert_problem(412, "precondition.failed");
    let r = s.call_with(&owner, Method::PATCH, &path, Some(json!({ "role": "admin" })), &[("if-match", "\"1\"")]).await;
    r.assert_status(200);
    assert_eq!(r.body["role"], "admin");
    assert_eq!(r.etag(), "\"2\"");
    // The new admin may remove the child.
    s.call(&member, Method::DELETE, &format!("{h}/members/{}", child.id), None).await.assert_status(204);
    s.call(&child, Method::GET, &h, None).await.assert_problem(404, "household.not_found");
    let got = s.call(&owner, Method::GET, &h, None).await;
    assert_eq!(got.body["memberCount"], 2);
}

#[tokio::test]
async fn the_owner_transfers_ownership_before_leaving() {
    let s = stack().await;
    let owner = s.user("owner").await;
    let next = s.user("next").await;
    let id = s.household(&owner, "Handover").await;
    s.join(&owner, &id, &next, "member").await;
    let h = format!("/v1/households/{id}");

    s.call(&owner, Method::DELETE, &format!("{h}/members/{}", owner.id), None)
        .await
        .assert_problem(409, "member.owner_must_transfer");
    // Nobody can change the owner's role directly.
    s.call_with(
        &owner,
        Method::PATCH,
        &format!("{h}/members/{}", owner.id),
        Some(json!({ "role": "admin" })),
        &[("if-match", "\"1\"")],
    )
    .await
    .assert_problem(409, "member.owner_role_change");

    let r = s
        .call_with(
            &owner,
            Method::PATCH,
            &format!("{h}/members/{}", next.id),
            Some(json!({ "role": "owner" })),
            &[("if-match", "\"1\"")],
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["role"], "owner");
    let got = s.call(&next, Method::GET, &h, None).await;
    assert_eq!(got.body["ownerId"], next.id);
    assert_eq!(got.body["myRole"], "owner");
    let old = s.call(&owner, Method::GET, &h, None).await;
    assert_eq!(old.body["myRole"], "admin");

    // Exactly one owner, and the former owner may now leave.
    let members = s.call(&next, Method::GET, &format!("{h}/members"), None).await;
    let owners = members.body["items"].as_array().unwrap().iter().filter(|m| m["role"] == "owner").count();
    assert_eq!(owners, 1);
    s.call(&owner, Method::DELETE, &format!("{h}/members/{}", owner.id), None).await.assert_status(204);
    let list = s.call(&owner, Method::GET, "/v1/households", None).await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_user_may_belong_to_many_households() {
    let s = stack().await;
    let ana = s.user("ana").await;
    let ben = s.user("ben").await;
    let a = s.household(&ana, "Home").await;
    let b = s.household(&ben, "Cabin").await;
    s.join(&ben, &b, &ana, "child").await;
    let list = s.call(&ana, Method::GET, "/v1/households", None).await;
    let mut roles: Vec<(String, String)> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["householdId"].as_str().unwrap().to_string(), i["myRole"].as_str().unwrap().to_string()))
        .collect();
    roles.sort();
    let mut expected = vec![(a, "owner".to_string()), (b, "child".to_string())];
    expected.sort();
    assert_eq!(roles, expected);
}
