//! The AWS SDK's configuration: the standard credential chain (env, profiles,
//! SSO, web identity for CI OIDC, instance roles), `--profile`/`--region`,
//! `AWS_ENDPOINT_URL` for local stand-ins, retries and timeouts.

pub mod iam;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::SharedCredentialsProvider;
use futures::future::BoxFuture;

use crate::live::accounts::{AccountAccess, Reached};
use crate::live::shared::SharedIam;

/// STS needs a region; IAM is global. Used when nothing else names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// How long one attempt of a request may take before the SDK retries it,
/// unless the settings say otherwise.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The variables that point fnctl at an endpoint other than AWS's own (the
/// SDK reads them itself; fnctl names them in its messages).
pub const ENDPOINT_VARIABLES: [&str; 3] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_IAM",
];

/// What the user chose of the SDK's configuration (`--profile`, `--region`,
/// the endpoint variables, the attempt timeout); everything else comes from
/// the SDK's standard chain. Resolved once by the CLI.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Named profile, when not the chain's default.
    pub profile: Option<String>,
    /// Region for STS (IAM is global).
    pub region: Option<String>,
    /// The endpoint variables that are set, with their URLs, in the order
    /// of [`ENDPOINT_VARIABLES`].
    pub endpoints: Vec<(&'static str, String)>,
    /// How long one attempt of a request may take (tests that delay
    /// answers shorten it).
    pub attempt_timeout: Duration,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            profile: None,
            region: None,
            endpoints: Vec::new(),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}

impl AwsSettings {
    /// The URL an endpoint variable holds, when it is set.
    fn endpoint(&self, variable: &str) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|(name, _)| *name == variable)
            .map(|(_, url)| url.as_str())
    }
}

/// What reaches one AWS account: the SDK configuration and its credentials,
/// and the pace of the account's writes, which every backend made from this
/// connection shares. Opaque, so that no SDK type leaves this module.
#[derive(Debug, Clone)]
pub struct Connection {
    config: SdkConfig,
    settings: Arc<AwsSettings>,
    pace: Arc<iam::AccountPace>,
}

impl Connection {
    /// The configuration the standard chain gives, with the user's choices.
    pub(crate) async fn load(settings: &AwsSettings) -> Self {
        Connection {
            config: load_config(settings).await,
            settings: Arc::new(settings.clone()),
            pace: Arc::default(),
        }
    }

    /// The connection that reaches a role's account: this one, or credentials
    /// from assuming `assume_role` (session name `fnctl`).
    pub(crate) async fn assuming(&self, assume_role: Option<&str>) -> Self {
        let Some(arn) = assume_role else {
            return self.clone();
        };
        let provider = AssumeRoleProvider::builder(arn)
            .session_name("fnctl")
            .configure(&self.config)
            .build()
            .await;
        Connection {
            config: self
                .config
                .to_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build(),
            settings: self.settings.clone(),
            pace: Arc::default(),
        }
    }

    /// Where STS requests go: the configured endpoint or AWS's own.
    pub(crate) fn endpoint(&self) -> String {
        describe_endpoint(&self.config, &self.settings)
    }

    /// Which account and principal the credentials reach (STS GetCallerIdentity).
    /// An explicitly configured endpoint that refuses connections fails at
    /// once, named, instead of after the SDK's retries.
    pub(crate) async fn caller_identity(&self) -> anyhow::Result<CallerIdentity> {
        probe_configured_endpoints(&self.settings).await?;
        caller_identity(&self.config).await
    }

    /// An IAM backend for this account, with at most `concurrency` per-role
    /// reads in flight, pacing its writes with every other backend of this
    /// connection.
    pub(crate) fn iam(&self, concurrency: usize) -> iam::AwsIam {
        iam::AwsIam::sharing(&self.config, concurrency, self.pace.clone())
    }
}

/// The accounts the SDK's credentials reach, directly or through a role:
/// the configuration is loaded on the first reach (a run that reaches no
/// account loads none), and each account's IAM backend keeps at most
/// `concurrency` per-role reads in flight.
pub struct AwsAccounts {
    settings: AwsSettings,
    concurrency: usize,
    base: tokio::sync::OnceCell<Connection>,
}

impl AwsAccounts {
    /// Accounts reached with `settings`.
    pub(crate) fn new(settings: AwsSettings, concurrency: usize) -> Self {
        AwsAccounts {
            settings,
            concurrency,
            base: tokio::sync::OnceCell::new(),
        }
    }
}

impl AccountAccess for AwsAccounts {
    fn reach<'a>(&'a self, assume_role: Option<&'a str>) -> BoxFuture<'a, anyhow::Result<Reached>> {
        Box::pin(async move {
            let base = self
                .base
                .get_or_init(|| Connection::load(&self.settings))
                .await;
            let connection = base.assuming(assume_role).await;
            let identity =
                connection
                    .caller_identity()
                    .await
                    .map_err(|error| match assume_role {
                        Some(role) => {
                            error.context(format!("cannot reach the account of role {role}"))
                        }
                        None => error,
                    })?;
            Ok(Reached {
                identity,
                iam: SharedIam::new(connection.iam(self.concurrency)),
            })
        })
    }
}

/// Connects once to every explicitly configured endpoint. The SDK retries a
/// refused connection like a 5xx (eight attempts, ~10 s); for an endpoint the
/// user typed, a refusal is almost always a typo or a stopped server, so it
/// is reported at once with the variable and URL named. Throttling and 5xx
/// answers are still retried by the SDK.
async fn probe_configured_endpoints(settings: &AwsSettings) -> anyhow::Result<()> {
    for (variable, url) in &settings.endpoints {
        let Some(address) = host_and_port(url) else {
            continue;
        };
        let attempt = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(address.as_str()),
        )
        .await;
        if let Ok(Err(error)) = attempt {
            if matches!(
                error.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) || error.to_string().contains("failed to lookup")
            {
                anyhow::bail!(
                    "cannot connect to {url} ({variable}): {error}; check the URL, or start the server it names"
                );
            }
        }
    }
    Ok(())
}

/// `host:port` of an `http(s)://host[:port]/…` URL (the scheme's port when none).
fn host_and_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    };
    if has_port {
        return Some(authority.to_string());
    }
    let port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    Some(format!("{authority}:{port}"))
}

/// Loads the SDK configuration the way every AWS tool does.
async fn load_config(global: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // 5xx and transport failures are retried with backoff, and so is
        // throttling of reads; throttled writes go to the account's
        // write limiter instead (see `throttle`).
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(8)
                .with_max_backoff(Duration::from_secs(10)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(global.attempt_timeout)
                .build(),
        );
    if let Some(profile) = &global.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &global.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return config
            .into_builder()
            .region(Region::new(FALLBACK_REGION))
            .build();
    }
    config
}

/// Where STS requests go: the configured endpoint or AWS's own.
fn describe_endpoint(config: &SdkConfig, settings: &AwsSettings) -> String {
    settings
        .endpoint("AWS_ENDPOINT_URL_STS")
        .or_else(|| config.endpoint_url())
        .map(str::to_string)
        .unwrap_or_else(|| {
            let region = config
                .region()
                .map_or(FALLBACK_REGION.to_string(), |r| r.to_string());
            format!("https://sts.{region}.amazonaws.com (AWS)")
        })
}

/// Who the credentials are, per STS GetCallerIdentity.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallerIdentity {
    /// 12-digit account id.
    pub account: String,
    /// ARN of the caller.
    pub arn: String,
    /// Unique id of the caller.
    pub user_id: String,
}

/// Asks STS which account and principal the credentials reach.
async fn caller_identity(config: &SdkConfig) -> anyhow::Result<CallerIdentity> {
    let client = aws_sdk_sts::Client::new(config);
    let output = client
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| anyhow::anyhow!(crate::live::aws::describe_sdk_error(&error)))
        .map_err(|error| {
            error.context(
                "STS GetCallerIdentity failed: cannot tell which AWS account the credentials reach",
            )
        })?;
    Ok(CallerIdentity {
        account: output.account().unwrap_or_default().to_string(),
        arn: output.arn().unwrap_or_default().to_string(),
        user_id: output.user_id().unwrap_or_default().to_string(),
    })
}

/// A one-line description of an SDK error: the service's code and message
/// when there is one, else the transport failure, without request bodies.
pub(crate) fn describe_sdk_error<E, R>(error: &aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sts::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match (inner.code(), inner.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => inner.to_string(),
            }
        }
        SdkError::DispatchFailure(failure) => {
            let reason = if failure.is_timeout() {
                "timed out".to_string()
            } else if failure.is_io() {
                "connection failed".to_string()
            } else {
                "request could not be sent".to_string()
            };
            // The innermost cause says what really happened ("Connection refused").
            let mut innermost: Option<&dyn std::error::Error> = std::error::Error::source(error);
            while let Some(next) = innermost.and_then(std::error::Error::source) {
                innermost = Some(next);
            }
            let source = innermost.map(|s| format!(": {s}")).unwrap_or_default();
            format!("{reason}{source}")
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::ConstructionFailure(_) => match std::error::Error::source(error) {
            Some(source) => format!("request could not be built: {source}"),
            None => "request could not be built".to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::host_and_port;

    #[test]
    fn endpoints_are_read_as_host_and_port() {
        assert_eq!(
            host_and_port("http://127.0.0.1:5000").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            host_and_port("https://iam.example.com/").as_deref(),
            Some("iam.example.com:443")
        );
        assert_eq!(
            host_and_port("http://[::1]:9/x").as_deref(),
            Some("[::1]:9")
        );
        assert_eq!(
            host_and_port("http://localhost").as_deref(),
            Some("localhost:80")
        );
        assert_eq!(host_and_port("not a url"), None);
    }
}
