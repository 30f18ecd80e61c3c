//! Segment functions and their instances through the Public API: list, get,
//! create, update, deploy and delete a function; create a destination
//! connected to a source, or a source, running one; read one instance by
//! id (the id fnctl recorded on its role); list the destinations connected
//! to a source, or all of them; delete an instance (for `--prune`). Its own
//! object-safe trait, [`FunctionsBackend`], beside the settings client
//! (`segment.rs`): the HTTP implementation sends through the same
//! [`HttpSegment::send`], so the run's one rate limiter paces these
//! requests too. Wire shapes are those of the vendored spec (`createFunction`
//! `CreateFunctionV1Input`, `FunctionV1`, `CreateDestinationV1Input`,
//! `CreateSourceV1Input`, `ListConnectedDestinationsFromSourceV1Output`).

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::segment::{
    parse_json, percent_encode, status_error, HttpSegment, Request, SegmentError, PAGE_SIZE,
};
use crate::model::function::{SettingDefinition, SettingType};
use crate::model::segment::SegmentRegion;
use crate::model::FunctionKind;

/// A function as Segment holds it (`FunctionV1`). A list's items carry no
/// `code` nor `settings`: GET the function for those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFunction {
    /// `dfn_…` (destination) or `sfnc_…` (source).
    pub id: String,
    /// What a destination's or source's `metadataId` names.
    pub catalog_id: String,
    /// Destination or source; `None` for a kind fnctl does not make (insert functions).
    pub kind: Option<FunctionKind>,
    /// The name shown; a destination function's has the workspace's name appended.
    pub display_name: String,
    /// Its description, where fnctl keeps its ownership marker.
    pub description: String,
    /// The code (a GET only).
    pub code: Option<String>,
    /// The setting definitions (a GET only).
    pub settings: Option<Vec<SettingDefinition>>,
    /// When its code was last deployed, as Segment writes it; `None` when never.
    pub deployed_at: Option<String>,
    /// Whether running instances use the latest code, when Segment says.
    pub is_latest_version: Option<bool>,
}

/// A function to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFunction {
    /// Destination or source.
    pub kind: FunctionKind,
    /// The name Segment's app shows.
    pub display_name: String,
    /// Description (with fnctl's ownership marker).
    pub description: String,
    /// The code.
    pub code: String,
    /// Every setting definition.
    pub settings: Vec<SettingDefinition>,
}

/// What to change on a function; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionChange {
    /// New code.
    pub code: Option<String>,
    /// New display name.
    pub display_name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// The whole list of definitions (Segment's Terraform provider always
    /// sends the full list: whether a PATCH merges is not documented).
    pub settings: Option<Vec<SettingDefinition>>,
}

impl FunctionChange {
    /// Whether it changes nothing (and must not be sent: Segment answers 400).
    pub fn is_empty(&self) -> bool {
        self.code.is_none()
            && self.display_name.is_none()
            && self.description.is_none()
            && self.settings.is_none()
    }
}

/// An instance (a destination or a source) as Segment holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveInstance {
    /// Its id.
    pub id: String,
    /// Destination or source.
    pub kind: FunctionKind,
    /// Its name (a source's may be absent).
    pub name: Option<String>,
    /// A source's slug.
    pub slug: Option<String>,
    /// Whether it receives data.
    pub enabled: bool,
    /// `metadata.id`: a function instance's is its function's catalog id.
    pub metadata_id: Option<String>,
    /// A destination's source.
    pub source_id: Option<String>,
    /// Its settings, sensitive ones masked.
    pub settings: Map<String, Value>,
}

/// An instance to create, running the function of `metadata_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInstance {
    /// Destination (`POST /destinations`) or source (`POST /sources`).
    pub kind: FunctionKind,
    /// The function's catalog id.
    pub metadata_id: String,
    /// A destination's name, a source's slug: fnctl's naming finds it again.
    pub name: String,
    /// A destination's source; `None` for a source.
    pub source_id: Option<String>,
    /// Whether it receives data.
    pub enabled: bool,
    /// Its settings, the external ID included.
    pub settings: Map<String, Value>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<String>,
}

/// Segment's functions and the instances that run them. Object-safe: the
/// run context holds one, services take `&dyn FunctionsBackend`.
pub trait FunctionsBackend: Send + Sync {
    /// One page of the workspace's functions of `kind` (without code or settings).
    fn list_functions<'a>(
        &'a self,
        region: SegmentRegion,
        kind: FunctionKind,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveFunction>, SegmentError>>;

    /// A function with its code and settings; `None` when there is none (404).
    fn get_function<'a>(
        &'a self,
        region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveFunction>, SegmentError>>;

    /// Creates a function.
    fn create_function<'a>(
        &'a self,
        region: SegmentRegion,
        function: &'a NewFunction,
    ) -> BoxFuture<'a, Result<LiveFunction, SegmentError>>;

    /// Changes a function (never an empty change).
    fn update_function<'a>(
        &'a self,
        region: SegmentRegion,
        id: &'a str,
        change: &'a FunctionChange,
    ) -> BoxFuture<'a, Result<LiveFunction, SegmentError>>;

    /// Deploys a function's latest code to its instances.
    fn deploy_function<'a>(
        &'a self,
        region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>>;

    /// Deletes a function.
    fn delete_function<'a>(
        &'a self,
        region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>>;

    /// Creates an instance.
    fn create_instance<'a>(
        &'a self,
        region: SegmentRegion,
        instance: &'a NewInstance,
    ) -> BoxFuture<'a, Result<LiveInstance, SegmentError>>;

    /// One page of the destinations connected to a source.
    fn connected_destinations<'a>(
        &'a self,
        region: SegmentRegion,
        source_id: &'a str,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>>;

    /// One page of the workspace's sources (fnctl's source instances among them).
    fn list_sources<'a>(
        &'a self,
        region: SegmentRegion,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>>;

    /// One page of the workspace's destinations, whatever their source
    /// (`--prune` looks for fnctl's among them).
    fn list_destinations<'a>(
        &'a self,
        region: SegmentRegion,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>>;

    /// The same client as a settings backend: an existing instance gets
    /// its bundle's settings by the settings push every instance gets.
    fn as_settings(&self) -> &dyn super::segment::SegmentBackend;

    /// One instance by id; `None` when there is none (404).
    fn get_instance<'a>(
        &'a self,
        region: SegmentRegion,
        kind: FunctionKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveInstance>, SegmentError>>;

    /// The first instance running the function of `catalog_id` that `keep`
    /// selects: among the destinations connected to `source` (a
    /// destination), else among the sources; read page by page until found.
    fn find_instance<'a>(
        &'a self,
        region: SegmentRegion,
        kind: FunctionKind,
        source: Option<&'a str>,
        catalog_id: &'a str,
        keep: &'a (dyn Fn(&LiveInstance) -> bool + Sync),
    ) -> BoxFuture<'a, Result<Option<LiveInstance>, SegmentError>> {
        Box::pin(async move {
            let mut cursor: Option<String> = None;
            loop {
                let page = match (kind, source) {
                    (FunctionKind::Destination, Some(source)) => {
                        self.connected_destinations(region, source, cursor.as_deref())
                            .await?
                    }
                    _ => self.list_sources(region, cursor.as_deref()).await?,
                };
                let found = page
                    .items
                    .into_iter()
                    .find(|live| live.metadata_id.as_deref() == Some(catalog_id) && keep(live));
                if found.is_some() {
                    return Ok(found);
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => return Ok(None),
                }
            }
        })
    }
    /// Deletes an instance.
    fn delete_instance<'a>(
        &'a self,
        region: SegmentRegion,
        kind: FunctionKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>>;
}

/// Segment's `resourceType` of a kind.
pub(crate) fn resource_type(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Destination => "DESTINATION",
        FunctionKind::Source => "SOURCE",
    }
}

/// The catalog id a function's id carries (`dfn_abc` → `abc`).
pub(crate) fn catalog_id_of(function_id: &str) -> &str {
    ["dfn_", "sfnc_", "ifnd_"]
        .iter()
        .find_map(|prefix| function_id.strip_prefix(prefix))
        .unwrap_or(function_id)
}

/// The wire form of definitions (`FunctionSettingV1`, all six fields).
pub(crate) fn definitions_json(definitions: &[SettingDefinition]) -> Value {
    Value::Array(
        definitions
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "label": d.label,
                    "description": d.description,
                    "type": d.setting_type.segment_name(),
                    "required": d.required,
                    "sensitive": d.sensitive,
                })
            })
            .collect(),
    )
}

/// What an answer lacks for fnctl to read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// A field every such object has is not there.
    #[error("a {object} without `{field}`")]
    Missing {
        object: &'static str,
        field: &'static str,
    },
    /// `settings` is not a list.
    #[error("a function's settings are not a list")]
    SettingsNotAList,
    /// A setting type Segment does not document.
    #[error("setting `{name}` has the undocumented type `{type_name}`")]
    SettingType { name: String, type_name: String },
}

/// Definitions read from `FunctionV1.settings`.
fn parse_definitions(value: &Value) -> Result<Vec<SettingDefinition>, Malformed> {
    let items = value.as_array().ok_or(Malformed::SettingsNotAList)?;
    items
        .iter()
        .map(|item| {
            let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_string);
            let flag = |key: &str| item.get(key).and_then(Value::as_bool).unwrap_or(false);
            let name = text("name").ok_or(Malformed::Missing {
                object: "setting",
                field: "name",
            })?;
            let type_name = text("type").unwrap_or_default();
            let setting_type = SettingType::from_segment_name(&type_name).ok_or_else(|| {
                Malformed::SettingType {
                    name: name.clone(),
                    type_name: type_name.clone(),
                }
            })?;
            Ok(SettingDefinition {
                label: text("label").unwrap_or_else(|| name.clone()),
                description: text("description").unwrap_or_default(),
                setting_type,
                required: flag("required"),
                sensitive: flag("sensitive"),
                name,
            })
        })
        .collect()
}

/// A `FunctionV1` (or a list's `ListFunctionItemV1`).
pub(crate) fn parse_function(value: &Value) -> Result<LiveFunction, Malformed> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let id = text("id").ok_or(Malformed::Missing {
        object: "function",
        field: "id",
    })?;
    let kind = match text("resourceType").as_deref() {
        Some("DESTINATION") => Some(FunctionKind::Destination),
        Some("SOURCE") => Some(FunctionKind::Source),
        _ => None,
    };
    let settings = match value.get("settings") {
        Some(settings) => Some(parse_definitions(settings)?),
        None => None,
    };
    Ok(LiveFunction {
        catalog_id: text("catalogId").unwrap_or_else(|| catalog_id_of(&id).to_string()),
        id,
        kind,
        display_name: text("displayName").unwrap_or_default(),
        description: text("description").unwrap_or_default(),
        code: text("code"),
        settings,
        deployed_at: text("deployedAt"),
        is_latest_version: value.get("isLatestVersion").and_then(Value::as_bool),
    })
}

/// A `DestinationV1` or `SourceV1`.
pub(crate) fn parse_instance(kind: FunctionKind, value: &Value) -> Result<LiveInstance, Malformed> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(LiveInstance {
        id: text("id").ok_or(Malformed::Missing {
            object: "instance",
            field: "id",
        })?,
        kind,
        name: text("name"),
        slug: text("slug"),
        enabled: value
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        metadata_id: value
            .pointer("/metadata/id")
            .and_then(Value::as_str)
            .map(str::to_string),
        source_id: text("sourceId"),
        settings: value
            .get("settings")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    })
}

/// The body of `POST /functions`.
pub(crate) fn create_function_body(function: &NewFunction) -> Value {
    json!({
        "code": function.code,
        "displayName": function.display_name,
        "description": function.description,
        "resourceType": resource_type(function.kind),
        "settings": definitions_json(&function.settings),
    })
}

/// The body of `PATCH /functions/{id}`: only what changes.
pub(crate) fn update_function_body(change: &FunctionChange) -> Value {
    let mut body = Map::new();
    if let Some(code) = &change.code {
        body.insert("code".into(), json!(code));
    }
    if let Some(name) = &change.display_name {
        body.insert("displayName".into(), json!(name));
    }
    if let Some(description) = &change.description {
        body.insert("description".into(), json!(description));
    }
    if let Some(settings) = &change.settings {
        body.insert("settings".into(), definitions_json(settings));
    }
    Value::Object(body)
}

/// The body of `POST /destinations` or `POST /sources`.
pub(crate) fn create_instance_body(instance: &NewInstance) -> Value {
    match instance.kind {
        FunctionKind::Destination => json!({
            "sourceId": instance.source_id,
            "metadataId": instance.metadata_id,
            "name": instance.name,
            "enabled": instance.enabled,
            "settings": instance.settings,
        }),
        FunctionKind::Source => json!({
            "slug": instance.name,
            "enabled": instance.enabled,
            "metadataId": instance.metadata_id,
            "settings": instance.settings,
        }),
    }
}

/// `data.<member>` of an answer, or an unexpected-answer error.
fn member<'a>(path: &str, answer: &'a Value, member: &str) -> Result<&'a Value, SegmentError> {
    answer
        .pointer(&format!("/data/{member}"))
        .filter(|v| !v.is_null())
        .ok_or_else(|| SegmentError::Unexpected {
            path: path.to_string(),
            message: format!("no data.{member}"),
        })
}

fn unexpected<E: std::fmt::Display>(path: &str) -> impl Fn(E) -> SegmentError + '_ {
    move |error| SegmentError::Unexpected {
        path: path.to_string(),
        message: error.to_string(),
    }
}

/// The next page's cursor of a list answer.
fn next_cursor(answer: &Value) -> Option<String> {
    answer
        .pointer("/data/pagination/next")
        .and_then(Value::as_str)
        .filter(|next| !next.is_empty())
        .map(str::to_string)
}

/// One request's parts.
fn request<'a>(
    method: Method,
    region: SegmentRegion,
    path: &'a str,
    query: &'a str,
    body: Option<&'a Value>,
    secrets: &'a [&'a str],
) -> Request<'a> {
    Request {
        method,
        region,
        path,
        query,
        body,
        secrets,
    }
}

fn list_query(extra: &str, cursor: Option<&str>) -> String {
    let mut query = format!("?{extra}pagination[count]={PAGE_SIZE}");
    if let Some(cursor) = cursor {
        query.push_str("&pagination[cursor]=");
        query.push_str(&percent_encode(cursor));
    }
    query
}

fn instance_collection(kind: FunctionKind) -> (&'static str, &'static str) {
    match kind {
        FunctionKind::Destination => ("/destinations", "destination"),
        FunctionKind::Source => ("/sources", "source"),
    }
}

impl HttpSegment {
    /// Sends one request and gives the parsed answer of a success, `None`
    /// for a 404 when `missing_is_none`, an error otherwise.
    async fn call(
        &self,
        request: Request<'_>,
        missing_is_none: bool,
    ) -> Result<Option<Value>, SegmentError> {
        let path = request.path.to_string();
        let (status, text) = self.send(request).await?;
        match status {
            200..=299 => parse_json(&path, &text).map(Some),
            404 if missing_is_none => Ok(None),
            _ => Err(status_error(&path, status, &text)),
        }
    }

    /// A call whose success must carry an answer.
    async fn answered(&self, request: Request<'_>) -> Result<Value, SegmentError> {
        let answer = self.call(request, false).await?;
        Ok(answer.unwrap_or(Value::Null))
    }

    async fn functions_page(
        &self,
        region: SegmentRegion,
        kind: FunctionKind,
        cursor: Option<&str>,
    ) -> Result<Page<LiveFunction>, SegmentError> {
        let path = "/functions";
        let query = list_query(&format!("resourceType={}&", resource_type(kind)), cursor);
        let answer = self
            .answered(request(Method::GET, region, path, &query, None, &[]))
            .await?;
        let items = member(path, &answer, "functions")?
            .as_array()
            .ok_or_else(|| unexpected(path)("data.functions is not a list"))?;
        let items = items
            .iter()
            .map(parse_function)
            .collect::<Result<_, _>>()
            .map_err(unexpected(path))?;
        Ok(Page {
            items,
            next: next_cursor(&answer),
        })
    }

    async fn function(
        &self,
        region: SegmentRegion,
        id: &str,
    ) -> Result<Option<LiveFunction>, SegmentError> {
        let path = format!("/functions/{id}");
        let Some(answer) = self
            .call(request(Method::GET, region, &path, "", None, &[]), true)
            .await?
        else {
            return Ok(None);
        };
        let function = member(&path, &answer, "function")?;
        parse_function(function)
            .map(Some)
            .map_err(unexpected(&path))
    }

    async fn write_function(
        &self,
        method: Method,
        region: SegmentRegion,
        path: &str,
        body: &Value,
    ) -> Result<LiveFunction, SegmentError> {
        let answer = self
            .answered(request(method, region, path, "", Some(body), &[]))
            .await?;
        parse_function(member(path, &answer, "function")?).map_err(unexpected(path))
    }

    async fn new_instance(
        &self,
        region: SegmentRegion,
        instance: &NewInstance,
    ) -> Result<LiveInstance, SegmentError> {
        let (path, resource) = instance_collection(instance.kind);
        let secrets: Vec<&str> = instance
            .settings
            .values()
            .filter_map(Value::as_str)
            .collect();
        let body = create_instance_body(instance);
        let answer = self
            .answered(request(
                Method::POST,
                region,
                path,
                "",
                Some(&body),
                &secrets,
            ))
            .await?;
        parse_instance(instance.kind, member(path, &answer, resource)?).map_err(unexpected(path))
    }

    async fn instances_page(
        &self,
        region: SegmentRegion,
        path: &str,
        list: &str,
        kind: FunctionKind,
        cursor: Option<&str>,
    ) -> Result<Page<LiveInstance>, SegmentError> {
        let query = list_query("", cursor);
        let answer = self
            .answered(request(Method::GET, region, path, &query, None, &[]))
            .await?;
        let items = member(path, &answer, list)?
            .as_array()
            .ok_or_else(|| unexpected(path)(format!("data.{list} is not a list")))?;
        let items = items
            .iter()
            .map(|item| parse_instance(kind, item))
            .collect::<Result<_, _>>()
            .map_err(unexpected(path))?;
        Ok(Page {
            items,
            next: next_cursor(&answer),
        })
    }

    async fn instance(
        &self,
        region: SegmentRegion,
        kind: FunctionKind,
        id: &str,
    ) -> Result<Option<LiveInstance>, SegmentError> {
        let (collection, resource) = instance_collection(kind);
        let path = format!("{collection}/{id}");
        let Some(answer) = self
            .call(request(Method::GET, region, &path, "", None, &[]), true)
            .await?
        else {
            return Ok(None);
        };
        parse_instance(kind, member(&path, &answer, resource)?)
            .map(Some)
            .map_err(unexpected(&path))
    }

    async fn delete(&self, region: SegmentRegion, path: &str) -> Result<(), SegmentError> {
        self.call(request(Method::DELETE, region, path, "", None, &[]), true)
            .await
            .map(|_| ())
    }
}

impl FunctionsBackend for HttpSegment {
    fn list_functions<'a>(
        &'a self,
        region: SegmentRegion,
        kind: FunctionKind,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveFunction>, SegmentError>> {
        Box::pin(self.functions_page(region, kind, cursor))
    }

    fn get_function<'a>(
        &'a self,
        region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveFunction>, SegmentError>> {
        Box::pin(self.function(region, id))
    }

    fn create_function<'a>(
        &'a self,
        region: SegmentRegion,
        function: &'a NewFunction,
    ) -> BoxFuture<'a, Result<LiveFunction, SegmentError>> {
        Box::pin(async move {
            let body = create_function_body(function);
            self.write_function(Method::POST, region, "/functions", &body)
                .await
        })
    }

    fn update_function<'a>(
        &'a self,
        region: SegmentRegion,
        id: &'a str,
        change: &'a FunctionChange,
    ) -> BoxFuture<'a, Result<LiveFunction, SegmentError>> {
        Box::pin(async move {
            let path = format!("/functions/{id}");
            let body = update_function_body(change);
            self.write_function(Method::PATCH, region, &path, &body)
                .await
        })
    }

    fn deploy_function<'a>(
        &'a self,
        region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        Box::pin(async move {
            let path = format!("/functions/{id}/deploy");
            self.answered(request(Method::POST, region, &path, "", None, &[]))
                .await
                .map(|_| ())
        })
    }

    fn delete_function<'a>(
        &'a self,
        region: SegmentRegion,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        Box::pin(async move { self.delete(region, &format!("/functions/{id}")).await })
    }

    fn create_instance<'a>(
        &'a self,
        region: SegmentRegion,
        instance: &'a NewInstance,
    ) -> BoxFuture<'a, Result<LiveInstance, SegmentError>> {
        Box::pin(self.new_instance(region, instance))
    }

    fn connected_destinations<'a>(
        &'a self,
        region: SegmentRegion,
        source_id: &'a str,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>> {
        Box::pin(async move {
            let path = format!("/sources/{source_id}/connected-destinations");
            self.instances_page(
                region,
                &path,
                "destinations",
                FunctionKind::Destination,
                cursor,
            )
            .await
        })
    }

    fn list_sources<'a>(
        &'a self,
        region: SegmentRegion,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>> {
        Box::pin(self.instances_page(region, "/sources", "sources", FunctionKind::Source, cursor))
    }

    fn list_destinations<'a>(
        &'a self,
        region: SegmentRegion,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page<LiveInstance>, SegmentError>> {
        Box::pin(self.instances_page(
            region,
            "/destinations",
            "destinations",
            FunctionKind::Destination,
            cursor,
        ))
    }

    fn get_instance<'a>(
        &'a self,
        region: SegmentRegion,
        kind: FunctionKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveInstance>, SegmentError>> {
        Box::pin(self.instance(region, kind, id))
    }

    fn as_settings(&self) -> &dyn super::segment::SegmentBackend {
        self
    }

    fn delete_instance<'a>(
        &'a self,
        region: SegmentRegion,
        kind: FunctionKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), SegmentError>> {
        Box::pin(async move {
            let (collection, _) = instance_collection(kind);
            self.delete(region, &format!("{collection}/{id}")).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::fixtures::string_definition as definition;

    #[test]
    fn a_function_reads_from_its_wire_form_and_back() {
        let answer = json!({
            "id": "dfn_abc123",
            "catalogId": "abc123",
            "resourceType": "DESTINATION",
            "displayName": "S3 archiver (Acme)",
            "description": "fnctl:default/s3-archiver",
            "code": "async function onTrack() {}",
            "deployedAt": null,
            "isLatestVersion": true,
            "settings": definitions_json(&[definition("iamRoleArn", false), definition("iamRoleExternalId", true)]),
        });
        let function = parse_function(&answer).expect("a function");
        assert_eq!(function.id, "dfn_abc123");
        assert_eq!(function.catalog_id, "abc123");
        assert_eq!(function.kind, Some(FunctionKind::Destination));
        assert_eq!(function.deployed_at, None);
        assert_eq!(function.is_latest_version, Some(true));
        let settings = function.settings.expect("settings");
        assert_eq!(settings[1], definition("iamRoleExternalId", true));
        let listed = parse_function(&json!({"id": "sfnc_xyz789", "resourceType": "SOURCE"}))
            .expect("a list item");
        assert_eq!(
            (listed.catalog_id.as_str(), listed.code, listed.settings),
            ("xyz789", None, None)
        );
        assert!(parse_function(
            &json!({"id": "dfn_a", "settings": [{"name": "x", "type": "NUMBER"}]})
        )
        .is_err());
    }

    #[test]
    fn bodies_carry_what_the_spec_asks_and_an_update_only_what_changes() {
        let new = NewFunction {
            kind: FunctionKind::Source,
            display_name: "S3 reader".into(),
            description: "d".into(),
            code: "c".into(),
            settings: vec![definition("iamRoleArn", false)],
        };
        let body = create_function_body(&new);
        assert_eq!(body["resourceType"], "SOURCE");
        assert_eq!(body["settings"][0]["type"], "STRING");
        assert_eq!(body["settings"][0].as_object().map(Map::len), Some(6));
        let change = FunctionChange {
            code: Some("new".into()),
            ..FunctionChange::default()
        };
        assert_eq!(update_function_body(&change), json!({"code": "new"}));
        assert!(FunctionChange::default().is_empty());
        assert!(!change.is_empty());
        let mut settings = Map::new();
        settings.insert("iamRoleArn".into(), json!("arn:aws:iam::1:role/r"));
        let destination = NewInstance {
            kind: FunctionKind::Destination,
            metadata_id: "abc123".into(),
            name: "s3-archiver-prod".into(),
            source_id: Some("src123".into()),
            enabled: true,
            settings: settings.clone(),
        };
        assert_eq!(
            create_instance_body(&destination),
            json!({"sourceId": "src123", "metadataId": "abc123", "name": "s3-archiver-prod", "enabled": true, "settings": settings})
        );
        let source = NewInstance {
            kind: FunctionKind::Source,
            source_id: None,
            ..destination
        };
        let body = create_instance_body(&source);
        assert_eq!(body["slug"], "s3-archiver-prod");
        assert!(body.get("name").is_none() && body.get("sourceId").is_none());
    }

    #[test]
    fn instances_read_their_metadata_and_source() {
        let instance = parse_instance(
            FunctionKind::Destination,
            &json!({"id": "d1", "name": "n", "enabled": true, "sourceId": "s1", "metadata": {"id": "abc123"}, "settings": {"k": "v"}}),
        )
        .expect("an instance");
        assert_eq!(instance.metadata_id.as_deref(), Some("abc123"));
        assert_eq!(instance.source_id.as_deref(), Some("s1"));
        assert_eq!(instance.settings["k"], "v");
        assert!(parse_instance(FunctionKind::Source, &json!({})).is_err());
        assert_eq!(catalog_id_of("dfn_abc"), "abc");
        assert_eq!(catalog_id_of("sfnc_abc"), "abc");
        assert_eq!(catalog_id_of("plain"), "plain");
    }
}
