//! The aws-sdk-iam implementation of [`IamBackend`]: IAM's read calls one
//! page or one role at a time (the reads built on them are
//! [`crate::live::read`]'s), and one write per [`WireOperation`] at the
//! pace the account's [`WriteLimiter`] allows. SDK types stay inside this
//! file; errors become [`IamError`] with messages cleared of policy
//! documents and external IDs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::primitives::{DateTime, DateTimeFormat};
use aws_sdk_iam::types::{AttachedPermissionsBoundary, EntityType, Role, RoleDetail, Tag};
use aws_sdk_iam::Client;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_types::retry::ErrorKind;

use crate::live::aws::throttle::{WriteLimiter, THROTTLE_PATIENCE};
use crate::live::{found, IamBackend, IamError, Page, Policies};
use crate::model::operation::{Operation, WireOperation};
use crate::model::{LiveDocument, LiveRole};

/// Items asked for per page of every paged read (IAM's maximum).
const PAGE_SIZE: i32 = 1000;
/// Longest error message passed on, in characters.
const MAXIMUM_MESSAGE_CHARS: usize = 300;
/// What replaces a policy document (and anything after it) in a message.
const REDACTED: &str = "(policy document redacted)";

/// What every backend of one account shares during a run: the pace of its
/// writes and how many roles it was last seen to hold.
#[derive(Debug, Default)]
pub struct AccountPace {
    limiter: WriteLimiter,
    roles: AtomicUsize,
}

impl AccountPace {
    /// The account's write limiter.
    pub(crate) fn limiter(&self) -> &WriteLimiter {
        &self.limiter
    }
}

/// IAM through aws-sdk-iam.
#[derive(Debug, Clone)]
pub struct AwsIam {
    /// Reads, with the SDK's standard retries.
    client: Client,
    /// Writes: the SDK retries 5xx and transport failures, never throttling,
    /// which goes to the account's limiter.
    writer: Client,
    /// Most per-role reads in flight at once in the fallback and batch reads.
    concurrency: usize,
    account: Arc<AccountPace>,
}

impl AwsIam {
    /// A backend using `config` (credentials, endpoint, retries, timeouts)
    /// and at most `concurrency` per-role reads at once (at least one), with
    /// a write pace of its own.
    pub fn new(config: &aws_config::SdkConfig, concurrency: usize) -> Self {
        AwsIam::sharing(config, concurrency, Arc::default())
    }

    /// The same, pacing writes with every other backend of `account`.
    pub(crate) fn sharing(
        config: &aws_config::SdkConfig,
        concurrency: usize,
        account: Arc<AccountPace>,
    ) -> Self {
        let writer = aws_sdk_iam::config::Builder::from(config)
            .retry_classifier(ThrottlingToTheLimiter)
            .build();
        AwsIam {
            client: Client::new(config),
            writer: Client::from_conf(writer),
            concurrency: concurrency.max(1),
            account,
        }
    }
}

/// Stops the SDK from retrying a throttled write on its own schedule: the
/// write goes back to [`AwsIam::execute`], which tells the account's limiter
/// and sends it again at its next turn. Runs after the SDK's classifiers and
/// overrides only their throttling verdict.
#[derive(Debug)]
struct ThrottlingToTheLimiter;

impl ClassifyRetry for ThrottlingToTheLimiter {
    fn classify_retry(&self, _context: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(
        &self,
        _context: &InterceptorContext,
        previous: &RetryAction,
    ) -> RetryAction {
        match previous {
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            }) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "fnctl: throttled writes go to the write limiter"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Whether IAM refused a request for its rate (after the SDK's handling).
fn is_throttling(error: &IamError) -> bool {
    matches!(error, IamError::Service { code, .. } if matches!(code.as_str(), "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException"))
}

impl IamBackend for AwsIam {
    async fn account_details_page(
        &self,
        marker: Option<String>,
        policies: Policies,
    ) -> Result<Page<LiveRole>, IamError> {
        const API: &str = "GetAccountAuthorizationDetails";
        let started = Instant::now();
        let page = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| sdk_error(API, &e))?;
        let details = page.role_detail_list.unwrap_or_default();
        log::debug!(
            "IAM {API}: {} role(s) in {} ms",
            details.len(),
            started.elapsed().as_millis()
        );
        Ok(Page {
            items: details
                .into_iter()
                .map(|detail| from_detail(detail, policies))
                .collect(),
            next: page.marker.filter(|m| !m.is_empty()),
        })
    }

    async fn list_roles_page(
        &self,
        path_prefix: Option<&str>,
        marker: Option<String>,
    ) -> Result<Page<LiveRole>, IamError> {
        const API: &str = "ListRoles";
        let started = Instant::now();
        let page = self
            .client
            .list_roles()
            .set_path_prefix(path_prefix.map(str::to_string))
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| sdk_error(API, &e))?;
        log::debug!(
            "IAM {API} {}: {} role(s) in {} ms",
            path_prefix.unwrap_or("/"),
            page.roles.len(),
            started.elapsed().as_millis()
        );
        Ok(Page {
            items: page.roles.into_iter().map(from_role).collect(),
            next: page.marker.filter(|m| !m.is_empty()),
        })
    }

    async fn get_role(&self, name: &str) -> Result<Option<LiveRole>, IamError> {
        let started = Instant::now();
        let answer = self.client.get_role().role_name(name).send().await;
        log::debug!("IAM GetRole {name}: {} ms", started.elapsed().as_millis());
        let role = answer.map(|output| output.role.map(from_role));
        Ok(found(role.map_err(|e| sdk_error("GetRole", &e)))?.flatten())
    }

    async fn list_role_policies_page(
        &self,
        role: &str,
        marker: Option<String>,
    ) -> Result<Page<String>, IamError> {
        let page = self
            .client
            .list_role_policies()
            .role_name(role)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| sdk_error("ListRolePolicies", &e))?;
        Ok(Page {
            next: page.marker.filter(|_| page.is_truncated),
            items: page.policy_names,
        })
    }

    async fn get_role_policy(
        &self,
        role: &str,
        policy_name: &str,
    ) -> Result<Option<LiveDocument>, IamError> {
        let answer = self
            .client
            .get_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send()
            .await
            .map(|output| document(Some(output.policy_document())));
        found(answer.map_err(|e| sdk_error("GetRolePolicy", &e)))
    }

    async fn list_attached_role_policies_page(
        &self,
        role: &str,
        marker: Option<String>,
    ) -> Result<Page<String>, IamError> {
        let page = self
            .client
            .list_attached_role_policies()
            .role_name(role)
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| sdk_error("ListAttachedRolePolicies", &e))?;
        Ok(Page {
            next: page.marker.filter(|_| page.is_truncated),
            items: page
                .attached_policies
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.policy_arn)
                .collect(),
        })
    }

    async fn execute(&self, operation: &WireOperation) -> Result<(), IamError> {
        let limiter = self.account.limiter();
        let first_sent = Instant::now();
        let result = loop {
            limiter.turn().await;
            let result = self.send(operation).await;
            match &result {
                Err(error) if is_throttling(error) => {
                    limiter.throttled(Instant::now());
                    log::debug!(
                        "{} throttled; writes now paced at {:.1}/s",
                        operation.api_name(),
                        limiter.rate().unwrap_or(f64::INFINITY)
                    );
                    if first_sent.elapsed() < THROTTLE_PATIENCE {
                        continue;
                    }
                }
                // No answer from IAM says nothing about its rate.
                Err(IamError::Transport { .. }) => {}
                _ => limiter.accepted(Instant::now()),
            }
            break result;
        };
        log::debug!(
            "IAM {} {}: {} in {} ms",
            operation.api_name(),
            operation.role(),
            if result.is_ok() { "ok" } else { "failed" },
            first_sent.elapsed().as_millis()
        );
        // Whatever an error message echoes, the IDs this request carried never leave.
        result.map_err(|error| match operation {
            Operation::CreateRole { trust_policy, .. }
            | Operation::UpdateTrustPolicy { trust_policy, .. } => {
                let secrets = serde_json::from_str(trust_policy.expose())
                    .map(|d| crate::model::trust::external_ids(&d))
                    .unwrap_or_default();
                error.without_secrets(&secrets)
            }
            _ => error,
        })
    }

    fn read_concurrency(&self) -> usize {
        self.concurrency
    }

    fn known_roles(&self) -> usize {
        self.account.roles.load(Ordering::Relaxed)
    }

    fn saw_roles(&self, count: usize) {
        self.account.roles.store(count, Ordering::Relaxed);
    }
}

/// What IAM answered a write, as the core sees it.
trait Answered {
    fn answered(self, api: &'static str) -> Result<(), IamError>;
}

impl<T, E> Answered for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn answered(self, api: &'static str) -> Result<(), IamError> {
        self.map(drop).map_err(|e| sdk_error(api, &e))
    }
}

/// Sending one write with the SDK, a function per kind of write.
impl AwsIam {
    async fn send(&self, operation: &WireOperation) -> Result<(), IamError> {
        match operation {
            Operation::CreateRole { .. }
            | Operation::UpdateTrustPolicy { .. }
            | Operation::UpdateRole { .. }
            | Operation::DeleteRole { .. } => self.send_role_write(operation).await,
            Operation::TagRole { .. } | Operation::UntagRole { .. } => {
                self.send_tag_write(operation).await
            }
            Operation::PutInlinePolicy { .. }
            | Operation::DeleteInlinePolicy { .. }
            | Operation::AttachManagedPolicy { .. }
            | Operation::DetachManagedPolicy { .. }
            | Operation::PutPermissionsBoundary { .. }
            | Operation::DeletePermissionsBoundary { .. } => {
                self.send_policy_write(operation).await
            }
        }
    }

    /// The role itself: create, trust policy, settings, delete.
    async fn send_role_write(&self, operation: &WireOperation) -> Result<(), IamError> {
        let api = operation.api_name();
        let client = &self.writer;
        match operation {
            Operation::CreateRole {
                role,
                path,
                description,
                max_session_duration,
                trust_policy,
                permissions_boundary,
                tags,
            } => client
                .create_role()
                .role_name(role)
                .path(path)
                .set_description(non_empty(description))
                .max_session_duration(*max_session_duration)
                .assume_role_policy_document(trust_policy.expose())
                .set_permissions_boundary(permissions_boundary.clone())
                .set_tags(sdk_tags(api, tags)?)
                .send()
                .await
                .answered(api),
            Operation::UpdateTrustPolicy { role, trust_policy } => client
                .update_assume_role_policy()
                .role_name(role)
                .policy_document(trust_policy.expose())
                .send()
                .await
                .answered(api),
            Operation::UpdateRole {
                role,
                description,
                max_session_duration,
            } => client
                .update_role()
                .role_name(role)
                .description(description)
                .max_session_duration(*max_session_duration)
                .send()
                .await
                .answered(api),
            Operation::DeleteRole { role } => client
                .delete_role()
                .role_name(role)
                .send()
                .await
                .answered(api),
            other => unreachable!("{} is not a role write", other.api_name()),
        }
    }

    /// The role's permissions: inline and managed policies, the boundary.
    async fn send_policy_write(&self, operation: &WireOperation) -> Result<(), IamError> {
        let api = operation.api_name();
        let client = &self.writer;
        match operation {
            Operation::PutInlinePolicy {
                role,
                policy_name,
                document,
            } => client
                .put_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .policy_document(document.to_string())
                .send()
                .await
                .answered(api),
            Operation::DeleteInlinePolicy { role, policy_name } => client
                .delete_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .send()
                .await
                .answered(api),
            Operation::AttachManagedPolicy { role, policy_arn } => client
                .attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await
                .answered(api),
            Operation::DetachManagedPolicy { role, policy_arn } => client
                .detach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await
                .answered(api),
            Operation::PutPermissionsBoundary { role, policy_arn } => client
                .put_role_permissions_boundary()
                .role_name(role)
                .permissions_boundary(policy_arn)
                .send()
                .await
                .answered(api),
            Operation::DeletePermissionsBoundary { role } => client
                .delete_role_permissions_boundary()
                .role_name(role)
                .send()
                .await
                .answered(api),
            other => unreachable!("{} is not a policy write", other.api_name()),
        }
    }

    /// The role's tags.
    async fn send_tag_write(&self, operation: &WireOperation) -> Result<(), IamError> {
        let api = operation.api_name();
        let client = &self.writer;
        match operation {
            Operation::TagRole { role, tags } => client
                .tag_role()
                .role_name(role)
                .set_tags(sdk_tags(api, tags)?)
                .send()
                .await
                .answered(api),
            Operation::UntagRole { role, keys } => client
                .untag_role()
                .role_name(role)
                .set_tag_keys(Some(keys.clone()))
                .send()
                .await
                .answered(api),
            other => unreachable!("{} is not a tag write", other.api_name()),
        }
    }
}

fn from_detail(detail: RoleDetail, policies: Policies) -> LiveRole {
    let read = policies == Policies::Read;
    LiveRole {
        trust_policy: document(detail.assume_role_policy_document()),
        inline_policies: detail
            .role_policy_list()
            .iter()
            .filter(|_| read)
            .filter_map(|p| Some((p.policy_name()?.to_string(), document(p.policy_document()))))
            .collect(),
        attached_policies: detail
            .attached_managed_policies()
            .iter()
            .filter(|_| read)
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        permissions_boundary: boundary(detail.permissions_boundary()),
        tags: tag_map(detail.tags()),
        create_date: detail.create_date().and_then(rfc3339),
        description: None,
        max_session_duration: None,
        name: detail.role_name.unwrap_or_default(),
        path: detail.path.unwrap_or_default(),
        arn: detail.arn.unwrap_or_default(),
        role_id: detail.role_id.unwrap_or_default(),
    }
}

/// A role from GetRole (complete but for policies) or ListRoles (no tags or boundary).
fn from_role(role: Role) -> LiveRole {
    LiveRole {
        trust_policy: document(role.assume_role_policy_document()),
        inline_policies: BTreeMap::new(),
        attached_policies: BTreeSet::new(),
        permissions_boundary: boundary(role.permissions_boundary()),
        tags: tag_map(role.tags()),
        create_date: rfc3339(role.create_date()),
        description: non_empty(role.description().unwrap_or_default()),
        max_session_duration: role.max_session_duration(),
        name: role.role_name,
        path: role.path,
        arn: role.arn,
        role_id: role.role_id,
    }
}

/// A policy document as IAM returned it, decoded.
fn document(raw: Option<&str>) -> LiveDocument {
    crate::live::document(raw.unwrap_or_default())
}

fn boundary(boundary: Option<&AttachedPermissionsBoundary>) -> Option<String> {
    boundary
        .and_then(|b| b.permissions_boundary_arn())
        .map(str::to_string)
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn rfc3339(date: &DateTime) -> Option<String> {
    date.fmt(DateTimeFormat::DateTime).ok()
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// Tags for a request; `None` when there are none (IAM wants the field absent).
fn sdk_tags(
    api: &'static str,
    tags: &BTreeMap<String, String>,
) -> Result<Option<Vec<Tag>>, IamError> {
    if tags.is_empty() {
        return Ok(None);
    }
    tags.iter()
        .map(|(key, value)| {
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|error| IamError::Service {
                    api,
                    code: "InvalidInput".into(),
                    message: redact(&error.to_string()),
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// What an SDK failure means for the caller. Retryable failures (throttling,
/// 5xx, timeouts) have already been retried by the SDK when they get here.
fn sdk_error<E>(api: &'static str, error: &SdkError<E, HttpResponse>) -> IamError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let raw = service.raw();
            let (code, message) = match inner.code() {
                Some(code) => (
                    Some(code.to_string()),
                    inner.message().unwrap_or_default().to_string(),
                ),
                // moto's authorization errors wrap `<Error>` in `<Errors>`,
                // which the SDK's parser does not look into.
                None => match raw.body().bytes().and_then(error_in_body) {
                    Some((code, message)) => (Some(code), message),
                    None => (None, String::new()),
                },
            };
            let message = redact(&message);
            match code.as_deref() {
                Some("NoSuchEntity" | "NoSuchEntityException") => {
                    IamError::NoSuchEntity { api, message }
                }
                Some("AccessDenied" | "AccessDeniedException") => {
                    IamError::AccessDenied { api, message }
                }
                Some("EntityAlreadyExists" | "EntityAlreadyExistsException") => {
                    IamError::AlreadyExists { api, message }
                }
                Some(code) => IamError::Service {
                    api,
                    code: code.to_string(),
                    message,
                },
                // An error page without IAM's error document (moto's HTML 500).
                None => {
                    let status = raw.status().as_u16();
                    IamError::Service {
                        api,
                        code: format!("HTTP {status}"),
                        message: format!("the service answered HTTP {status} without an IAM error"),
                    }
                }
            }
        }
        SdkError::TimeoutError(_) => IamError::Transport {
            api,
            message: "timed out".into(),
        },
        SdkError::DispatchFailure(failure) => {
            let reason = if failure.is_timeout() {
                "timed out"
            } else if failure.is_io() {
                "connection failed"
            } else {
                "request could not be sent"
            };
            IamError::Transport {
                api,
                message: redact(&with_source(reason, error)),
            }
        }
        SdkError::ResponseError(_) => IamError::Transport {
            api,
            message: redact(&with_source("the response could not be read", error)),
        },
        SdkError::ConstructionFailure(_) => IamError::Service {
            api,
            code: "InvalidRequest".into(),
            message: redact(&with_source("the request could not be built", error)),
        },
        other => IamError::Transport {
            api,
            message: redact(&other.to_string()),
        },
    }
}

/// The `<Code>` and `<Message>` of an XML error body the SDK could not place.
fn error_in_body(body: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&format!("</{name}>"))?;
        Some(unescape_xml(text[start..end].trim()))
    };
    let code = element("Code").filter(|code| !code.is_empty())?;
    Some((code, element("Message").unwrap_or_default()))
}

fn unescape_xml(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The reason with the innermost cause ("Connection refused"), which says
/// what really happened where the outer layers only say "io error".
fn with_source(reason: &str, error: &dyn std::error::Error) -> String {
    let mut innermost = error.source();
    while let Some(next) = innermost.and_then(std::error::Error::source) {
        innermost = Some(next);
    }
    match innermost {
        Some(source) => format!("{reason}: {source}"),
        None => reason.to_string(),
    }
}

/// A message safe to show: anything from the first policy document (`{`,
/// percent-encoded or not) or `sts:ExternalId` on is replaced, and the
/// result is at most [`MAXIMUM_MESSAGE_CHARS`] characters.
fn redact(message: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so positions index `message`.
    let lower = message.to_ascii_lowercase();
    let cut = ["{", "%7b", "sts:externalid", "sts%3aexternalid"]
        .iter()
        .filter_map(|needle| lower.find(needle))
        .min();
    match cut {
        Some(at) => {
            let keep = MAXIMUM_MESSAGE_CHARS - REDACTED.len() - 1;
            let head: String = message[..at].chars().take(keep).collect();
            let sep = if head.is_empty() || head.ends_with(' ') {
                ""
            } else {
                " "
            };
            format!("{head}{sep}{REDACTED}")
        }
        None if message.chars().count() > MAXIMUM_MESSAGE_CHARS => {
            let head: String = message.chars().take(MAXIMUM_MESSAGE_CHARS - 1).collect();
            format!("{head}…")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_documents_and_external_ids() {
        let raw = r#"Syntax error in {"Statement":[{"Condition":{"StringEquals":{"sts:ExternalId":"s3cret-id-value"}}}]}"#;
        let safe = redact(raw);
        assert_eq!(safe, "Syntax error in (policy document redacted)");
        let encoded = redact("Bad policy %7B%22sts%3AExternalId%22%3A%22s3cret%22%7D");
        assert!(!encoded.contains("s3cret"), "{encoded}");
        let bare = redact("Condition sts:ExternalId s3cret is invalid");
        assert!(!bare.contains("s3cret"), "{bare}");
    }

    #[test]
    fn bounds_message_length() {
        let long = "x".repeat(1000);
        assert_eq!(redact(&long).chars().count(), MAXIMUM_MESSAGE_CHARS);
        let long_then_document = format!("{} {{\"a\":1}}", "é".repeat(1000));
        let safe = redact(&long_then_document);
        assert!(safe.chars().count() <= MAXIMUM_MESSAGE_CHARS);
        assert!(safe.ends_with(REDACTED));
        assert_eq!(redact("Role r not found."), "Role r not found.");
    }

    #[test]
    fn finds_the_error_moto_wraps_in_errors() {
        let body = br#"<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: a &amp; b is not authorized</Message></Error></Errors></ErrorResponse>"#;
        assert_eq!(
            error_in_body(body),
            Some((
                "AccessDenied".to_string(),
                "User: a & b is not authorized".to_string()
            ))
        );
        assert_eq!(error_in_body(b"<html><body>500</body></html>"), None);
    }
}
