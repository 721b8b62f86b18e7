//! The email the local stack sent: SES in the emulator keeps every message (moto's
//! `/moto-api/data.json`). `scripts/mail` shows them to a developer; tests read them here.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct SentMail {
    pub source: String,
    pub subject: String,
    /// The HTML part (the emulator keeps one part).
    pub body: String,
    pub destinations: Destinations,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Destinations {
    #[serde(rename = "ToAddresses", default)]
    pub to: Vec<String>,
}

/// Every message sent through the emulator at `moto` (its base URL), oldest first.
pub async fn sent(moto: &str) -> Result<Vec<SentMail>, String> {
    // The emulator dumps all its state for this; while other calls change that state it
    // sometimes fails (500): ask again.
    let mut last = String::new();
    for _ in 0..10 {
        match read(moto).await {
            Ok(m) => return Ok(m),
            Err(e) => last = e,
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(last)
}

async fn read(moto: &str) -> Result<Vec<SentMail>, String> {
    let response = reqwest::get(format!("{moto}/moto-api/data.json")).await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the emulator answered {}", response.status()));
    }
    let data: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    let messages = data.pointer("/ses/Message").cloned().unwrap_or_else(|| serde_json::json!([]));
    serde_json::from_value(messages).map_err(|e| e.to_string())
}
