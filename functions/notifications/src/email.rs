//! Email through SES v2 `SendEmail`, to the address Cognito holds for the member at send
//! time (the table keeps no addresses). At most once per notification: the delivery is
//! claimed in a record before it is sent and marked sent after, so a redelivered message
//! sends nothing again.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use shared::App;
use shared::domain::notification::Email;
use shared::store::StoreError;
use shared::store::notifications::DeliveryClaim;

/// What became of one email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailOutcome {
    Sent,
    /// A redelivered message: it went out before.
    AlreadySent,
    /// The member has no address (or no account) any more.
    NoAddress,
    /// SES reported the address bounced for good, or its owner complained.
    Suppressed,
    /// This deployment sends no email (no `MAIL_FROM`).
    Off,
}

#[derive(Debug)]
pub enum EmailError {
    Store(StoreError),
    /// Another attempt holds the delivery right now: try again later.
    InFlight,
    Cognito(String),
    Ses(String),
}

impl From<StoreError> for EmailError {
    fn from(e: StoreError) -> Self {
        EmailError::Store(e)
    }
}

/// Sends `email` to member `user_id` as notification `key`, once.
pub async fn send_once(app: &App, user_id: &str, key: &str, email: &Email) -> Result<EmailOutcome, EmailError> {
    let (Some(mail), false) = (app.mail(), app.config.mail_from.is_empty()) else {
        return Ok(EmailOutcome::Off);
    };
    let now = app.now();
    match app.store.claim_delivery(user_id, "email", key, now).await? {
        DeliveryClaim::AlreadySent => return Ok(EmailOutcome::AlreadySent),
        DeliveryClaim::InFlight => return Err(EmailError::InFlight),
        DeliveryClaim::Claimed => {}
    }
    let sent = async {
        let Some(address) = address_of(app, mail, user_id).await? else {
            return Ok(EmailOutcome::NoAddress);
        };
        if app.store.mail_suppressed(&address).await? {
            return Ok(EmailOutcome::Suppressed);
        }
        send(app, mail, &address, email).await?;
        Ok(EmailOutcome::Sent)
    }
    .await;
    match sent {
        // Recorded as done whatever the reason: a retry would find the same.
        // Marked with a few tries: SES took the mail, and an unmarked claim would let it
        // go out again once the lease ends.
        Ok(outcome) => {
            let mut tries = 0;
            loop {
                match app.store.delivery_sent(user_id, "email", key, app.now()).await {
                    Ok(()) => return Ok(outcome),
                    Err(e) if tries >= 2 => return Err(e.into()),
                    Err(_) => tries += 1,
                }
                tokio::time::sleep(std::time::Duration::from_millis(200 << tries)).await;
            }
        }
        Err(e) => {
            // Given back, so the retry SQS makes may claim it at once.
            if let Err(release) = app.store.release_delivery(user_id, "email", key).await {
                tracing::warn!(error = ?release, "delivery claim not released; it expires");
            }
            Err(e)
        }
    }
}

/// The member's email address from Cognito; `None` when the account is gone or has none.
async fn address_of(app: &App, mail: &shared::app::Mail, user_id: &str) -> Result<Option<String>, EmailError> {
    let out = mail.cognito.admin_get_user().user_pool_id(&app.config.user_pool_id).username(user_id).send().await;
    match out {
        Ok(user) => {
            let attribute = |name: &str| {
                user.user_attributes().iter().find(|a| a.name() == name).and_then(|a| a.value()).unwrap_or_default()
            };
            // Only a verified address: an unverified one could be anyone's, and our domain
            // would mail them what a member typed.
            let (email, verified) = (attribute("email"), attribute("email_verified") == "true");
            Ok((verified && !email.is_empty()).then(|| email.to_string()))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_user_not_found_exception()) => Ok(None),
        Err(e) => Err(EmailError::Cognito(aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e).to_string())),
    }
}

async fn send(app: &App, mail: &shared::app::Mail, to: &str, email: &Email) -> Result<(), EmailError> {
    let text = |data: &str| Content::builder().data(data).charset("UTF-8").build().expect("data is set");
    let message = Message::builder()
        .subject(text(&email.subject))
        .body(Body::builder().text(text(&email.text)).html(text(&email.html)).build())
        .build();
    mail.ses
        .send_email()
        .from_email_address(&app.config.mail_from)
        .destination(Destination::builder().to_addresses(to).build())
        .content(EmailContent::builder().simple(message).build())
        .set_configuration_set_name(app.config.mail_configuration_set.clone())
        .send()
        .await
        .map_err(|e| EmailError::Ses(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string()))?;
    Ok(())
}
