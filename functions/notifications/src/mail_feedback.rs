//! `MailFeedback`: bounces and complaints SES reports through the configuration set's event
//! destination (SNS, delivered raw to SQS). A permanent bounce or a complaint stops email to
//! that address; a transient bounce is only logged (SES retried it already). Nothing is
//! sent again to an address that bounced, so a bad address cannot start a storm.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Deserialize;
use shared::App;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailEvent {
    /// `Bounce`, `Complaint`, ... (event publishing); `notificationType` in the older
    /// identity notifications.
    #[serde(alias = "notificationType")]
    event_type: String,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounced_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// The addresses to stop mailing, and why, from one SES event.
fn to_suppress(event: &MailEvent) -> Vec<(&str, &'static str)> {
    match (event.event_type.as_str(), &event.bounce, &event.complaint) {
        ("Bounce", Some(b), _) if b.bounce_type == "Permanent" => {
            b.bounced_recipients.iter().map(|r| (r.email_address.as_str(), "bounce")).collect()
        }
        ("Complaint", _, Some(c)) => {
            c.complained_recipients.iter().map(|r| (r.email_address.as_str(), "complaint")).collect()
        }
        _ => Vec::new(),
    }
}

/// The SES event in a message: raw, or inside an SNS envelope (raw delivery off).
fn mail_event(body: &str) -> Result<MailEvent, String> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let value = match (value.get("Type").and_then(|t| t.as_str()), value.get("Message").and_then(|m| m.as_str())) {
        (Some("Notification"), Some(inner)) => {
            serde_json::from_str(inner).map_err(|e| format!("SNS message not JSON: {e}"))?
        }
        _ => value,
    };
    serde_json::from_value(value).map_err(|e| format!("not an SES event: {e}"))
}

pub async fn handle_feedback(app: App, event: SqsEvent) -> SqsBatchResponse {
    shared::lambda::each_message(&event, "mail feedback", |m| handle_one(&app, m)).await
}

async fn handle_one(app: &App, message: &SqsMessage) -> Result<(), String> {
    let event = mail_event(message.body.as_deref().unwrap_or_default())?;
    let stop = to_suppress(&event);
    if stop.is_empty() {
        tracing::info!(event_type = %event.event_type, "mail event: nothing to stop");
    }
    for (address, reason) in stop {
        app.store.suppress_mail(address, reason, app.now()).await.map_err(|e| format!("{e:?}"))?;
        // The address itself is personal data: the log names its hash.
        tracing::info!(address = %shared::store::notifications::address_hash(address), reason, "email stopped");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_bounces_and_complaints_stop_mail_and_transient_ones_do_not() {
        let permanent = r#"{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"gone@example.com"}]},"mail":{}}"#;
        assert_eq!(to_suppress(&mail_event(permanent).unwrap()), vec![("gone@example.com", "bounce")]);
        let transient = permanent.replace("Permanent", "Transient");
        assert!(to_suppress(&mail_event(&transient).unwrap()).is_empty());
        let complaint = r#"{"eventType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"angry@example.com"}]},"mail":{}}"#;
        assert_eq!(to_suppress(&mail_event(complaint).unwrap()), vec![("angry@example.com", "complaint")]);
        let delivery = r#"{"eventType":"Delivery","mail":{}}"#;
        assert!(to_suppress(&mail_event(delivery).unwrap()).is_empty());
    }

    #[test]
    fn an_sns_envelope_is_opened_and_garbage_is_refused() {
        let inner =
            r#"{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"a@b.c"}]}}"#;
        let envelope = serde_json::json!({ "Type": "Notification", "Message": inner }).to_string();
        assert_eq!(to_suppress(&mail_event(&envelope).unwrap()), vec![("a@b.c", "complaint")]);
        assert!(mail_event("not json").is_err());
        assert!(mail_event(r#"{"hello": 1}"#).is_err());
    }
}
