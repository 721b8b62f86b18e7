//! Demo data for the dev command: two users in the local Cognito pool and one household.

use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType, MessageActionType};

use crate::provision::Provisioned;

pub struct DemoUser {
    pub key: &'static str,
    pub email: &'static str,
    pub name: &'static str,
}

pub const DEMO_PASSWORD: &str = "Garden-Demo-2026";
pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser { key: "ana", email: "ana@example.com", name: "Ana" },
    DemoUser { key: "ben", email: "ben@example.com", name: "Ben" },
];

/// Creates a confirmed user with a permanent password unless it exists.
pub async fn ensure_user(p: &Provisioned, email: &str, name: &str, password: &str) -> Result<(), String> {
    let cognito = p.endpoints.cognito_client().await;
    let exists = cognito.admin_get_user().user_pool_id(&p.user_pool_id).username(email).send().await.is_ok();
    if exists {
        return Ok(());
    }
    let attr = |n: &str, v: &str| AttributeType::builder().name(n).value(v).build().expect("attribute");
    cognito
        .admin_create_user()
        .user_pool_id(&p.user_pool_id)
        .username(email)
        .user_attributes(attr("email", email))
        .user_attributes(attr("email_verified", "true"))
        .user_attributes(attr("name", name))
        .message_action(MessageActionType::Suppress)
        .send()
        .await
        .map_err(|e| {
            format!("create user {email}: {}", aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e))
        })?;
    cognito
        .admin_set_user_password()
        .user_pool_id(&p.user_pool_id)
        .username(email)
        .password(password)
        .permanent(true)
        .send()
        .await
        .map_err(|e| {
            format!("set password {email}: {}", aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e))
        })?;
    Ok(())
}

/// Signs in as a frontend does (USER_PASSWORD_AUTH) and returns (ID token, access token).
pub async fn sign_in(p: &Provisioned, email: &str, password: &str) -> Result<(String, String), String> {
    let cognito = p.endpoints.cognito_client().await;
    let out = cognito
        .initiate_auth()
        .client_id(&p.client_id)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .map_err(|e| format!("sign in {email}: {}", aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)))?;
    let result = out.authentication_result().ok_or("no authentication result")?;
    Ok((result.id_token().unwrap_or_default().to_string(), result.access_token().unwrap_or_default().to_string()))
}

/// Seeds the demo users and, through the API itself, Ana's household.
pub async fn seed(p: &Provisioned, base_url: &str) -> Result<(), String> {
    for u in DEMO_USERS {
        ensure_user(p, u.email, u.name, DEMO_PASSWORD).await?;
    }
    let http = reqwest::Client::new();
    for u in DEMO_USERS {
        // The local Cognito's ID token has no name claim: set the display name via the API.
        let (token, _) = sign_in(p, u.email, DEMO_PASSWORD).await?;
        let me = http
            .get(format!("{base_url}/v1/me"))
            .header("authorization", &token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let etag = me.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("\"1\"").to_string();
        let profile: serde_json::Value = me.json().await.map_err(|e| e.to_string())?;
        if profile["displayName"] != u.name {
            http.patch(format!("{base_url}/v1/me"))
                .header("authorization", &token)
                .header("if-match", etag)
                .json(&serde_json::json!({ "displayName": u.name, "timezone": "Europe/Berlin" }))
                .send()
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let (token, _) = sign_in(p, DEMO_USERS[0].email, DEMO_PASSWORD).await?;
    let mine: serde_json::Value = http
        .get(format!("{base_url}/v1/households"))
        .header("authorization", &token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if mine["items"].as_array().is_some_and(|a| a.is_empty()) {
        let created = http
            .post(format!("{base_url}/v1/households"))
            .header("authorization", &token)
            .json(&serde_json::json!({ "name": "Demo Household", "timezone": "Europe/Berlin" }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !created.status().is_success() {
            return Err(format!("seeding the demo household: HTTP {}", created.status()));
        }
        // A daily chore that reminds Ana at 17:30 and 18:00 Berlin time: move the clock
        // (`POST /_local/clock`) past it to see the reminders arrive.
        let household: serde_json::Value = created.json().await.map_err(|e| e.to_string())?;
        let id = household["householdId"].as_str().unwrap_or_default();
        let chore = http
            .post(format!("{base_url}/v1/households/{id}/tasks"))
            .header("authorization", &token)
            .json(&serde_json::json!({
                "title": "Water the plants",
                "recurrence": { "type": "interval", "every": 1, "unit": "days" },
                "dueTime": "18:00",
                "reminderOffsets": [30, 0],
            }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !chore.status().is_success() {
            return Err(format!("seeding the demo chore: HTTP {}", chore.status()));
        }
    }
    Ok(())
}
