//! References to objects, typed once: `namespace/name` (a stage, a dependency) and
//! `Kind/namespace/name` (how kustomize-controller and kstatus name objects in messages). Both print
//! and parse in those forms, and serialize as those strings in JSON and YAML.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::vocabulary::Kind;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Serialize, Serializer};

/// `namespace/name` of a namespaced object; stages are identified by theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NamespacedName {
    pub namespace: String,
    pub name: String,
}

/// Where a kind is served: what every request, permission check and error message names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ApiKind {
    pub kind: &'static str,
    /// The API group; `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// The resource name as served (the CRD's plural, not always the kind plus "s").
    pub plural: &'static str,
}

impl ApiKind {
    /// `plural.group` (or `plural` in the core group), as kubectl and RBAC errors name resources.
    pub fn resource(&self) -> String {
        if self.group.is_empty() { self.plural.to_string() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `group/version` (or `version` in the core group).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

/// What runs a stage: a Flux Kustomization, or a Flux Operator ResourceSet (whose steps are a
/// pipeline of their own). Everything that differs between the kinds' API and tooling lives in
/// [`StageKind::info`], the one table of stage kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
pub enum StageKind {
    #[default]
    Kustomization,
    ResourceSet,
    HelmRelease,
}

/// A controller that reconciles stages, named as its Deployment in flux-system is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Controller {
    Kustomize,
    Helm,
    FluxOperator,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Kustomize => "kustomize-controller",
            Controller::Helm => "helm-controller",
            Controller::FluxOperator => "flux-operator",
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of the stage kind table.
#[derive(Debug)]
pub struct StageKindInfo {
    pub api: ApiKind,
    /// Short names a user may type (`ks` is the flux CLI's; `rset` is the ResourceSet CRD's); the
    /// first is the one the plugin prints in targets (`ks/NAME`).
    pub short_names: &'static [&'static str],
    /// The controller that reconciles this kind.
    pub controller: Controller,
    /// The labels its controller stamps on every object it applies, naming the stage: (name,
    /// namespace) (fluxcd/pkg ssa `SetOwnerLabels`, with each controller's group).
    pub owner_labels: (&'static str, &'static str),
    /// How a user resumes a suspended stage (`{name}` and `{namespace}` filled in).
    pub resume: &'static str,
    /// How long its controller waits before it checks dependencies that were not ready again
    /// (`--requeue-dependency`, the controller's default).
    pub requeue_dependency: &'static str,
    /// Whether the kind's ids print without their kind (`namespace/name`): the form
    /// kustomize-controller uses for dependencies, kept for the kind that came first.
    pub bare_id: bool,
}

const KUSTOMIZATION: StageKindInfo = StageKindInfo {
    api: ApiKind {
        kind: "Kustomization",
        group: "kustomize.toolkit.fluxcd.io",
        version: "v1",
        plural: "kustomizations",
    },
    short_names: &["ks"],
    controller: Controller::Kustomize,
    owner_labels: ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"),
    resume: "flux resume kustomization {name} -n {namespace}",
    // fluxcd/kustomize-controller main.go.
    requeue_dependency: "30s",
    bare_id: true,
};

/// github.com/controlplaneio-fluxcd/flux-operator config/crd/bases/fluxcd.controlplane.io_resourcesets.yaml.
const RESOURCE_SET: StageKindInfo = StageKindInfo {
    api: ApiKind { kind: "ResourceSet", group: "fluxcd.controlplane.io", version: "v1", plural: "resourcesets" },
    short_names: &["rset"],
    controller: Controller::FluxOperator,
    // flux-operator api/v1 common_types.go: the group `resourceset.fluxcd.controlplane.io`.
    owner_labels: ("resourceset.fluxcd.controlplane.io/name", "resourceset.fluxcd.controlplane.io/namespace"),
    // `fluxcd.controlplane.io/reconcile: disabled` pauses it (IsDisabled in api/v1 resourceset_types.go).
    resume: "kubectl annotate resourceset {name} -n {namespace} fluxcd.controlplane.io/reconcile-",
    // github.com/controlplaneio-fluxcd/flux-operator cmd/operator/main.go.
    requeue_dependency: "5s",
    bare_id: false,
};

/// github.com/fluxcd/helm-controller config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml (v1.6.3).
const HELM_RELEASE: StageKindInfo = StageKindInfo {
    api: ApiKind { kind: "HelmRelease", group: "helm.toolkit.fluxcd.io", version: "v2", plural: "helmreleases" },
    short_names: &["hr"],
    controller: Controller::Helm,
    // helm-controller labels the objects of a release, hook Jobs included, with the HelmRelease
    // (internal/postrender/common_renderer.go OriginLabels: `helm.toolkit.fluxcd.io/name|namespace`).
    owner_labels: ("helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace"),
    resume: "flux resume helmrelease {name} -n {namespace}",
    // fluxcd/helm-controller main.go.
    requeue_dependency: "30s",
    bare_id: false,
};

impl StageKind {
    /// Every stage kind, in the order stages of different kinds are listed.
    pub const ALL: [StageKind; 3] = [StageKind::Kustomization, StageKind::ResourceSet, StageKind::HelmRelease];

    /// This kind's row of the table.
    pub const fn info(self) -> &'static StageKindInfo {
        match self {
            StageKind::Kustomization => &KUSTOMIZATION,
            StageKind::ResourceSet => &RESOURCE_SET,
            StageKind::HelmRelease => &HELM_RELEASE,
        }
    }

    pub const fn api(self) -> &'static ApiKind {
        &self.info().api
    }

    pub fn as_str(self) -> &'static str {
        self.api().kind
    }

    /// The controller that reconciles this kind.
    pub fn controller(self) -> Controller {
        self.info().controller
    }

    /// The command that resumes a suspended stage of this kind.
    pub fn resume_command(self, name: &str, namespace: &str) -> String {
        self.info().resume.replace("{name}", name).replace("{namespace}", namespace)
    }

    /// The short name targets are printed with (`ks/NAME`, `rset/NAME`).
    pub fn short_name(self) -> &'static str {
        self.info().short_names[0]
    }

    /// The kind a user typed, as kubectl accepts it: kind, plural, short name, `plural.group` or
    /// `kind.group`, any case.
    pub fn parse_user(text: &str) -> Option<Self> {
        let text = text.to_ascii_lowercase();
        StageKind::ALL.into_iter().find(|kind| {
            let info = kind.info();
            let (kind_name, plural) = (info.api.kind.to_ascii_lowercase(), info.api.plural);
            let qualified =
                |name: &str| text.strip_suffix(info.api.group).and_then(|t| t.strip_suffix('.')) == Some(name);
            text == kind_name
                || text == plural
                || info.short_names.contains(&text.as_str())
                || qualified(plural)
                || qualified(&kind_name)
        })
    }
}

/// A stage: its kind, namespace and name, and the cluster it was read from when output spans
/// several. A Kustomization prints as `namespace/name` (the form kustomize-controller uses for
/// dependencies), any other kind as `Kind/namespace/name`, so kinds never share an id; a context
/// follows as `@context` (namespaces, names and kinds never contain `@`, context names may contain
/// anything, EKS ARNs `:` and `/` included).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StageId {
    pub kind: StageKind,
    pub namespace: String,
    pub name: String,
    /// The kubeconfig context; `None` for the one cluster of a single-context run.
    pub context: Option<Arc<str>>,
}

impl StageId {
    pub fn new(kind: StageKind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        StageId { kind, namespace: namespace.into(), name: name.into(), context: None }
    }

    pub fn kustomization(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        StageId::new(StageKind::Kustomization, namespace, name)
    }

    pub fn resource_set(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        StageId::new(StageKind::ResourceSet, namespace, name)
    }

    /// The stage of this kind and metadata.
    pub fn of(kind: StageKind, meta: &ObjectMeta) -> Self {
        StageId::new(kind, meta.namespace_str(), meta.name_str())
    }

    /// The same stage, in a named cluster context.
    pub fn in_context(self, context: Arc<str>) -> Self {
        StageId { context: Some(context), ..self }
    }

    pub fn names(&self) -> NamespacedName {
        NamespacedName::new(&self.namespace, &self.name)
    }

    /// How the commands take it as a target beside `-n NAMESPACE`: `NAME` for the kind whose ids
    /// are bare, else `short/NAME` (`rset/app`).
    pub fn target(&self) -> String {
        if self.kind.info().bare_id { self.name.clone() } else { format!("{}/{}", self.kind.short_name(), self.name) }
    }

    /// How tables name it where `home` is the namespace shown: without the namespace there, and
    /// never with its context (a table says it in a column of its own).
    pub fn label(&self, home: &str) -> String {
        match (self.namespace == home, self.kind.info().bare_id) {
            (true, true) => self.name.clone(),
            (true, false) => format!("{}/{}", self.kind.as_str(), self.name),
            (false, _) => StageId { context: None, ..self.clone() }.to_string(),
        }
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.kind.info().bare_id {
            write!(f, "{}/", self.kind.as_str())?;
        }
        write!(f, "{}/{}", self.namespace, self.name)?;
        match &self.context {
            Some(context) => write!(f, "@{context}"),
            None => Ok(()),
        }
    }
}

impl StageId {
    /// The bytes of the printed form, without building it (ids are compared often: graph maps,
    /// sorting).
    fn text_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let prefix: &[u8] = if self.kind.info().bare_id { b"" } else { self.kind.as_str().as_bytes() };
        let slash: &[u8] = if prefix.is_empty() { b"" } else { b"/" };
        let context = self.context.as_deref().map(|c| std::iter::once(b'@').chain(c.bytes()));
        prefix
            .iter()
            .chain(slash)
            .copied()
            .chain(self.namespace.bytes())
            .chain(std::iter::once(b'/'))
            .chain(self.name.bytes())
            .chain(context.into_iter().flatten())
    }
}

/// Ordered as the printed text is.
impl Ord for StageId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text_bytes().cmp(other.text_bytes())
    }
}

impl PartialOrd for StageId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for StageId {
    type Err = ParseRefError;

    /// `namespace/name` (a Kustomization) or `Kind/namespace/name` with a stage kind, either
    /// followed by `@context`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseRefError { text: s.to_string(), expected: "NAMESPACE/NAME or Kind/NAMESPACE/NAME" };
        let (id, context) = match s.split_once('@') {
            Some((_, "")) => return Err(error()),
            Some((id, context)) => (id, Some(Arc::from(context))),
            None => (s, None),
        };
        let parts: Vec<&str> = id.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(error());
        }
        match parts[..] {
            [ns, name] => Ok(StageId { context, ..StageId::kustomization(ns, name) }),
            [kind, ns, name] => {
                let kind = StageKind::parse_user(kind).ok_or_else(error)?;
                Ok(StageId { context, ..StageId::new(kind, ns, name) })
            }
            _ => Err(error()),
        }
    }
}

impl Serialize for StageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl NamespacedName {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        NamespacedName { namespace: namespace.into(), name: name.into() }
    }

    pub fn of(meta: &ObjectMeta) -> Self {
        NamespacedName::new(meta.namespace_str(), meta.name_str())
    }

    /// The bytes of `namespace/name`, for ordering exactly as the printed form orders.
    fn text_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.namespace.bytes().chain(std::iter::once(b'/')).chain(self.name.bytes())
    }
}

impl fmt::Display for NamespacedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Ordered as the `namespace/name` text is, so lists sort the same as the strings they print.
impl Ord for NamespacedName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text_bytes().cmp(other.text_bytes())
    }
}

impl PartialOrd for NamespacedName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {expected}")]
pub struct ParseRefError {
    text: String,
    expected: &'static str,
}

impl FromStr for NamespacedName {
    type Err = ParseRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(NamespacedName::new(ns, name))
            }
            _ => Err(ParseRefError { text: s.to_string(), expected: "NAMESPACE/NAME" }),
        }
    }
}

impl Serialize for NamespacedName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `Kind/namespace/name`, as in `health check failed ...: [Job/shop/db-migration status: 'Failed']`
/// (fluxcd/pkg ssa/utils `FmtObjMetadata`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: impl Into<Kind>, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef { kind: kind.into(), namespace: namespace.into(), name: name.into() }
    }

    pub fn of(kind: impl Into<Kind>, meta: &ObjectMeta) -> Self {
        ObjectRef::new(kind, meta.namespace_str(), meta.name_str())
    }

    pub fn stage(id: &StageId) -> Self {
        ObjectRef::new(id.kind.as_str(), &id.namespace, &id.name)
    }

    /// The stage this object is, when it is one.
    pub fn as_stage(&self) -> Option<StageId> {
        let kind = StageKind::parse_user(self.kind.as_str()).filter(|k| k.as_str() == self.kind.as_str())?;
        Some(StageId::new(kind, &self.namespace, &self.name))
    }

    pub fn id(&self) -> NamespacedName {
        NamespacedName::new(&self.namespace, &self.name)
    }

    /// `Kind/name` when the object is in `home`, else `Kind/namespace/name`.
    pub fn short(&self, home: &str) -> String {
        if self.namespace == home { format!("{}/{}", self.kind, self.name) } else { self.to_string() }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

impl FromStr for ObjectRef {
    type Err = ParseRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(kind), Some(ns), Some(name)) if !kind.is_empty() && !name.is_empty() => {
                Ok(ObjectRef::new(kind, ns, name))
            }
            _ => Err(ParseRefError { text: s.to_string(), expected: "Kind/NAMESPACE/NAME" }),
        }
    }
}

impl Serialize for ObjectRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// References compare equal to their printed form (`"shop/app" == NamespacedName::new("shop", "app")`).
trait PrintedForm {
    /// The parts between the slashes, in order.
    fn parts(&self) -> Vec<&str>;
}

impl PrintedForm for NamespacedName {
    fn parts(&self) -> Vec<&str> {
        vec![&self.namespace, &self.name]
    }
}

impl PrintedForm for ObjectRef {
    fn parts(&self) -> Vec<&str> {
        vec![self.kind.as_str(), &self.namespace, &self.name]
    }
}

fn is_printed_as(reference: &impl PrintedForm, text: &str) -> bool {
    let parts = reference.parts();
    text.splitn(parts.len(), '/').eq(parts)
}

macro_rules! eq_text {
    ($type:ty) => {
        impl PartialEq<&str> for $type {
            fn eq(&self, text: &&str) -> bool {
                is_printed_as(self, text)
            }
        }
        impl PartialEq<String> for $type {
            fn eq(&self, text: &String) -> bool {
                is_printed_as(self, text)
            }
        }
    };
}
eq_text!(NamespacedName);
eq_text!(ObjectRef);

impl PartialEq<&str> for StageId {
    fn eq(&self, text: &&str) -> bool {
        self.text_bytes().eq(text.bytes())
    }
}

impl PartialEq<String> for StageId {
    fn eq(&self, text: &String) -> bool {
        self.text_bytes().eq(text.bytes())
    }
}

/// The namespace and name of an object's metadata, empty when unset (hand-written fixtures).
pub(crate) trait MetaNames {
    fn namespace_str(&self) -> &str;
    fn name_str(&self) -> &str;
}

impl MetaNames for ObjectMeta {
    fn namespace_str(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
    fn name_str(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
#[path = "refs_tests.rs"]
mod tests;

crate::schema::text_schema!(StageId, "a stage: Kind/namespace/name, or namespace/name for a Kustomization");
crate::schema::text_schema!(ObjectRef, "an object: Kind/namespace/name");
crate::schema::text_schema!(NamespacedName, "namespace/name");
