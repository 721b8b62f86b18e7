//! Creates, from template.yaml, what the functions need on the local emulators: the table
//! (keys, indexes, TTL, stream) on DynamoDB Local; queues with their redrive, buckets and
//! the Cognito user pool and app client on moto. Idempotent: existing resources are reused.

use std::collections::HashMap;

use aws_config::{Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::types::{
    ExplicitAuthFlowsType, PasswordPolicyType, TimeUnitsType, TokenValidityUnitsType, UserPoolMfaType,
    UserPoolPolicyType, UsernameAttributeType, VerifiedAttributeType,
};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template::{Template, TemplateError};

pub const REGION: &str = "us-east-1";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Aws(String),
}

fn aws<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> ProvisionError + '_ {
    move |e| ProvisionError::Aws(format!("{what}: {e}"))
}

/// Where the emulators listen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoints {
    pub dynamodb: String,
    pub moto: String,
}

impl Endpoints {
    /// The functions' own SDK settings (retries, timeouts: `shared::app::sdk_loader`) with
    /// static dummy credentials and a fixed region: the emulators accept anything.
    pub async fn sdk_config(endpoint: &str) -> SdkConfig {
        shared::app::sdk_loader()
            .region(Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "local"))
            .endpoint_url(endpoint)
            .load()
            .await
    }

    pub async fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&Self::sdk_config(&self.dynamodb).await)
    }

    pub async fn sqs_client(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&Self::sdk_config(&self.moto).await)
    }

    pub async fn cognito_client(&self) -> aws_sdk_cognitoidentityprovider::Client {
        aws_sdk_cognitoidentityprovider::Client::new(&Self::sdk_config(&self.moto).await)
    }

    pub async fn apigateway_client(&self) -> aws_sdk_apigateway::Client {
        aws_sdk_apigateway::Client::new(&Self::sdk_config(&self.moto).await)
    }

    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let sdk = Self::sdk_config(&self.moto).await;
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
    }
}

/// What was created, by template logical id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provisioned {
    pub endpoints: Endpoints,
    pub table_name: String,
    pub queue_urls: HashMap<String, String>,
    pub buckets: HashMap<String, String>,
    pub user_pool_id: String,
    pub client_id: String,
    /// KMS key ids by logical id.
    #[serde(default)]
    pub keys: HashMap<String, String>,
    /// SES configuration set names by logical id.
    #[serde(default)]
    pub configuration_sets: HashMap<String, String>,
    /// API Gateway usage plan ids by logical id (the emulator keeps the household keys' API
    /// Gateway keys in them; the local gateway enforces the template's limits itself).
    #[serde(default)]
    pub usage_plans: HashMap<String, String>,
}

impl Provisioned {
    /// The issuer Cognito writes into tokens (moto uses the real AWS form).
    pub fn issuer(&self) -> String {
        format!("https://cognito-idp.{REGION}.amazonaws.com/{}", self.user_pool_id)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/{}/.well-known/jwks.json", self.endpoints.moto.trim_end_matches('/'), self.user_pool_id)
    }
}

/// Provisions everything; `prefix` keeps parallel stacks (tests) apart on shared emulators.
pub async fn provision(
    template: &Template,
    endpoints: &Endpoints,
    prefix: &str,
) -> Result<Provisioned, ProvisionError> {
    let table_name = format!("{prefix}{}", template.table()?.0);
    create_table(template, &endpoints.dynamodb_client().await, &table_name).await?;
    let queue_urls = create_queues(template, &endpoints.sqs_client().await, prefix).await?;
    let buckets = create_buckets(template, &endpoints.s3_client().await, prefix).await?;
    let (user_pool_id, client_id) = create_user_pool(template, &endpoints.cognito_client().await, prefix).await?;
    let ses = aws_sdk_sesv2::Client::new(&Endpoints::sdk_config(&endpoints.moto).await);
    create_mail_identity(template, &ses).await?;
    let configuration_sets = create_configuration_sets(template, &ses, prefix).await?;
    let keys = create_keys(template, &aws_sdk_kms::Client::new(&Endpoints::sdk_config(&endpoints.moto).await)).await?;
    let usage_plans = create_usage_plans(template, &endpoints.apigateway_client().await, prefix).await?;
    Ok(Provisioned {
        endpoints: endpoints.clone(),
        table_name,
        queue_urls,
        buckets,
        user_pool_id,
        client_id,
        keys,
        configuration_sets,
        usage_plans,
    })
}

/// The template's API Gateway usage plans, by logical id.
pub async fn create_usage_plans(
    template: &Template,
    apigateway: &aws_sdk_apigateway::Client,
    prefix: &str,
) -> Result<HashMap<String, String>, ProvisionError> {
    let mut plans = HashMap::new();
    for (id, _) in template.resources_of("AWS::ApiGateway::UsagePlan") {
        let out = apigateway
            .create_usage_plan()
            .name(format!("{prefix}{id}"))
            .send()
            .await
            .map_err(aws(&format!("usage plan {id}")))?;
        plans.insert(id.clone(), out.id.ok_or_else(|| ProvisionError::Aws(format!("usage plan {id}: no id")))?);
    }
    Ok(plans)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn key_schema(v: &Value) -> Vec<KeySchemaElement> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(s(k, "AttributeName"))
                .key_type(KeyType::from(s(k, "KeyType")))
                .build()
                .expect("key schema element")
        })
        .collect()
}

pub async fn create_table(
    template: &Template,
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
) -> Result<(), ProvisionError> {
    let (_, p) = template.table()?;
    let attributes: Vec<AttributeDefinition> = p["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(s(a, "AttributeName"))
                .attribute_type(ScalarAttributeType::from(s(a, "AttributeType")))
                .build()
                .expect("attribute definition")
        })
        .collect();
    let indexes: Vec<GlobalSecondaryIndex> = p["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(s(g, "IndexName"))
                .set_key_schema(Some(key_schema(&g["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(s(&g["Projection"], "ProjectionType")))
                        .build(),
                )
                .build()
                .expect("index")
        })
        .collect();
    let existing = client.describe_table().table_name(table_name).send().await.ok();
    if let Some(described) = &existing {
        // A persistent local table from an older template: add the indexes it lacks.
        let have: Vec<&str> = described
            .table()
            .map(|t| t.global_secondary_indexes().iter().filter_map(|g| g.index_name()).collect())
            .unwrap_or_default();
        for index in indexes.iter().filter(|g| !have.contains(&g.index_name())) {
            client
                .update_table()
                .table_name(table_name)
                .set_attribute_definitions(Some(attributes.clone()))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder()
                        .create(
                            CreateGlobalSecondaryIndexAction::builder()
                                .index_name(index.index_name())
                                .set_key_schema(Some(index.key_schema().to_vec()))
                                .set_projection(index.projection().cloned())
                                .build()
                                .expect("index"),
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(aws("add index"))?;
        }
    }
    let exists = existing.is_some();
    if !exists {
        let mut create = client
            .create_table()
            .table_name(table_name)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(&p["KeySchema"])))
            .billing_mode(BillingMode::from(s(&p, "BillingMode")))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes));
        if let Some(view) = p.pointer("/StreamSpecification/StreamViewType").and_then(Value::as_str) {
            create = create.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view))
                    .build()
                    .expect("stream"),
            );
        }
        match create.send().await {
            Ok(_) => {}
            Err(e) if aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e) == Some("ResourceInUseException") => {}
            Err(e) => {
                return Err(ProvisionError::Aws(format!(
                    "create table: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )));
            }
        }
    }
    if let Some(attr) = p.pointer("/TimeToLiveSpecification/AttributeName").and_then(Value::as_str) {
        let current =
            client.describe_time_to_live().table_name(table_name).send().await.map_err(aws("describe ttl"))?;
        let enabled = current.time_to_live_description().and_then(|d| d.attribute_name()) == Some(attr);
        if !enabled {
            client
                .update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder().attribute_name(attr).enabled(true).build().expect("ttl"),
                )
                .send()
                .await
                .map_err(aws("enable ttl"))?;
        }
    }
    Ok(())
}

pub async fn create_queues(
    template: &Template,
    client: &aws_sdk_sqs::Client,
    prefix: &str,
) -> Result<HashMap<String, String>, ProvisionError> {
    let mut queues = template.queues();
    // Dead-letter queues first: the others point at their ARNs.
    queues.sort_by_key(|q| q.redrive.is_some());
    let mut urls = HashMap::new();
    let mut arns = HashMap::new();
    for q in queues {
        let mut create = client.create_queue().queue_name(format!("{prefix}{}", q.logical_id));
        if let Some(v) = q.visibility_timeout {
            create = create.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
        }
        if let Some(v) = q.retention {
            create = create.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
        }
        if let Some((dlq, max)) = &q.redrive {
            let arn: &String = arns
                .get(dlq)
                .ok_or_else(|| ProvisionError::Aws(format!("{} redrives to unknown queue {dlq}", q.logical_id)))?;
            let policy = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max });
            create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = create.send().await.map_err(aws("create queue"))?.queue_url.unwrap_or_default();
        let attrs = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(aws("queue arn"))?;
        let arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
        arns.insert(q.logical_id.clone(), arn);
        urls.insert(q.logical_id, url);
    }
    Ok(urls)
}

async fn create_buckets(
    template: &Template,
    client: &aws_sdk_s3::Client,
    prefix: &str,
) -> Result<HashMap<String, String>, ProvisionError> {
    let mut buckets = HashMap::new();
    for logical_id in template.buckets() {
        let name = format!("{prefix}{logical_id}").to_ascii_lowercase().replace('_', "-");
        match client.create_bucket().bucket(&name).send().await {
            Ok(_) => {}
            Err(e) => {
                let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e);
                if !matches!(code, Some("BucketAlreadyOwnedByYou") | Some("BucketAlreadyExists")) {
                    return Err(ProvisionError::Aws(format!(
                        "create bucket: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    )));
                }
            }
        }
        buckets.insert(logical_id, name);
    }
    Ok(buckets)
}

async fn create_user_pool(
    template: &Template,
    client: &aws_sdk_cognitoidentityprovider::Client,
    prefix: &str,
) -> Result<(String, String), ProvisionError> {
    let (pool_id_logical, p) = template.user_pool()?;
    let (_, c) = template.user_pool_client()?;
    let pool_name = format!("{prefix}{pool_id_logical}");
    let existing = client.list_user_pools().max_results(60).send().await.map_err(aws("list pools"))?;
    let found = existing
        .user_pools()
        .iter()
        .find(|u| u.name() == Some(pool_name.as_str()))
        .and_then(|u| u.id().map(str::to_string));
    let pool_id = match found {
        Some(id) => id,
        None => {
            let pp = &p["Policies"]["PasswordPolicy"];
            let flag = |k: &str| pp.get(k).and_then(Value::as_bool).unwrap_or(false);
            let policy = PasswordPolicyType::builder()
                .minimum_length(pp["MinimumLength"].as_i64().unwrap_or(8) as i32)
                .require_lowercase(flag("RequireLowercase"))
                .require_uppercase(flag("RequireUppercase"))
                .require_numbers(flag("RequireNumbers"))
                .require_symbols(flag("RequireSymbols"))
                .build();
            let list = |k: &str| -> Vec<String> {
                p.get(k)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            };
            let created = client
                .create_user_pool()
                .pool_name(&pool_name)
                .policies(UserPoolPolicyType::builder().password_policy(policy).build())
                .set_username_attributes(Some(
                    list("UsernameAttributes").iter().map(|s| UsernameAttributeType::from(s.as_str())).collect(),
                ))
                .set_auto_verified_attributes(Some(
                    list("AutoVerifiedAttributes").iter().map(|s| VerifiedAttributeType::from(s.as_str())).collect(),
                ))
                .mfa_configuration(UserPoolMfaType::from(
                    template.decide(&p["MfaConfiguration"]).as_str().unwrap_or("OFF"),
                ))
                .send()
                .await
                .map_err(aws("create user pool"))?;
            created.user_pool().and_then(|u| u.id()).unwrap_or_default().to_string()
        }
    };
    let client_name = "local-web";
    let clients = client
        .list_user_pool_clients()
        .user_pool_id(&pool_id)
        .max_results(60)
        .send()
        .await
        .map_err(aws("list clients"))?;
    if let Some(id) =
        clients.user_pool_clients().iter().find(|c| c.client_name() == Some(client_name)).and_then(|c| c.client_id())
    {
        return Ok((pool_id, id.to_string()));
    }
    let flows: Vec<ExplicitAuthFlowsType> = c["ExplicitAuthFlows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(ExplicitAuthFlowsType::from)
        .collect();
    let units = &c["TokenValidityUnits"];
    let unit = |k: &str| TimeUnitsType::from(units.get(k).and_then(Value::as_str).unwrap_or("hours"));
    let created = client
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name(client_name)
        .generate_secret(c["GenerateSecret"].as_bool().unwrap_or(false))
        .set_explicit_auth_flows(Some(flows))
        .id_token_validity(c["IdTokenValidity"].as_i64().unwrap_or(60) as i32)
        .access_token_validity(c["AccessTokenValidity"].as_i64().unwrap_or(60) as i32)
        .refresh_token_validity(c["RefreshTokenValidity"].as_i64().unwrap_or(30) as i32)
        .token_validity_units(
            TokenValidityUnitsType::builder()
                .id_token(unit("IdToken"))
                .access_token(unit("AccessToken"))
                .refresh_token(unit("RefreshToken"))
                .build(),
        )
        .send()
        .await
        .map_err(aws("create user pool client"))?;
    let client_id = created.user_pool_client().and_then(|c| c.client_id()).unwrap_or_default().to_string();
    Ok((pool_id, client_id))
}

/// The SES identity notification email is sent from (template parameter `MailIdentity`):
/// verified in AWS by its owner, created here so the emulator accepts the sender.
pub async fn create_mail_identity(template: &Template, ses: &aws_sdk_sesv2::Client) -> Result<(), ProvisionError> {
    let Some(identity) = template.root.pointer("/Parameters/MailIdentity/Default").and_then(Value::as_str) else {
        return Ok(());
    };
    match ses.create_email_identity().email_identity(identity).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) => Ok(()),
        Err(e) => Err(ProvisionError::Aws(format!(
            "SES identity {identity}: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(e)
        ))),
    }
}

/// One KMS key in the emulator per `AWS::KMS::Key` of the template.
pub async fn create_keys(
    template: &Template,
    kms: &aws_sdk_kms::Client,
) -> Result<HashMap<String, String>, ProvisionError> {
    let mut keys = HashMap::new();
    for (id, _) in template.resources_of("AWS::KMS::Key") {
        let out = kms.create_key().description(&id).send().await.map_err(aws(&format!("KMS key {id}")))?;
        let key_id =
            out.key_metadata.map(|m| m.key_id).ok_or_else(|| ProvisionError::Aws(format!("KMS key {id}: no id")))?;
        keys.insert(id, key_id);
    }
    Ok(keys)
}

/// The template's SES configuration sets (their event destinations are AWS's: the local
/// stack feeds bounce events to the handler itself).
pub async fn create_configuration_sets(
    template: &Template,
    ses: &aws_sdk_sesv2::Client,
    prefix: &str,
) -> Result<HashMap<String, String>, ProvisionError> {
    let mut sets = HashMap::new();
    for (id, _) in template.resources_of("AWS::SES::ConfigurationSet") {
        let name = format!("{prefix}{id}");
        match ses.create_configuration_set().configuration_set_name(&name).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) => {}
            Err(e) => {
                return Err(ProvisionError::Aws(format!(
                    "SES configuration set {name}: {}",
                    aws_sdk_sesv2::error::DisplayErrorContext(e)
                )));
            }
        }
        sets.insert(id, name);
    }
    Ok(sets)
}

/// The buckets' notifications to queues as the template configures them (S3 → SQS), so
/// the emulator delivers the events itself, as S3 would (moto sends `ObjectCreated:Put`,
/// and an `s3:TestEvent` once configured).
pub async fn configure_bucket_notifications(template: &Template, p: &Provisioned) -> Result<(), ProvisionError> {
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
        QueueConfiguration, S3KeyFilter,
    };
    let aws = |what: &str, e: String| ProvisionError::Aws(format!("{what}: {e}"));
    let (s3, sqs) = (p.endpoints.s3_client().await, p.endpoints.sqs_client().await);
    for (logical_id, props) in template.resources_of("AWS::S3::Bucket") {
        let Some(configs) = props.pointer("/NotificationConfiguration/QueueConfigurations").and_then(Value::as_array)
        else {
            continue;
        };
        let bucket =
            p.buckets.get(&logical_id).ok_or_else(|| aws("bucket", format!("{logical_id} not provisioned")))?;
        let mut queues = Vec::new();
        for c in configs {
            let queue = c.get("Queue").and_then(crate::template::referenced).unwrap_or_default();
            let url = p.queue_urls.get(&queue).ok_or_else(|| aws("notification", format!("no queue {queue}")))?;
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| aws("queue ARN", aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
            let arn = attributes.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned();
            let rules = c
                .pointer("/Filter/S3Key/Rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| {
                    FilterRule::builder()
                        .name(FilterRuleName::from(r.get("Name").and_then(Value::as_str).unwrap_or_default()))
                        .value(r.get("Value").and_then(Value::as_str).unwrap_or_default())
                        .build()
                })
                .collect();
            let event = Event::from(c.get("Event").and_then(Value::as_str).unwrap_or_default());
            queues.push(
                QueueConfiguration::builder()
                    .set_queue_arn(arn)
                    .events(event)
                    .filter(
                        NotificationConfigurationFilter::builder()
                            .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                            .build(),
                    )
                    .build()
                    .map_err(|e| aws("notification", e.to_string()))?,
            );
        }
        s3.put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(
                NotificationConfiguration::builder().set_queue_configurations(Some(queues)).build(),
            )
            .send()
            .await
            .map_err(|e| aws("bucket notification", aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
    }
    Ok(())
}
