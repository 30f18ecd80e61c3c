//! IAM behind one handle a run can hold and share: the run context reaches
//! each account once and keeps its backend (the AWS SDK's in real runs, IAM
//! in memory in tests, nothing behind a snapshot) as a [`SharedIam`], which
//! is itself an [`IamBackend`], so the generic services (executor, leases,
//! the reads of [`super::IamReads`]) run on it unchanged.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{IamBackend, IamError, Page, Policies};
use crate::model::operation::WireOperation;
use crate::model::{LiveDocument, LiveRole};

/// [`IamBackend`] with boxed futures, so that it can stand behind a pointer.
/// Every backend is one ([`SharedIam`] is how it is held).
trait ObjectIam: Send + Sync {
    fn account_details_page(
        &self,
        marker: Option<String>,
        policies: Policies,
    ) -> BoxFuture<'_, Result<Page<LiveRole>, IamError>>;
    fn list_roles_page<'a>(
        &'a self,
        path_prefix: Option<&'a str>,
        marker: Option<String>,
    ) -> BoxFuture<'a, Result<Page<LiveRole>, IamError>>;
    fn get_role<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<LiveRole>, IamError>>;
    fn list_role_policies_page<'a>(
        &'a self,
        role: &'a str,
        marker: Option<String>,
    ) -> BoxFuture<'a, Result<Page<String>, IamError>>;
    fn get_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveDocument>, IamError>>;
    fn list_attached_role_policies_page<'a>(
        &'a self,
        role: &'a str,
        marker: Option<String>,
    ) -> BoxFuture<'a, Result<Page<String>, IamError>>;
    fn execute<'a>(&'a self, operation: &'a WireOperation) -> BoxFuture<'a, Result<(), IamError>>;
    fn read_concurrency(&self) -> usize;
    fn known_roles(&self) -> usize;
    fn saw_roles(&self, count: usize);
}

impl<T: IamBackend> ObjectIam for T {
    fn account_details_page(
        &self,
        marker: Option<String>,
        policies: Policies,
    ) -> BoxFuture<'_, Result<Page<LiveRole>, IamError>> {
        Box::pin(IamBackend::account_details_page(self, marker, policies))
    }
    fn list_roles_page<'a>(
        &'a self,
        path_prefix: Option<&'a str>,
        marker: Option<String>,
    ) -> BoxFuture<'a, Result<Page<LiveRole>, IamError>> {
        Box::pin(IamBackend::list_roles_page(self, path_prefix, marker))
    }
    fn get_role<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<LiveRole>, IamError>> {
        Box::pin(IamBackend::get_role(self, name))
    }
    fn list_role_policies_page<'a>(
        &'a self,
        role: &'a str,
        marker: Option<String>,
    ) -> BoxFuture<'a, Result<Page<String>, IamError>> {
        Box::pin(IamBackend::list_role_policies_page(self, role, marker))
    }
    fn get_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<LiveDocument>, IamError>> {
        Box::pin(IamBackend::get_role_policy(self, role, policy_name))
    }
    fn list_attached_role_policies_page<'a>(
        &'a self,
        role: &'a str,
        marker: Option<String>,
    ) -> BoxFuture<'a, Result<Page<String>, IamError>> {
        Box::pin(IamBackend::list_attached_role_policies_page(
            self, role, marker,
        ))
    }
    fn execute<'a>(&'a self, operation: &'a WireOperation) -> BoxFuture<'a, Result<(), IamError>> {
        Box::pin(IamBackend::execute(self, operation))
    }
    fn read_concurrency(&self) -> usize {
        IamBackend::read_concurrency(self)
    }
    fn known_roles(&self) -> usize {
        IamBackend::known_roles(self)
    }
    fn saw_roles(&self, count: usize) {
        IamBackend::saw_roles(self, count)
    }
}

/// One account's IAM, shared by everything a run does there (cheap to clone).
#[derive(Clone)]
pub struct SharedIam(Arc<dyn ObjectIam>);

impl SharedIam {
    /// Holds `backend`.
    pub(crate) fn new<T: IamBackend + 'static>(backend: T) -> Self {
        SharedIam(Arc::new(backend))
    }

    /// Holds a backend the caller keeps a handle on too (tests inspect it).
    #[cfg(test)]
    pub(crate) fn from_arc<T: IamBackend + 'static>(backend: Arc<T>) -> Self {
        SharedIam(backend)
    }
}

impl std::fmt::Debug for SharedIam {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SharedIam")
    }
}

impl IamBackend for SharedIam {
    async fn account_details_page(
        &self,
        marker: Option<String>,
        policies: Policies,
    ) -> Result<Page<LiveRole>, IamError> {
        self.0.account_details_page(marker, policies).await
    }

    async fn list_roles_page(
        &self,
        path_prefix: Option<&str>,
        marker: Option<String>,
    ) -> Result<Page<LiveRole>, IamError> {
        self.0.list_roles_page(path_prefix, marker).await
    }

    async fn get_role(&self, name: &str) -> Result<Option<LiveRole>, IamError> {
        self.0.get_role(name).await
    }

    async fn list_role_policies_page(
        &self,
        role: &str,
        marker: Option<String>,
    ) -> Result<Page<String>, IamError> {
        self.0.list_role_policies_page(role, marker).await
    }

    async fn get_role_policy(
        &self,
        role: &str,
        policy_name: &str,
    ) -> Result<Option<LiveDocument>, IamError> {
        self.0.get_role_policy(role, policy_name).await
    }

    async fn list_attached_role_policies_page(
        &self,
        role: &str,
        marker: Option<String>,
    ) -> Result<Page<String>, IamError> {
        self.0.list_attached_role_policies_page(role, marker).await
    }

    async fn execute(&self, operation: &WireOperation) -> Result<(), IamError> {
        self.0.execute(operation).await
    }

    fn read_concurrency(&self) -> usize {
        self.0.read_concurrency()
    }

    fn known_roles(&self) -> usize {
        self.0.known_roles()
    }

    fn saw_roles(&self, count: usize) {
        self.0.saw_roles(count)
    }
}
