//! Segment's Public API behind a trait: read an instance's settings (masked
//! as Segment shows them), a page of them, and update some of them. The
//! HTTP implementation paces every request of the run to the workspace's
//! rate limit ([`limit`]), sends a 429'd request again when the limit lets
//! it (it never gives a request up for 429s, only when the limit lets
//! nothing through for [`limit::PATIENCE`]), retries 5xx with backoff,
//! bounded, and no error it returns holds the token or a value it carried.

mod date;
pub mod limit;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::live::clock::Clock;
use crate::model::segment::{LiveSettings, SegmentRegion, SegmentTarget};
use crate::model::FunctionKind;

/// Environment variable holding the Public API token.
pub const TOKEN_VARIABLE: &str = "SEGMENT_PUBLIC_API_TOKEN";
/// Environment variable overriding the API's base URL (tests, proxies).
pub const URL_VARIABLE: &str = "SEGMENT_API_URL";

/// Segment's versioned media type for requests and answers.
const MEDIA_TYPE: &str = "application/vnd.segment.v1+json";
/// Attempts per request when Segment answers 5xx (429s are waited out).
const ATTEMPTS: u32 = 6;

/// Why a Segment request failed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The token was refused (401/403).
    #[error("Segment refused the token in {TOKEN_VARIABLE} (HTTP {status})")]
    Unauthorized { status: u16 },
    /// The rate limit let nothing through for too long.
    #[error("{path}: {stalled}")]
    RateLimited {
        path: String,
        stalled: limit::Stalled,
    },
    /// Any other answer that is not a success.
    #[error("{path}: HTTP {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    /// No answer (connection refused, timeout, TLS).
    #[error("{path}: no answer from {base}")]
    Transport {
        path: String,
        base: String,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that is not what the API documents.
    #[error("{path}: unexpected answer: {message}")]
    Unexpected { path: String, message: String },
}

/// Instances asked for per list page: the most `pagination[count]` allows.
pub const PAGE_SIZE: usize = 200;

/// A workspace's instances of one kind in one region: what one list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Collection {
    /// The workspace's API region.
    pub region: SegmentRegion,
    /// Destinations or sources.
    pub kind: FunctionKind,
}

impl Collection {
    /// The collection `target` belongs to.
    pub(crate) fn of(target: &SegmentTarget) -> Self {
        Collection {
            region: target.region,
            kind: target.kind,
        }
    }

    /// The API path, e.g. `/destinations`.
    pub(crate) fn path(&self) -> &'static str {
        match self.kind {
            FunctionKind::Destination => "/destinations",
            FunctionKind::Source => "/sources",
        }
    }

    /// The member name in answers: `destination` or `source`.
    fn resource(&self) -> &'static str {
        match self.kind {
            FunctionKind::Destination => "destination",
            FunctionKind::Source => "source",
        }
    }
}

/// One page of a collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPage {
    /// Each instance's id and settings, masked as a GET shows them.
    pub instances: Vec<(String, LiveSettings)>,
    /// The cursor of the next page; `None` on the last one.
    pub next: Option<String>,
    /// How many instances the collection holds, when Segment says.
    pub total: Option<u64>,
    /// What the page says of each instance beside its settings, by id:
    /// `fnctl import` tells a function's instances by it, with no read more.
    pub listed: BTreeMap<String, Listed>,
}

/// What a list page says of an instance beside its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    /// `metadata.id`: a function instance's is its function's catalog id.
    pub metadata_id: Option<String>,
    /// A destination's source.
    pub source_id: Option<String>,
}

/// Reading and writing Segment function instances. Object-safe: the run
/// context holds one (HTTP in real runs, in memory in tests) and services
/// take it as `&dyn SegmentBackend`.
pub trait SegmentBackend: Send + Sync {
    /// The instance's settings; `None` when Segment has no such instance (404).
    fn read<'a>(
        &'a self,
        target: &'a SegmentTarget,
    ) -> BoxFuture<'a, Result<Option<LiveSettings>, SegmentError>>;

    /// Sends `settings` (only these keys) as the instance's settings update.
    fn update<'a>(
        &'a self,
        target: &'a SegmentTarget,
        settings: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<(), SegmentError>>;

    /// One page of `collection`, [`PAGE_SIZE`] instances at most: the first
    /// without a cursor, the next with the one the previous page gave.
    fn list<'a>(
        &'a self,
        collection: Collection,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ListPage, SegmentError>>;
}

/// The Public API token: never shown, in `Debug` or anywhere else.
#[derive(Clone)]
pub struct Token {
    value: String,
}

/// Why no Segment client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No token was given.
    #[error(
        "{TOKEN_VARIABLE} is not set: instances with `segment:` need a Segment Public API token"
    )]
    NoToken,
    /// The HTTP client could not be built (TLS roots, for one).
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

impl Token {
    /// The token in `value` (the CLI reads it from `SEGMENT_PUBLIC_API_TOKEN`),
    /// or why there is none.
    pub(crate) fn new(value: Option<String>) -> Result<Self, ClientError> {
        match value {
            Some(token) if !token.trim().is_empty() => Ok(Token {
                value: token.trim().to_string(),
            }),
            _ => Err(ClientError::NoToken),
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Token((sensitive))")
    }
}

/// The Public API over HTTPS.
#[derive(Clone)]
pub struct HttpSegment {
    client: reqwest::Client,
    token: Token,
    base_override: Option<String>,
    /// Waits between attempts, and the rate-limit reset times, go by it.
    clock: Arc<dyn Clock>,
    /// The workspace's rate limit as its answers tell it, shared by every
    /// request of the run (clones share it too).
    limiter: Arc<limit::Limiter>,
}

impl std::fmt::Debug for HttpSegment {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HttpSegment")
            .field("base_override", &self.base_override)
            .finish_non_exhaustive()
    }
}

impl HttpSegment {
    /// A client with `token`; `base_override` (the CLI reads it from
    /// `SEGMENT_API_URL`) replaces every region's base URL.
    pub(crate) fn new(
        token: Token,
        base_override: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("fnctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Http)?;
        let base_override = base_override
            .filter(|url| !url.trim().is_empty())
            .map(|url| url.trim().trim_end_matches('/').to_string());
        Ok(HttpSegment {
            client,
            token,
            base_override,
            clock,
            limiter: Arc::default(),
        })
    }

    fn base(&self, region: SegmentRegion) -> String {
        self.base_override
            .clone()
            .unwrap_or_else(|| region.base_url().to_string())
    }

    /// Sends a request when the rate limit lets it, again after a 429
    /// (when the limit lets it) and after a 5xx (with backoff, bounded);
    /// returns the final answer. `path` is what errors and logs name;
    /// `query` follows it in the URL.
    pub(crate) async fn send(&self, request: Request<'_>) -> Result<(u16, String), SegmentError> {
        let path = request.path.to_string();
        let base = self.base(request.region);
        let url = format!("{base}{path}{}", request.query);
        let method = request.method.clone();
        let mut backoff = Duration::from_millis(200);
        let mut failures = 0;
        loop {
            let permit = self
                .limiter
                .admit(self.clock.as_ref())
                .await
                .map_err(|stalled| SegmentError::RateLimited {
                    path: path.clone(),
                    stalled,
                })?;
            let mut builder = self.client.request(method.clone(), &url);
            if let Some(body) = request.body {
                builder = builder
                    .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
                    .body(body.to_string());
            }
            builder = builder
                .header(reqwest::header::ACCEPT, MEDIA_TYPE)
                .bearer_auth(&self.token.value);
            let started = std::time::Instant::now();
            let response = match builder.send().await {
                Ok(response) => response,
                Err(source) => {
                    return Err(SegmentError::Transport {
                        path,
                        base,
                        source: source.without_url(),
                    })
                }
            };
            let status = response.status().as_u16();
            let mut said = rate_headers(response.headers());
            let text = response.text().await.unwrap_or_default();
            if status == 429 {
                said.wait = ms_before_next(&text);
            }
            permit.answered(status, said);
            log::debug!(
                "Segment {method} {path}: {status} in {} ms",
                started.elapsed().as_millis()
            );
            match status {
                429 => log::info!(
                    "Segment answered 429 for {path}; sending it again when the limit lets it"
                ),
                // A POST creates: sent again after a 5xx that came after
                // Segment made the object, it would make a second one. The
                // caller finds the first by its name on a re-run instead.
                500..=599 if failures + 1 < ATTEMPTS && request.method != reqwest::Method::POST => {
                    failures += 1;
                    log::info!(
                        "Segment answered {status} for {path}; retrying in {} ms",
                        backoff.as_millis()
                    );
                    self.clock.sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                _ => return Ok((status, redact(&text, &self.token.value, request.secrets))),
            }
        }
    }
}

/// One request to the Public API.
pub(crate) struct Request<'a> {
    /// GET, PATCH, POST or DELETE.
    pub(crate) method: reqwest::Method,
    pub(crate) region: SegmentRegion,
    pub(crate) path: &'a str,
    /// `?...` or empty.
    pub(crate) query: &'a str,
    /// A PATCH's or POST's body; a GET has none.
    pub(crate) body: Option<&'a Value>,
    /// Values the request carries that an echoing error must not show.
    pub(crate) secrets: &'a [&'a str],
}

impl SegmentBackend for HttpSegment {
    fn read<'a>(
        &'a self,
        target: &'a SegmentTarget,
    ) -> BoxFuture<'a, Result<Option<LiveSettings>, SegmentError>> {
        Box::pin(self.read_settings(target))
    }

    fn update<'a>(
        &'a self,
        target: &'a SegmentTarget,
        settings: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        Box::pin(self.update_settings(target, settings))
    }

    fn list<'a>(
        &'a self,
        collection: Collection,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ListPage, SegmentError>> {
        Box::pin(self.list_page(collection, cursor))
    }
}

impl HttpSegment {
    async fn read_settings(
        &self,
        target: &SegmentTarget,
    ) -> Result<Option<LiveSettings>, SegmentError> {
        let path = target.path();
        let (status, text) = self
            .send(Request {
                method: reqwest::Method::GET,
                region: target.region,
                path: &path,
                query: "",
                body: None,
                secrets: &[],
            })
            .await?;
        match status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(status_error(&path, status, &text)),
        }
        let answer = parse_json(&path, &text)?;
        let resource = Collection::of(target).resource();
        let settings = answer
            .pointer(&format!("/data/{resource}/settings"))
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| SegmentError::Unexpected {
                path,
                message: format!("no data.{resource}.settings object"),
            })?;
        Ok(Some(LiveSettings { settings }))
    }

    async fn list_page(
        &self,
        collection: Collection,
        cursor: Option<&str>,
    ) -> Result<ListPage, SegmentError> {
        let path = collection.path();
        let mut query = format!("?pagination[count]={PAGE_SIZE}");
        if let Some(cursor) = cursor {
            query.push_str("&pagination[cursor]=");
            query.push_str(&percent_encode(cursor));
        }
        let (status, text) = self
            .send(Request {
                method: reqwest::Method::GET,
                region: collection.region,
                path,
                query: &query,
                body: None,
                secrets: &[],
            })
            .await?;
        if status != 200 {
            return Err(status_error(path, status, &text));
        }
        parse_page(path, collection, &parse_json(path, &text)?)
    }

    async fn update_settings(
        &self,
        target: &SegmentTarget,
        settings: &Map<String, Value>,
    ) -> Result<(), SegmentError> {
        let secrets: Vec<&str> = settings.values().filter_map(Value::as_str).collect();
        let body = serde_json::json!({ "settings": settings });
        let path = target.path();
        let (status, text) = self
            .send(Request {
                method: reqwest::Method::PATCH,
                region: target.region,
                path: &path,
                query: "",
                body: Some(&body),
                secrets: &secrets,
            })
            .await?;
        match status {
            200..=299 => Ok(()),
            _ => Err(status_error(&target.path(), status, &text)),
        }
    }
}

pub(crate) fn parse_json(path: &str, text: &str) -> Result<Value, SegmentError> {
    serde_json::from_str(text).map_err(|error| SegmentError::Unexpected {
        path: path.to_string(),
        message: format!("not JSON: {error}"),
    })
}

/// A list answer: `data.<collection>[]` with each instance's `id` and
/// `settings`, and `data.pagination` (`next` absent or null on the last page).
fn parse_page(
    path: &str,
    collection: Collection,
    answer: &Value,
) -> Result<ListPage, SegmentError> {
    let unexpected = |message: String| SegmentError::Unexpected {
        path: path.to_string(),
        message,
    };
    let member = collection.path().trim_start_matches('/');
    let items = answer
        .pointer(&format!("/data/{member}"))
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected(format!("no data.{member} list")))?;
    let mut instances = Vec::with_capacity(items.len());
    let mut listed = BTreeMap::new();
    for item in items {
        let id = item.get("id").and_then(Value::as_str);
        let settings = item.get("settings").and_then(Value::as_object);
        let text = |pointer: &str| {
            item.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match (id, settings) {
            (Some(id), Some(settings)) => {
                let metadata_id = text("/metadata/id");
                let source_id = text("/sourceId");
                listed.insert(
                    id.to_string(),
                    Listed {
                        metadata_id,
                        source_id,
                    },
                );
                instances.push((
                    id.to_string(),
                    LiveSettings {
                        settings: settings.clone(),
                    },
                ));
            }
            _ => {
                return Err(unexpected(format!(
                    "a {} without id or settings",
                    collection.resource()
                )))
            }
        }
    }
    let pagination = answer.pointer("/data/pagination");
    let next = pagination
        .and_then(|p| p.get("next"))
        .and_then(Value::as_str)
        .filter(|next| !next.is_empty())
        .map(str::to_string);
    let total = pagination
        .and_then(|p| p.get("totalEntries"))
        .and_then(Value::as_u64);
    Ok(ListPage {
        instances,
        next,
        total,
        listed,
    })
}

/// A query value percent-encoded (cursors are opaque: any byte may occur).
pub(crate) fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

pub(crate) fn status_error(path: &str, status: u16, text: &str) -> SegmentError {
    if status == 401 || status == 403 {
        return SegmentError::Unauthorized { status };
    }
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|body| {
            body.pointer("/errors/0/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.chars().take(200).collect());
    SegmentError::Status {
        path: path.to_string(),
        status,
        message,
    }
}

/// A 429 body's `errors[0].data.msBeforeNext`.
fn ms_before_next(body: &str) -> Option<Duration> {
    let value = serde_json::from_str::<Value>(body).ok()?;
    value
        .pointer("/errors/0/data/msBeforeNext")
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
}

/// What an answer's headers say of the rate limit: `X-RateLimit-Remaining`,
/// `-Consumed`, `-Reset` (an RFC 5322 date) and `Date`.
fn rate_headers(headers: &reqwest::header::HeaderMap) -> limit::Said {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let number = |name: &str| text(name).and_then(|v| v.trim().parse().ok());
    limit::Said {
        remaining: number("x-ratelimit-remaining"),
        consumed: number("x-ratelimit-consumed"),
        reset: text("x-ratelimit-reset").and_then(date::parse),
        date: text("date").and_then(date::parse),
        wait: None,
    }
}

/// An error body with the token and every value the request carried removed:
/// APIs echo what they were sent.
fn redact(text: &str, token: &str, secrets: &[&str]) -> String {
    let mut text = text.replace(token, "(sensitive)");
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(secret, "(sensitive)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_and_the_headers_say_what_the_limit_is() {
        let body = r#"{"errors":[{"type":"RequestError","message":"Too many requests","data":{"remainingPoints":0,"msBeforeNext":1500,"consumedPoints":21}}]}"#;
        assert_eq!(ms_before_next(body), Some(Duration::from_millis(1500)));
        assert_eq!(ms_before_next("{}"), None);
        assert_eq!(ms_before_next("<html>"), None);
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in [
            ("X-RateLimit-Remaining", "7"),
            ("X-RateLimit-Consumed", "93"),
            ("X-RateLimit-Reset", "Wed, 20 Sep 2023 10:00:07 GMT"),
            ("Date", "Wed, 20 Sep 2023 10:00:01 GMT"),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        let said = rate_headers(&headers);
        let at = |t| humantime::parse_rfc3339(t).unwrap();
        assert_eq!(
            (said.remaining, said.consumed, said.reset, said.date),
            (
                Some(7),
                Some(93),
                Some(at("2023-09-20T10:00:07Z")),
                Some(at("2023-09-20T10:00:01Z"))
            )
        );
        // A reset in seconds (what fnctl read before) is not a date: ignored.
        headers.insert("X-RateLimit-Reset", "57".parse().unwrap());
        assert_eq!(rate_headers(&headers).reset, None);
    }

    #[test]
    fn echoed_values_and_the_token_are_redacted() {
        let text = r#"{"errors":[{"message":"bad value SECRETVALUE for token tok123"}]}"#;
        let clean = redact(text, "tok123", &["SECRETVALUE"]);
        assert!(
            !clean.contains("SECRETVALUE") && !clean.contains("tok123"),
            "{clean}"
        );
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let token = Token {
            value: "super-secret-token".into(),
        };
        assert!(!format!("{token:?}").contains("super-secret"));
    }
}
