//! IAM in memory: the [`IamBackend`] that tests of the core (planner,
//! executor, lease) run against in milliseconds, with no server. It keeps
//! what fnctl relies on of IAM (see the shared FACTS.md):
//!
//! - role names are unique case-insensitively and looked up the same way;
//! - policy documents are stored percent-encoded, as IAM returns them, and
//!   decoded on every read exactly as the AWS backend decodes them, so the
//!   [`LiveRole`]s are the ones the AWS backend would produce;
//! - each read API returns what its IAM namesake returns (GetAccountAuthorizationDetails
//!   no description or session length, ListRoles no tags or boundary,
//!   GetRole no policies), in pages of a configurable size with markers, so
//!   the reads of [`crate::live::IamReads`] run on it exactly as they run
//!   on AWS, call for call;
//! - TagRole merges, UntagRole removes, a role holds at most 50 tags;
//! - IAM's errors: NoSuchEntity, EntityAlreadyExists, DeleteConflict (a role
//!   that still has policies), LimitExceeded, MalformedPolicyDocument,
//!   ValidationError, InvalidInput;
//! - faults: the nth call of an API (for one role, if wanted) fails with a
//!   chosen error, so partial failures can be tested ([`Fault`]); and a
//!   hand change can land right after a chosen call
//!   ([`MemoryIam::after_each_call`]), as another run's write would.
//!
//! Left out on purpose: eventual consistency and throttling (inject them as
//! faults), managed policies as entities (any ARN attaches), and the name,
//! path and size limits fnctl validates itself before any call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::live::accounts::{AccountAccess, Reached};
use crate::live::aws::CallerIdentity;
use crate::live::shared::SharedIam;
use crate::live::{document, found, IamBackend, IamError, Page, Policies};
use crate::model::operation::{Operation, WireOperation};
use crate::model::{LiveDocument, LiveRole};

/// The account roles are created in unless [`MemoryIam::with_account`] says otherwise
/// (moto's default, so ARNs look like those of the integration tests).
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// Items per page unless [`MemoryIam::with_page_size`] says otherwise (IAM's
/// maximum, which the AWS backend asks for).
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// Most tags IAM keeps on one role.
pub const MAXIMUM_TAGS: usize = 50;

/// What RFC 3986 leaves unencoded; IAM encodes everything else.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Creation times count up from here, one second per role, so they are
/// repeatable.
const FIRST_CREATE_DATE_SECONDS: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// IAM in memory. Cheap to make: one per test.
pub struct MemoryIam {
    account: String,
    page_size: usize,
    /// How many roles the last whole read found (see [`IamBackend::known_roles`]).
    known_roles: AtomicUsize,
    state: Mutex<State>,
}

/// Changes made by hand right after a call, chosen by looking at the call.
type AfterCall = Box<dyn FnMut(&Call) -> Vec<WireOperation> + Send>;

/// One call the backend answered (or refused), in the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// IAM's name of the API (`CreateRole`, `ListRoles`, …).
    pub api: &'static str,
    /// The role named in the request, as the caller spelled it.
    pub role: Option<String>,
    /// The tag keys a TagRole or UntagRole names (empty for other calls):
    /// tells fnctl's bookkeeping from its lock.
    pub tag_keys: Vec<String>,
    /// Whether the call returned an error (an injected fault included).
    pub failed: bool,
}

/// A planned failure: the `nth` call of `api` (counted from when the fault is
/// added, among calls about `role` when one is named) returns `error`. A
/// fault fires once. When two faults fall on the same call, the one added
/// first fires and the other fires on the next matching call.
pub struct Fault {
    api: &'static str,
    role: Option<String>,
    remaining: usize,
    error: IamError,
    /// The call takes effect before the error returns.
    after_applying: bool,
}

impl Fault {
    /// The next call of `api` (IAM's name, e.g. `PutRolePolicy`) fails with `error`.
    pub(crate) fn new(api: &'static str, error: IamError) -> Self {
        Fault {
            api,
            role: None,
            remaining: 1,
            error,
            after_applying: false,
        }
    }

    /// The next call of `api` fails with IAM error `code` (say `Throttling`
    /// or `ServiceFailure`), as a service error.
    pub(crate) fn service(api: &'static str, code: &str) -> Self {
        Fault::new(
            api,
            IamError::Service {
                api,
                code: code.to_string(),
                message: "injected fault".into(),
            },
        )
    }

    /// Only calls about this role count (case-insensitively, as IAM names go).
    pub(crate) fn for_role(mut self, role: &str) -> Self {
        self.role = Some(role.to_string());
        self
    }

    /// The `n`th matching call fails instead of the next one (1 is the next).
    pub(crate) fn nth(mut self, n: usize) -> Self {
        self.remaining = n.max(1);
        self
    }

    /// The call takes effect and the error returns all the same: an answer
    /// lost on the way back, after which the SDK's retry meets the result
    /// (EntityAlreadyExists for a create).
    pub(crate) fn after_applying(mut self) -> Self {
        self.after_applying = true;
        self
    }

    fn matches(&self, api: &str, role: Option<&str>) -> bool {
        self.api == api
            && self
                .role
                .as_deref()
                .is_none_or(|wanted| role.is_some_and(|r| r.eq_ignore_ascii_case(wanted)))
    }
}

#[derive(Default)]
struct State {
    /// Roles by lowercase name: IAM names are unique case-insensitively.
    roles: BTreeMap<String, StoredRole>,
    /// Roles created so far, for unique ids and creation times.
    created: u64,
    calls: Vec<Call>,
    faults: Vec<Fault>,
    after_call: Option<AfterCall>,
    /// Writes still answered before the run "dies" (see [`MemoryIam::kill_after_writes`]).
    writes_left: Option<usize>,
}

/// A role as IAM keeps it: documents as the percent-encoded text IAM returns.
#[derive(Clone)]
struct StoredRole {
    name: String,
    path: String,
    role_id: String,
    arn: String,
    create_date: String,
    description: String,
    max_session_duration: i32,
    trust_policy: String,
    inline_policies: BTreeMap<String, String>,
    attached_policies: BTreeSet<String>,
    permissions_boundary: Option<String>,
    tags: BTreeMap<String, String>,
}

/// Which IAM answer a role is read through: each leaves out what its API does.
#[derive(Clone, Copy)]
enum View {
    /// GetAccountAuthorizationDetails: no description or session length,
    /// permission policies only when asked for.
    Details(Policies),
    /// ListRoles: no tags, boundary or policies.
    Listed,
    /// GetRole: no policies.
    Single,
    /// Everything (for test assertions, not an IAM answer).
    Complete,
}

impl StoredRole {
    fn view(&self, view: View) -> LiveRole {
        let with_policies = matches!(view, View::Details(Policies::Read) | View::Complete);
        let with_tags = !matches!(view, View::Listed);
        let with_settings = !matches!(view, View::Details(_));
        LiveRole {
            name: self.name.clone(),
            path: self.path.clone(),
            arn: self.arn.clone(),
            role_id: self.role_id.clone(),
            create_date: Some(self.create_date.clone()),
            description: with_settings
                .then(|| self.description.clone())
                .filter(|d| !d.is_empty()),
            max_session_duration: with_settings.then_some(self.max_session_duration),
            trust_policy: document(&self.trust_policy),
            inline_policies: if with_policies {
                self.inline_policies
                    .iter()
                    .map(|(name, text)| (name.clone(), document(text)))
                    .collect()
            } else {
                BTreeMap::new()
            },
            attached_policies: if with_policies {
                self.attached_policies.clone()
            } else {
                BTreeSet::new()
            },
            permissions_boundary: self.permissions_boundary.clone().filter(|_| with_tags),
            tags: if with_tags {
                self.tags.clone()
            } else {
                BTreeMap::new()
            },
        }
    }
}

/// Whether an API only reads.
fn is_read(api: &str) -> bool {
    api.starts_with("Get") || api.starts_with("List")
}

/// The text IAM returns for a document it was sent.
fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

impl Default for MemoryIam {
    fn default() -> Self {
        MemoryIam::new()
    }
}

impl std::fmt::Debug for MemoryIam {
    // Trust policies hold external IDs: Debug shows names and counts only.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        formatter
            .debug_struct("MemoryIam")
            .field("account", &self.account)
            .field("page_size", &self.page_size)
            .field(
                "roles",
                &state.roles.values().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .field("calls", &state.calls.len())
            .field("faults", &state.faults.len())
            .finish()
    }
}

impl MemoryIam {
    /// An empty account ([`DEFAULT_ACCOUNT`], pages of [`DEFAULT_PAGE_SIZE`]).
    pub(crate) fn new() -> Self {
        MemoryIam {
            account: DEFAULT_ACCOUNT.to_string(),
            page_size: DEFAULT_PAGE_SIZE,
            known_roles: AtomicUsize::new(0),
            state: Mutex::new(State::default()),
        }
    }

    /// The same backend for another account id (it shows in ARNs).
    pub(crate) fn with_account(mut self, account: &str) -> Self {
        self.account = account.to_string();
        self
    }

    /// The same backend answering paged reads `size` items at a time (at least one).
    pub(crate) fn with_page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// The account id in the ARNs.
    pub(crate) fn account(&self) -> &str {
        &self.account
    }

    /// Adds a fault; see [`Fault`].
    pub(crate) fn fail(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// After every call from now on, `hook` looks at the call (made and
    /// logged) and returns changes that are then made by hand before any
    /// other call is answered: how a test lands another run's write between
    /// two of this run's.
    pub(crate) fn after_each_call(
        &self,
        hook: impl FnMut(&Call) -> Vec<WireOperation> + Send + 'static,
    ) {
        self.lock().after_call = Some(Box::new(hook));
    }

    /// The run using this backend dies after `writes` more writes have taken
    /// effect: from then on every call fails (as a killed process makes no
    /// more calls, nothing further reaches IAM). [`MemoryIam::revive`] lets
    /// the next run in.
    pub(crate) fn kill_after_writes(&self, writes: usize) {
        self.lock().writes_left = Some(writes);
    }

    /// Answers calls again after [`MemoryIam::kill_after_writes`] cut them.
    pub(crate) fn revive(&self) {
        self.lock().writes_left = None;
    }

    /// How many writes were sent and answered so far (failed ones included).
    pub(crate) fn writes(&self) -> usize {
        self.lock().calls.iter().filter(|c| !is_read(c.api)).count()
    }

    /// Every call so far, in order.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many calls of `api` were made so far.
    pub(crate) fn count(&self, api: &str) -> usize {
        self.lock().calls.iter().filter(|c| c.api == api).count()
    }

    /// Forgets the calls made so far (the roles stay).
    pub(crate) fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Makes a change the way a person would by hand: applied at once, not
    /// counted as a call, never hit by a fault. Tests set up IAM with it.
    pub(crate) fn change_by_hand(&self, operation: &WireOperation) -> Result<(), IamError> {
        let account = self.account.clone();
        self.lock().apply(operation, &account)
    }

    /// Stores `text` as the role's trust policy exactly as given, without the
    /// check IAM makes: how a test puts a document fnctl cannot read in place.
    pub(crate) fn set_trust_policy_text(&self, role: &str, text: &str) -> Result<(), IamError> {
        let mut state = self.lock();
        let stored = state.role_mut("UpdateAssumeRolePolicy", role)?;
        stored.trust_policy = text.to_string();
        Ok(())
    }

    /// The trust policy text as IAM would return it (percent-encoded).
    pub(crate) fn trust_policy_text(&self, role: &str) -> Option<String> {
        self.lock()
            .roles
            .get(&role.to_ascii_lowercase())
            .map(|r| r.trust_policy.clone())
    }

    /// Everything about one role (no call counted), or `None`.
    pub(crate) fn role(&self, name: &str) -> Option<LiveRole> {
        self.lock()
            .roles
            .get(&name.to_ascii_lowercase())
            .map(|r| r.view(View::Complete))
    }

    /// The names of every role, sorted case-insensitively.
    pub(crate) fn role_names(&self) -> Vec<String> {
        self.lock().roles.values().map(|r| r.name.clone()).collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; the
        // data is still what it was.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One API call: recorded, subject to faults, then answered by `answer`.
    /// It yields first, so that concurrent callers interleave as they would
    /// against a server.
    async fn call<R>(
        &self,
        api: &'static str,
        role: Option<&str>,
        answer: impl FnOnce(&mut State) -> Result<R, IamError>,
    ) -> Result<R, IamError> {
        self.call_with_keys(api, role, Vec::new(), answer).await
    }

    async fn call_with_keys<R>(
        &self,
        api: &'static str,
        role: Option<&str>,
        tag_keys: Vec<String>,
        answer: impl FnOnce(&mut State) -> Result<R, IamError>,
    ) -> Result<R, IamError> {
        tokio::task::yield_now().await;
        let mut state = self.lock();
        if state.writes_left == Some(0) {
            return Err(IamError::Transport {
                api,
                message: "the run was killed".into(),
            });
        }
        if let Some(left) = state.writes_left.as_mut().filter(|_| !is_read(api)) {
            *left -= 1;
        }
        let result = match state.take_fault(api, role) {
            Some(fault) if fault.after_applying => answer(&mut state).and(Err(fault.error)),
            Some(fault) => Err(fault.error),
            None => answer(&mut state),
        };
        let call = Call {
            api,
            role: role.map(str::to_string),
            tag_keys,
            failed: result.is_err(),
        };
        if let Some(mut hook) = state.after_call.take() {
            for change in hook(&call) {
                // A hand change the test chose; one IAM refuses is its mistake.
                if let Err(error) = state.apply(&change, &self.account) {
                    panic!("a change after {api} failed: {error}");
                }
            }
            state.after_call = Some(hook);
        }
        state.calls.push(call);
        result
    }

    /// One page of a paged read: the items whose key is at or after `marker`,
    /// and the marker of the next page when there is one. Markers are keys,
    /// so pages stay right while roles come and go between calls.
    async fn page<T>(
        &self,
        api: &'static str,
        role: Option<&str>,
        marker: Option<String>,
        items: impl FnOnce(&State) -> Result<Vec<(String, T)>, IamError>,
    ) -> Result<Page<T>, IamError> {
        let size = self.page_size;
        self.call(api, role, |state| {
            let mut rest = items(state)?
                .into_iter()
                .skip_while(|(key, _)| marker.as_ref().is_some_and(|m| key < m));
            let items: Vec<T> = rest.by_ref().take(size).map(|(_, item)| item).collect();
            Ok(Page {
                items,
                next: rest.next().map(|(key, _)| key),
            })
        })
        .await
    }

    /// One page of a list of names about one role (its policies' names or
    /// ARNs, sorted): each name is its own marker.
    async fn names_page(
        &self,
        api: &'static str,
        role: &str,
        marker: Option<String>,
        names: impl FnOnce(&StoredRole) -> Vec<String>,
    ) -> Result<Page<String>, IamError> {
        self.page(api, Some(role), marker, |state| {
            let stored = state.role(api, role)?;
            Ok(names(stored).into_iter().map(|n| (n.clone(), n)).collect())
        })
        .await
    }
}

impl IamBackend for MemoryIam {
    async fn account_details_page(
        &self,
        marker: Option<String>,
        policies: Policies,
    ) -> Result<Page<LiveRole>, IamError> {
        self.page("GetAccountAuthorizationDetails", None, marker, |state| {
            Ok(state
                .roles
                .iter()
                .map(|(key, role)| (key.clone(), role.view(View::Details(policies))))
                .collect())
        })
        .await
    }

    async fn list_roles_page(
        &self,
        path_prefix: Option<&str>,
        marker: Option<String>,
    ) -> Result<Page<LiveRole>, IamError> {
        self.page("ListRoles", None, marker, |state| {
            Ok(state
                .roles
                .iter()
                .filter(|(_, role)| path_prefix.is_none_or(|p| role.path.starts_with(p)))
                .map(|(key, role)| (key.clone(), role.view(View::Listed)))
                .collect())
        })
        .await
    }

    async fn get_role(&self, name: &str) -> Result<Option<LiveRole>, IamError> {
        found(
            self.call("GetRole", Some(name), |state| {
                Ok(state.role("GetRole", name)?.view(View::Single))
            })
            .await,
        )
    }

    async fn list_role_policies_page(
        &self,
        role: &str,
        marker: Option<String>,
    ) -> Result<Page<String>, IamError> {
        self.names_page("ListRolePolicies", role, marker, |stored| {
            stored.inline_policies.keys().cloned().collect()
        })
        .await
    }

    async fn get_role_policy(
        &self,
        role: &str,
        policy_name: &str,
    ) -> Result<Option<LiveDocument>, IamError> {
        found(
            self.call("GetRolePolicy", Some(role), |state| {
                let stored = state.role("GetRolePolicy", role)?;
                stored
                    .inline_policies
                    .get(policy_name)
                    .map(|text| document(text))
                    .ok_or_else(|| no_such_policy("GetRolePolicy", policy_name))
            })
            .await,
        )
    }

    async fn list_attached_role_policies_page(
        &self,
        role: &str,
        marker: Option<String>,
    ) -> Result<Page<String>, IamError> {
        self.names_page("ListAttachedRolePolicies", role, marker, |stored| {
            stored.attached_policies.iter().cloned().collect()
        })
        .await
    }

    async fn execute(&self, operation: &WireOperation) -> Result<(), IamError> {
        let account = self.account.clone();
        let tag_keys = match operation {
            Operation::TagRole { tags, .. } => tags.keys().cloned().collect(),
            Operation::UntagRole { keys, .. } => keys.clone(),
            _ => Vec::new(),
        };
        self.call_with_keys(
            operation.api_name(),
            Some(operation.role()),
            tag_keys,
            |state| state.apply(operation, &account),
        )
        .await
    }

    /// One read at a time: the call log comes in a fixed order.
    fn read_concurrency(&self) -> usize {
        1
    }

    fn known_roles(&self) -> usize {
        self.known_roles.load(Ordering::Relaxed)
    }

    fn saw_roles(&self, count: usize) {
        self.known_roles.store(count, Ordering::Relaxed);
    }
}

fn no_such_role(api: &'static str, role: &str) -> IamError {
    IamError::NoSuchEntity {
        api,
        message: format!("The role with name {role} cannot be found."),
    }
}

fn no_such_policy(api: &'static str, policy: &str) -> IamError {
    IamError::NoSuchEntity {
        api,
        message: format!("The role policy with name {policy} cannot be found."),
    }
}

fn service(api: &'static str, code: &str, message: impl Into<String>) -> IamError {
    IamError::Service {
        api,
        code: code.to_string(),
        message: message.into(),
    }
}

/// IAM's check of a document: JSON with an object at the top. The error
/// never echoes the document (it may hold an external ID).
fn checked_document(api: &'static str, text: &str) -> Result<String, IamError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(encode(text)),
        _ => Err(service(
            api,
            "MalformedPolicyDocument",
            "Syntax errors in policy.",
        )),
    }
}

fn checked_duration(api: &'static str, seconds: i32) -> Result<i32, IamError> {
    if (3600..=43_200).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(service(
            api,
            "ValidationError",
            format!("The requested MaxSessionDuration {seconds} is outside 3600 to 43200 seconds."),
        ))
    }
}

/// A role's tags, key to value.
type Tags = BTreeMap<String, String>;

/// IAM's checks of tags: key 1–128 and value at most 256 characters, no
/// `aws:` prefix, at most [`MAXIMUM_TAGS`] on the role once merged.
fn merged_tags(api: &'static str, existing: &Tags, added: &Tags) -> Result<Tags, IamError> {
    for (key, value) in added {
        let key_length = key.chars().count();
        if !(1..=128).contains(&key_length)
            || value.chars().count() > 256
            || key.to_ascii_lowercase().starts_with("aws:")
        {
            return Err(service(
                api,
                "InvalidInput",
                format!("Tag {key} is not a valid tag."),
            ));
        }
    }
    let mut merged = existing.clone();
    merged.extend(added.iter().map(|(k, v)| (k.clone(), v.clone())));
    if merged.len() > MAXIMUM_TAGS {
        return Err(service(
            api,
            "LimitExceeded",
            format!(
                "A role may have at most {MAXIMUM_TAGS} tags; this request would leave {}.",
                merged.len()
            ),
        ));
    }
    Ok(merged)
}

impl State {
    fn role(&self, api: &'static str, name: &str) -> Result<&StoredRole, IamError> {
        self.roles
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| no_such_role(api, name))
    }

    fn role_mut(&mut self, api: &'static str, name: &str) -> Result<&mut StoredRole, IamError> {
        self.roles
            .get_mut(&name.to_ascii_lowercase())
            .ok_or_else(|| no_such_role(api, name))
    }

    /// The fault this call sets off, if one does.
    fn take_fault(&mut self, api: &str, role: Option<&str>) -> Option<Fault> {
        let mut due = None;
        for (index, fault) in self.faults.iter_mut().enumerate() {
            if !fault.matches(api, role) {
                continue;
            }
            if fault.remaining > 1 {
                fault.remaining -= 1;
            } else if due.is_none() {
                due = Some(index);
            }
        }
        due.map(|index| self.faults.remove(index))
    }

    /// One write, all or nothing, as IAM does it.
    fn apply(&mut self, operation: &WireOperation, account: &str) -> Result<(), IamError> {
        let api = operation.api_name();
        match operation {
            Operation::CreateRole {
                role,
                path,
                description,
                max_session_duration,
                trust_policy,
                permissions_boundary,
                tags,
            } => {
                let key = role.to_ascii_lowercase();
                if self.roles.contains_key(&key) {
                    return Err(IamError::AlreadyExists {
                        api,
                        message: format!("Role with name {role} already exists."),
                    });
                }
                let trust_policy = checked_document(api, trust_policy.expose())?;
                let max_session_duration = checked_duration(api, *max_session_duration)?;
                let tags = merged_tags(api, &BTreeMap::new(), tags)?;
                self.created += 1;
                let created =
                    UNIX_EPOCH + Duration::from_secs(FIRST_CREATE_DATE_SECONDS + self.created);
                self.roles.insert(
                    key,
                    StoredRole {
                        name: role.clone(),
                        path: path.clone(),
                        role_id: format!("AROAMEMORY{:011}", self.created),
                        arn: format!("arn:aws:iam::{account}:role{path}{role}"),
                        create_date: humantime::format_rfc3339_seconds(created).to_string(),
                        description: description.clone(),
                        max_session_duration,
                        trust_policy,
                        inline_policies: BTreeMap::new(),
                        attached_policies: BTreeSet::new(),
                        permissions_boundary: permissions_boundary.clone(),
                        tags,
                    },
                );
            }
            Operation::UpdateTrustPolicy { role, trust_policy } => {
                let text = checked_document(api, trust_policy.expose())?;
                self.role_mut(api, role)?.trust_policy = text;
            }
            Operation::UpdateRole {
                role,
                description,
                max_session_duration,
            } => {
                let duration = checked_duration(api, *max_session_duration)?;
                let stored = self.role_mut(api, role)?;
                stored.description = description.clone();
                stored.max_session_duration = duration;
            }
            Operation::TagRole { role, tags } => {
                let stored = self.role_mut(api, role)?;
                stored.tags = merged_tags(api, &stored.tags, tags)?;
            }
            Operation::UntagRole { role, keys } => {
                let stored = self.role_mut(api, role)?;
                for key in keys {
                    stored.tags.remove(key);
                }
            }
            Operation::DeleteRole { role } => {
                let stored = self.role(api, role)?;
                if !stored.inline_policies.is_empty() || !stored.attached_policies.is_empty() {
                    return Err(service(
                        api,
                        "DeleteConflict",
                        "Cannot delete entity, must delete policies first.",
                    ));
                }
                self.roles.remove(&role.to_ascii_lowercase());
            }
            // Policies and the boundary.
            _ => return self.apply_to_permissions(operation),
        }
        Ok(())
    }

    /// A write to the role's permissions (inline and managed policies, the
    /// boundary), all or nothing.
    fn apply_to_permissions(&mut self, operation: &WireOperation) -> Result<(), IamError> {
        let api = operation.api_name();
        match operation {
            Operation::PutInlinePolicy {
                role,
                policy_name,
                document,
            } => {
                let text = checked_document(api, &document.to_string())?;
                self.role_mut(api, role)?
                    .inline_policies
                    .insert(policy_name.clone(), text);
            }
            Operation::DeleteInlinePolicy { role, policy_name } => {
                self.role_mut(api, role)?
                    .inline_policies
                    .remove(policy_name)
                    .ok_or_else(|| no_such_policy(api, policy_name))?;
            }
            Operation::AttachManagedPolicy { role, policy_arn } => {
                self.role_mut(api, role)?
                    .attached_policies
                    .insert(policy_arn.clone());
            }
            Operation::DetachManagedPolicy { role, policy_arn } => {
                if !self
                    .role_mut(api, role)?
                    .attached_policies
                    .remove(policy_arn)
                {
                    return Err(IamError::NoSuchEntity {
                        api,
                        message: format!("Policy {policy_arn} was not found."),
                    });
                }
            }
            Operation::PutPermissionsBoundary { role, policy_arn } => {
                self.role_mut(api, role)?.permissions_boundary = Some(policy_arn.clone());
            }
            Operation::DeletePermissionsBoundary { role } => {
                self.role_mut(api, role)?.permissions_boundary = None;
            }
            other => unreachable!("{} is not a write to permissions", other.api_name()),
        }
        Ok(())
    }
}

/// Accounts of IAM in memory, reached as the SDK reaches AWS's: the
/// credentials' own account, and one account per role to assume. STS's
/// answer names the account of the IAM reached.
pub struct MemoryAccounts {
    own: std::sync::Arc<MemoryIam>,
    assumed: BTreeMap<String, std::sync::Arc<MemoryIam>>,
}

impl MemoryAccounts {
    /// The credentials reach `own`.
    pub(crate) fn new(own: std::sync::Arc<MemoryIam>) -> Self {
        MemoryAccounts {
            own,
            assumed: BTreeMap::new(),
        }
    }

    /// Assuming `role_arn` reaches `account`.
    pub(crate) fn with_role(mut self, role_arn: &str, account: std::sync::Arc<MemoryIam>) -> Self {
        self.assumed.insert(role_arn.to_string(), account);
        self
    }
}

impl AccountAccess for MemoryAccounts {
    fn reach<'a>(
        &'a self,
        assume_role: Option<&'a str>,
    ) -> futures::future::BoxFuture<'a, anyhow::Result<Reached>> {
        Box::pin(async move {
            let iam = match assume_role {
                None => &self.own,
                Some(arn) => self
                    .assumed
                    .get(arn)
                    .ok_or_else(|| anyhow::anyhow!("cannot assume {arn}: no such role"))?,
            };
            let account = iam.account().to_string();
            Ok(Reached {
                identity: CallerIdentity {
                    arn: format!("arn:aws:iam::{account}:user/fnctl-test"),
                    user_id: "AIDATESTUSER".into(),
                    account,
                },
                iam: SharedIam::from_arc(iam.clone()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::live::IamReads;

    const PATH: &str = "/segment-functions/";

    fn trust(id: &str) -> serde_json::Value {
        crate::model::trust::trust_policy("458175278816", &[id])
    }

    fn create(name: &str, path: &str) -> WireOperation {
        Operation::CreateRole {
            role: name.to_string(),
            path: path.to_string(),
            description: format!("role {name}"),
            max_session_duration: 3600,
            trust_policy: crate::model::operation::SecretDocument::new(
                trust("an-external-id-0123456789").to_string(),
            ),
            permissions_boundary: Some("arn:aws:iam::123456789012:policy/boundary".into()),
            tags: BTreeMap::from([("team".to_string(), "data".to_string())]),
        }
    }

    fn put_policy(role: &str, name: &str) -> WireOperation {
        Operation::PutInlinePolicy {
            role: role.to_string(),
            policy_name: name.to_string(),
            document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/100% sure/*"}]}),
        }
    }

    fn tag(role: &str, pairs: &[(&str, &str)]) -> WireOperation {
        Operation::TagRole {
            role: role.to_string(),
            tags: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn code(error: &IamError) -> &str {
        match error {
            IamError::Service { code, .. } => code,
            IamError::NoSuchEntity { .. } => "NoSuchEntity",
            IamError::AlreadyExists { .. } => "EntityAlreadyExists",
            IamError::AccessDenied { .. } => "AccessDenied",
            IamError::Transport { .. } => "Transport",
        }
    }

    /// A backend holding `names` under [`PATH`], each with an inline and a managed policy.
    async fn with_roles(names: &[&str], page_size: usize) -> MemoryIam {
        let iam = MemoryIam::new().with_page_size(page_size);
        for name in names {
            iam.execute(&create(name, PATH)).await.unwrap();
            iam.execute(&put_policy(name, "fnctl-permissions"))
                .await
                .unwrap();
            iam.execute(&Operation::AttachManagedPolicy {
                role: name.to_string(),
                policy_arn: "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
            })
            .await
            .unwrap();
        }
        iam.clear_calls();
        iam
    }

    #[tokio::test]
    async fn role_names_are_unique_and_found_case_insensitively() {
        let iam = with_roles(&["Orders"], 10).await;
        let again = iam.execute(&create("ORDERS", PATH)).await.unwrap_err();
        assert_eq!(code(&again), "EntityAlreadyExists");
        let found = iam.get_role("oRdErS").await.unwrap().unwrap();
        assert_eq!(found.name, "Orders", "IAM keeps the name as created");
        iam.execute(&tag("orders", &[("k", "v")])).await.unwrap();
        assert_eq!(iam.role("ORDERS").unwrap().tags["k"], "v");
        assert_eq!(iam.get_role("missing").await.unwrap(), None);
    }

    #[tokio::test]
    async fn documents_are_kept_percent_encoded_and_read_back_decoded() {
        let iam = with_roles(&["orders"], 10).await;
        let stored = iam.trust_policy_text("orders").unwrap();
        assert!(stored.starts_with("%7B%22"), "{stored}");
        assert!(!stored.contains('{') && !stored.contains(' '));
        let read = iam.read_roles(&[PATH.to_string()]).await.unwrap();
        let role = &read.roles[0];
        assert_eq!(
            role.trust_policy,
            LiveDocument::Valid(trust("an-external-id-0123456789"))
        );
        let Operation::PutInlinePolicy { document, .. } = put_policy("orders", "p") else {
            unreachable!()
        };
        // `%` and spaces survive the round trip, as decode_document promises.
        assert_eq!(
            role.inline_policies["fnctl-permissions"],
            LiveDocument::Valid(document)
        );
        iam.set_trust_policy_text("orders", "%7Bnot json").unwrap();
        let broken = iam.get_role("orders").await.unwrap().unwrap();
        assert!(matches!(broken.trust_policy, LiveDocument::Invalid(_)));
    }

    #[tokio::test]
    async fn each_read_returns_what_its_iam_api_returns() {
        let iam = with_roles(&["inside"], 10).await;
        iam.change_by_hand(&create("outside", "/other/")).unwrap();
        iam.change_by_hand(&put_policy("outside", "p")).unwrap();
        let read = iam.read_roles(&[PATH.to_string()]).await.unwrap();
        let [inside, outside] = read.roles.as_slice() else {
            panic!("{:?}", read.roles);
        };
        // Under the role paths: GAAD completed with ListRoles.
        assert_eq!(Some(inside), iam.role("inside").as_ref());
        assert_eq!(inside.description.as_deref(), Some("role inside"));
        assert_eq!(inside.max_session_duration, Some(3600));
        // Elsewhere: GAAD only, so no description or session length.
        assert_eq!(outside.description, None);
        assert_eq!(outside.max_session_duration, None);
        assert_eq!(outside.tags["team"], "data");
        assert!(outside.inline_policies.contains_key("p"));
        // GetRole: no policies.
        let single = iam.get_role("inside").await.unwrap().unwrap();
        assert!(single.inline_policies.is_empty() && single.attached_policies.is_empty());
        assert_eq!(single.tags, inside.tags);
        assert_eq!(single.permissions_boundary, inside.permissions_boundary);
        assert_eq!(
            inside.arn,
            "arn:aws:iam::123456789012:role/segment-functions/inside"
        );
    }

    #[tokio::test]
    async fn reads_are_paged_with_markers_and_counted() {
        let names = ["a", "b", "c", "d", "e"];
        let iam = with_roles(&names, 2).await;
        let read = iam.read_roles(&[PATH.to_string()]).await.unwrap();
        let got: Vec<&str> = read.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(got, names);
        assert!(read.roles.iter().all(|r| r.description.is_some()));
        // Three GAAD pages and three ListRoles pages of 2, 2 and 1.
        assert_eq!(read.read_calls, 6);
        assert_eq!(iam.count("GetAccountAuthorizationDetails"), 3);
        assert_eq!(iam.count("ListRoles"), 3);
        // Nested paths are listed once, under their common prefix.
        iam.clear_calls();
        let nested = [PATH.to_string(), format!("{PATH}eu/")];
        assert_eq!(iam.read_roles(&nested).await.unwrap().read_calls, 6);
    }

    #[tokio::test]
    async fn a_denied_gaad_falls_back_to_per_role_reads_with_the_same_result() {
        let iam = with_roles(&["a", "b"], 1).await;
        iam.change_by_hand(&create("outside", "/other/")).unwrap();
        let paths = [PATH.to_string()];
        let complete = iam.read_roles(&paths).await.unwrap();
        iam.clear_calls();
        iam.fail(Fault::new(
            "GetAccountAuthorizationDetails",
            IamError::AccessDenied {
                api: "GetAccountAuthorizationDetails",
                message: "not allowed".into(),
            },
        ));
        let fallback = iam.read_roles(&paths).await.unwrap();
        assert_eq!(fallback.roles[..2], complete.roles[..2]);
        // Outside the paths ListRoles is all there is: no tags.
        assert!(fallback.roles[2].tags.is_empty());
        // 1 denied GAAD + 2 ListRoles pages under the path + 3 ListRoles pages
        // of all roles + for each of the 2 roles: GetRole, ListRolePolicies,
        // GetRolePolicy, ListAttachedRolePolicies.
        assert_eq!(fallback.read_calls, 1 + 2 + 3 + 2 * 4);
        assert_eq!(iam.calls().len() as u64, fallback.read_calls);
    }

    #[tokio::test]
    async fn tags_merge_remove_and_stop_at_fifty() {
        let iam = with_roles(&["r"], 10).await;
        iam.execute(&tag("r", &[("team", "payments"), ("env", "prod")]))
            .await
            .unwrap();
        let tags = iam.role("r").unwrap().tags;
        assert_eq!(
            tags,
            BTreeMap::from([
                ("env".to_string(), "prod".to_string()),
                ("team".to_string(), "payments".to_string())
            ])
        );
        iam.execute(&Operation::UntagRole {
            role: "r".into(),
            keys: vec!["env".into(), "never-there".into()],
        })
        .await
        .unwrap();
        assert_eq!(iam.role("r").unwrap().tags.len(), 1);
        let keys: Vec<(String, String)> = (0..48).map(|i| (format!("k{i}"), "v".into())).collect();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        iam.execute(&tag("r", &pairs)).await.unwrap();
        assert_eq!(iam.role("r").unwrap().tags.len(), 49);
        let over = iam
            .execute(&tag("r", &[("one", "1"), ("two", "2")]))
            .await
            .unwrap_err();
        assert_eq!(code(&over), "LimitExceeded");
        assert_eq!(iam.role("r").unwrap().tags.len(), 49, "all or nothing");
        iam.execute(&tag("r", &[("fiftieth", "1")])).await.unwrap();
        iam.execute(&tag("r", &[("team", "replaced")]))
            .await
            .unwrap();
        assert_eq!(iam.role("r").unwrap().tags.len(), MAXIMUM_TAGS);
        let reserved = iam.execute(&tag("r", &[("aws:x", "1")])).await.unwrap_err();
        assert_eq!(code(&reserved), "InvalidInput");
    }

    #[tokio::test]
    async fn errors_are_iams() {
        let iam = with_roles(&["r"], 10).await;
        let conflict = iam
            .execute(&Operation::DeleteRole { role: "r".into() })
            .await
            .unwrap_err();
        assert_eq!(code(&conflict), "DeleteConflict");
        let missing = iam
            .execute(&Operation::DeleteInlinePolicy {
                role: "r".into(),
                policy_name: "nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(code(&missing), "NoSuchEntity");
        let not_attached = iam
            .execute(&Operation::DetachManagedPolicy {
                role: "r".into(),
                policy_arn: "arn:aws:iam::aws:policy/Other".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(code(&not_attached), "NoSuchEntity");
        let malformed = iam
            .execute(&Operation::UpdateTrustPolicy {
                role: "r".into(),
                trust_policy: crate::model::operation::SecretDocument::new("{not json"),
            })
            .await
            .unwrap_err();
        assert_eq!(code(&malformed), "MalformedPolicyDocument");
        assert!(!malformed.to_string().contains("not json"));
        let no_role = iam.execute(&tag("ghost", &[("k", "v")])).await.unwrap_err();
        assert_eq!(code(&no_role), "NoSuchEntity");
        let too_long = iam
            .execute(&Operation::UpdateRole {
                role: "r".into(),
                description: String::new(),
                max_session_duration: 60,
            })
            .await
            .unwrap_err();
        assert_eq!(code(&too_long), "ValidationError");
        // With its policies gone the role can be deleted.
        for operation in [
            Operation::DeleteInlinePolicy {
                role: "r".into(),
                policy_name: "fnctl-permissions".into(),
            },
            Operation::DetachManagedPolicy {
                role: "R".into(),
                policy_arn: "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
            },
            Operation::DeleteRole { role: "r".into() },
        ] {
            iam.execute(&operation).await.unwrap();
        }
        assert!(iam.role_names().is_empty());
        let failed: Vec<&str> = iam
            .calls()
            .iter()
            .filter(|c| c.failed)
            .map(|c| c.api)
            .collect();
        assert_eq!(
            failed,
            [
                "DeleteRole",
                "DeleteRolePolicy",
                "DetachRolePolicy",
                "UpdateAssumeRolePolicy",
                "TagRole",
                "UpdateRole"
            ]
        );
    }

    #[tokio::test]
    async fn a_fault_fails_the_nth_matching_call_once() {
        let iam = with_roles(&["a", "b"], 10).await;
        iam.fail(
            Fault::service("TagRole", "ServiceFailure")
                .for_role("B")
                .nth(2),
        );
        iam.execute(&tag("a", &[("k", "1")])).await.unwrap();
        iam.execute(&tag("b", &[("k", "1")])).await.unwrap();
        iam.execute(&tag("a", &[("k", "2")])).await.unwrap();
        let error = iam.execute(&tag("b", &[("k", "2")])).await.unwrap_err();
        assert_eq!(code(&error), "ServiceFailure");
        assert_eq!(
            iam.role("b").unwrap().tags["k"],
            "1",
            "a failed call changes nothing"
        );
        iam.execute(&tag("b", &[("k", "3")])).await.unwrap();
        assert_eq!(iam.role("b").unwrap().tags["k"], "3", "a fault fires once");
        let calls = iam.calls();
        let outcomes: Vec<(Option<&str>, bool)> = calls
            .iter()
            .map(|c| (c.role.as_deref(), c.failed))
            .collect();
        assert_eq!(
            outcomes,
            [
                (Some("a"), false),
                (Some("b"), false),
                (Some("a"), false),
                (Some("b"), true),
                (Some("b"), false)
            ]
        );
        // A lost answer: the call took effect, the caller saw an error.
        iam.fail(Fault::service("CreateRole", "RequestTimeout").after_applying());
        let lost = iam.execute(&create("c", PATH)).await.unwrap_err();
        assert_eq!(code(&lost), "RequestTimeout");
        assert!(iam.role("c").is_some());
        // Faults hit reads too, and hand changes never.
        iam.fail(Fault::service("GetRole", "Throttling"));
        iam.change_by_hand(&tag("a", &[("k", "hand")])).unwrap();
        assert!(iam.get_role("a").await.is_err());
        assert!(iam.get_role("a").await.is_ok());
    }

    #[test]
    fn debug_output_holds_no_document() {
        let iam = MemoryIam::new();
        iam.change_by_hand(&create("r", PATH)).unwrap();
        let shown = format!("{iam:?}");
        assert!(!shown.contains("an-external-id"), "{shown}");
        assert!(shown.contains("\"r\""), "{shown}");
    }
}
