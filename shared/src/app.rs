//! What every handler gets: configuration, the store, the queues and the clock. Built once
//! per cold start (or once per test / local gateway) and cloned cheaply per request.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::platform::clock::{Clock, SystemClock};
use crate::platform::config::Config;
use crate::platform::error::ApiError;
use crate::store::Store;

/// A caller admitted by [`App::caller`].
#[derive(Debug)]
pub struct Caller<'r> {
    pub principal: &'r crate::auth::Principal,
    /// Their profile: `None` before their first `GET /v1/me` (or first household).
    pub profile: Option<crate::domain::user::UserProfile>,
}

/// Refuses a token issued before the user's cut-off.
fn admit(session: &crate::domain::erasure::Session, principal: &crate::auth::Principal) -> Result<(), ApiError> {
    if session.admits(principal.issued_at) {
        Ok(())
    } else {
        Err(ApiError::new(crate::platform::error::ErrorCode::TokenRevoked))
    }
}

#[derive(Clone, Debug)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    pub sqs: aws_sdk_sqs::Client,
    /// The clients few functions use (email, KMS, S3), built on first use: every cold start
    /// would otherwise pay for them (see [`App::mail`], [`App::kms`], [`App::s3`]).
    pub lazy: Arc<LazyClients>,
    pub clock: Arc<dyn Clock>,
}

/// Clients built when first asked for, from the production SDK configuration; or given
/// (the local stack's, checked against each function's policy).
#[derive(Debug, Default)]
pub struct LazyClients {
    sdk: Option<SdkConfig>,
    mail: OnceLock<Mail>,
    kms: OnceLock<aws_sdk_kms::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    apigateway: OnceLock<aws_sdk_apigateway::Client>,
}

fn copied<T: Clone>(c: &OnceLock<T>) -> OnceLock<T> {
    c.get().cloned().map(OnceLock::from).unwrap_or_default()
}

/// The clients email needs (building them costs no call: only the worker uses them).
#[derive(Clone, Debug)]
pub struct Mail {
    pub ses: aws_sdk_sesv2::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
}

/// How long one SDK call may take, retries and backoff included. It must end well inside
/// the function's `Timeout` (10 s in template.yaml), so a throttled or hung DynamoDB gives
/// our 503 with `Retry-After` and never API Gateway's 502 for a timed-out Lambda: one call
/// that gives up at 6 s leaves 4 s for what ran before it and for answering.
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(6);
/// One attempt; a hung connection is abandoned and retried (3 attempts at most).
pub const SDK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const SDK_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The SDK settings every function uses, in AWS and on the local stack alike: standard
/// retries with exponential backoff and jitter (3 attempts), and the timeouts above.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(SDK_CONNECT_TIMEOUT)
                .operation_attempt_timeout(SDK_ATTEMPT_TIMEOUT)
                .operation_timeout(SDK_OPERATION_TIMEOUT)
                .build(),
        )
}

/// The production SDK configuration: [`sdk_loader`] with region and credentials from the
/// Lambda environment.
pub async fn sdk_config() -> SdkConfig {
    sdk_loader().load().await
}

impl App {
    pub fn new(sdk: &SdkConfig, config: Config, clock: Arc<dyn Clock>) -> App {
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(crate::store::capacity::ConsumedCapacityInterceptor)
                .build(),
        );
        let app = App::with_clients(config, dynamodb, aws_sdk_sqs::Client::new(sdk), clock);
        App { lazy: Arc::new(LazyClients { sdk: Some(sdk.clone()), ..LazyClients::default() }), ..app }
    }

    /// The email clients: `None` where there are none (the benchmarks).
    pub fn mail(&self) -> Option<&Mail> {
        if let Some(m) = self.lazy.mail.get() {
            return Some(m);
        }
        let sdk = self.lazy.sdk.as_ref()?;
        Some(self.lazy.mail.get_or_init(|| Mail {
            ses: aws_sdk_sesv2::Client::new(sdk),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(sdk),
        }))
    }

    /// The KMS client: `None` where there is none (the benchmarks).
    pub fn kms(&self) -> Option<&aws_sdk_kms::Client> {
        if let Some(k) = self.lazy.kms.get() {
            return Some(k);
        }
        let sdk = self.lazy.sdk.as_ref()?;
        Some(self.lazy.kms.get_or_init(|| aws_sdk_kms::Client::new(sdk)))
    }

    /// The S3 client (exports): `None` where there is none (the benchmarks).
    pub fn s3(&self) -> Option<&aws_sdk_s3::Client> {
        if let Some(c) = self.lazy.s3.get() {
            return Some(c);
        }
        let sdk = self.lazy.sdk.as_ref()?;
        Some(self.lazy.s3.get_or_init(|| aws_sdk_s3::Client::new(sdk)))
    }

    /// The API Gateway client (household API keys): `None` where there is none.
    pub fn apigateway(&self) -> Option<&aws_sdk_apigateway::Client> {
        if let Some(c) = self.lazy.apigateway.get() {
            return Some(c);
        }
        let sdk = self.lazy.sdk.as_ref()?;
        Some(self.lazy.apigateway.get_or_init(|| aws_sdk_apigateway::Client::new(sdk)))
    }

    /// The lazy clients as they are, to replace one of them.
    fn lazy_copy(&self) -> LazyClients {
        LazyClients {
            sdk: self.lazy.sdk.clone(),
            mail: copied(&self.lazy.mail),
            kms: copied(&self.lazy.kms),
            s3: copied(&self.lazy.s3),
            apigateway: copied(&self.lazy.apigateway),
        }
    }

    /// With these email clients (the local stack's).
    pub fn with_mail(self, mail: Mail) -> App {
        let lazy = LazyClients { mail: OnceLock::from(mail), ..self.lazy_copy() };
        App { lazy: Arc::new(lazy), ..self }
    }

    /// With this KMS client (the local stack's).
    pub fn with_kms(self, kms: aws_sdk_kms::Client) -> App {
        let lazy = LazyClients { kms: OnceLock::from(kms), ..self.lazy_copy() };
        App { lazy: Arc::new(lazy), ..self }
    }

    /// With this S3 client (the local stack's).
    pub fn with_s3(self, s3: aws_sdk_s3::Client) -> App {
        let lazy = LazyClients { s3: OnceLock::from(s3), ..self.lazy_copy() };
        App { lazy: Arc::new(lazy), ..self }
    }

    /// With this API Gateway client (the local stack's).
    pub fn with_apigateway(self, apigateway: aws_sdk_apigateway::Client) -> App {
        let lazy = LazyClients { apigateway: OnceLock::from(apigateway), ..self.lazy_copy() };
        App { lazy: Arc::new(lazy), ..self }
    }

    /// Wiring with explicit clients: the local stack reaches DynamoDB and SQS at
    /// different endpoints.
    pub fn with_clients(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        clock: Arc<dyn Clock>,
    ) -> App {
        App {
            store: Store { client: dynamodb, table: config.table_name.clone() },
            sqs,
            lazy: Arc::new(LazyClients::default()),
            config: Arc::new(config),
            clock,
        }
    }

    /// The production wiring: configuration from the environment, the system clock.
    pub async fn from_env() -> Result<App, crate::platform::config::ConfigError> {
        let config = Config::from_env()?;
        Ok(App::new(&sdk_config().await, config, Arc::new(SystemClock)))
    }

    /// The caller's membership of the household in the path, checked against `action`.
    /// A non-member gets the same 404 as for a household that does not exist.
    pub async fn membership(
        &self,
        req: &crate::platform::http::ApiRequest,
        action: crate::auth::Action,
    ) -> Result<crate::store::households::Membership, ApiError> {
        use crate::platform::error::ErrorCode;
        let principal = req.principal()?;
        let household_id = crate::platform::validate::ulid_param("householdId", req.path_param("householdId"))?;
        let not_found = || ApiError::new(ErrorCode::HouseholdNotFound);
        // A key works in its own household only: any other is one that does not exist.
        if principal.key.as_ref().is_some_and(|k| k.household_id != household_id) {
            return Err(not_found());
        }
        let key_id = principal.key.as_ref().map(|k| k.key_id.as_str());
        let membership =
            self.store.membership(&household_id, &principal.user_id, key_id).await?.ok_or_else(not_found)?;
        match key_id {
            None => admit(&membership.session, principal)?,
            // The key is read again with the membership: revoking it takes effect at once
            // here, whatever the authorizer's cached decision says.
            Some(_) => match membership.key.as_ref() {
                // A key acts for the member who made it: not for an account being erased, nor
                // across memberships (made before its maker left and came back).
                _ if membership.session.erased_at.is_some() => return Err(ApiError::new(ErrorCode::ApiKeyRevoked)),
                Some(k) if k.created_at < membership.member.joined_at => {
                    return Err(ApiError::new(ErrorCode::ApiKeyRevoked));
                }
                Some(k) => match k.usable(self.now()) {
                    Ok(()) => {}
                    Err(crate::domain::api_key::Refusal::Expired) => {
                        return Err(ApiError::new(ErrorCode::ApiKeyExpired));
                    }
                    Err(crate::domain::api_key::Refusal::Revoked) => {
                        return Err(ApiError::new(ErrorCode::ApiKeyRevoked));
                    }
                },
                None => return Err(ApiError::new(ErrorCode::ApiKeyRevoked)),
            },
        }
        crate::auth::policy::require(membership.member.role, action)?;
        Ok(membership)
    }

    /// The caller of a route outside any household (`/v1/me…`, creating or listing
    /// households, accepting an invite), with their profile if they have one: one read,
    /// which also refuses a token issued before the caller's cut-off (erasure, "sign out
    /// everywhere"). Routes in a household get the same check from [`App::membership`].
    pub async fn caller<'r>(&self, req: &'r crate::platform::http::ApiRequest) -> Result<Caller<'r>, ApiError> {
        let principal = req.principal()?;
        if principal.key.is_some() {
            // Keys act in their household only (the integration API serves no other route).
            return Err(ApiError::new(crate::platform::error::ErrorCode::Forbidden));
        }
        let (session, profile) = self.store.session_and_profile(&principal.user_id).await?;
        admit(&session, principal)?;
        Ok(Caller { principal, profile })
    }

    /// [`membership`](App::membership) and a read the handler needs if it is allowed, at
    /// once: one round trip of wall time instead of two. A refused membership answers at
    /// once and drops the read; the read's result is handed out only once the membership
    /// allows `action`, and its errors come after the membership's, as if run in order.
    pub async fn membership_with<T>(
        &self,
        req: &crate::platform::http::ApiRequest,
        action: crate::auth::Action,
        read: impl std::future::Future<Output = T>,
    ) -> Result<(crate::store::households::Membership, T), ApiError> {
        tokio::try_join!(self.membership(req, action), async { Ok(read.await) })
    }

    /// Now, truncated to the milliseconds we store.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        crate::domain::at_millis(self.clock.now())
    }

    /// Sends one message to a queue; a failure is a 503 so the client retries.
    pub async fn enqueue(&self, queue_url: &str, body: &serde_json::Value, delay_seconds: i32) -> Result<(), ApiError> {
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body.to_string())
            .delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "enqueue failed");
                ApiError::unavailable()
            })?;
        Ok(())
    }
}
