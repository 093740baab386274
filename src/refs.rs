//! References to objects, typed once: `namespace/name` (a stage, a dependency) and
//! `Kind/namespace/name` (how kustomize-controller and kstatus name objects in messages). Both print
//! and parse in those forms, and serialize as those strings in JSON and YAML.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Serialize, Serializer};

/// `namespace/name` of a namespaced object; stages are identified by theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NamespacedName {
    pub namespace: String,
    pub name: String,
}

/// What runs a stage: a Flux Kustomization, or a Flux Operator ResourceSet (whose steps are a
/// pipeline of their own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum StageKind {
    #[default]
    Kustomization,
    ResourceSet,
}

impl StageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Kustomization => "Kustomization",
            StageKind::ResourceSet => "ResourceSet",
        }
    }

    /// The controller that reconciles this kind.
    pub fn controller(self) -> &'static str {
        match self {
            StageKind::Kustomization => "kustomize-controller",
            StageKind::ResourceSet => "flux-operator",
        }
    }

    /// The kind a user typed, as kubectl accepts it: kind, plural, short name, any case
    /// (`ks` is the flux CLI's short name; `rset` is the ResourceSet CRD's).
    pub fn parse_user(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "kustomization" | "kustomizations" | "ks" => Some(StageKind::Kustomization),
            "resourceset" | "resourcesets" | "rset" => Some(StageKind::ResourceSet),
            _ => None,
        }
    }
}

/// A stage: its kind, namespace and name. A Kustomization prints as `namespace/name` (the form
/// kustomize-controller uses for dependencies), a ResourceSet as `ResourceSet/namespace/name`, so
/// the two kinds never share a name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StageId {
    pub kind: StageKind,
    pub namespace: String,
    pub name: String,
}

impl StageId {
    /// A Kustomization.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        StageId { kind: StageKind::Kustomization, namespace: namespace.into(), name: name.into() }
    }

    pub fn resource_set(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        StageId { kind: StageKind::ResourceSet, namespace: namespace.into(), name: name.into() }
    }

    /// The Kustomization of this metadata.
    pub fn of(meta: &ObjectMeta) -> Self {
        StageId::new(meta.namespace_str(), meta.name_str())
    }

    pub fn names(&self) -> NamespacedName {
        NamespacedName::new(&self.namespace, &self.name)
    }

    pub fn is_resource_set(&self) -> bool {
        self.kind == StageKind::ResourceSet
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            StageKind::Kustomization => write!(f, "{}/{}", self.namespace, self.name),
            StageKind::ResourceSet => write!(f, "ResourceSet/{}/{}", self.namespace, self.name),
        }
    }
}

impl StageId {
    /// The bytes of the printed form, without building it (ids are compared often: graph maps,
    /// sorting).
    fn text_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let prefix: &[u8] = match self.kind {
            StageKind::Kustomization => b"",
            StageKind::ResourceSet => b"ResourceSet/",
        };
        prefix.iter().copied().chain(self.namespace.bytes()).chain(std::iter::once(b'/')).chain(self.name.bytes())
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

    /// `namespace/name` (a Kustomization) or `Kind/namespace/name` with a stage kind.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseRefError { text: s.to_string(), expected: "NAMESPACE/NAME or ResourceSet/NAMESPACE/NAME" };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(error());
        }
        match parts[..] {
            [ns, name] => Ok(StageId::new(ns, name)),
            [kind, ns, name] => {
                let kind = StageKind::parse_user(kind).ok_or_else(error)?;
                Ok(StageId { kind, namespace: ns.into(), name: name.into() })
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
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: impl Into<String>, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef { kind: kind.into(), namespace: namespace.into(), name: name.into() }
    }

    pub fn of(kind: &str, meta: &ObjectMeta) -> Self {
        ObjectRef::new(kind, meta.namespace_str(), meta.name_str())
    }

    pub fn stage(id: &StageId) -> Self {
        ObjectRef::new(id.kind.as_str(), &id.namespace, &id.name)
    }

    /// The stage this object is, when it is one.
    pub fn as_stage(&self) -> Option<StageId> {
        let kind = StageKind::parse_user(&self.kind).filter(|k| k.as_str() == self.kind)?;
        Some(StageId { kind, namespace: self.namespace.clone(), name: self.name.clone() })
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

impl PrintedForm for StageId {
    fn parts(&self) -> Vec<&str> {
        match self.kind {
            StageKind::Kustomization => vec![&self.namespace, &self.name],
            StageKind::ResourceSet => vec!["ResourceSet", &self.namespace, &self.name],
        }
    }
}

impl PrintedForm for ObjectRef {
    fn parts(&self) -> Vec<&str> {
        vec![&self.kind, &self.namespace, &self.name]
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
eq_text!(StageId);
eq_text!(ObjectRef);

/// The namespace and name of an object's metadata, empty when unset (hand-written fixtures).
pub trait MetaNames {
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
mod tests {
    use super::*;

    #[test]
    fn references_print_and_parse_in_flux_forms() {
        let id: NamespacedName = "shop/app-pre-deploy".parse().unwrap();
        assert_eq!(id, NamespacedName::new("shop", "app-pre-deploy"));
        assert_eq!(id.to_string(), "shop/app-pre-deploy");
        assert!("app".parse::<NamespacedName>().is_err());
        assert!("a/b/c".parse::<NamespacedName>().is_err());
        let r: ObjectRef = "Job/shop/db-migration".parse().unwrap();
        assert_eq!(r, ObjectRef::new("Job", "shop", "db-migration"));
        assert_eq!(r.to_string(), "Job/shop/db-migration");
        assert_eq!(r.short("shop"), "Job/db-migration");
        assert_eq!(r.short("other"), "Job/shop/db-migration");
        assert_eq!("Job/x".parse::<ObjectRef>().unwrap_err().to_string(), "\"Job/x\" is not Kind/NAMESPACE/NAME");
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"Job/shop/db-migration\"");
        assert!(r == "Job/shop/db-migration" && r != "Job/shop" && id == "shop/app-pre-deploy" && id != "shop/app/x");
    }

    #[test]
    fn stage_ids_name_their_kind_unless_kustomization() {
        let ks: StageId = "shop/app".parse().unwrap();
        assert_eq!(ks, StageId::new("shop", "app"));
        let rset: StageId = "rset/shop/app".parse().unwrap();
        assert_eq!(rset, StageId::resource_set("shop", "app"));
        assert_eq!(rset.to_string(), "ResourceSet/shop/app");
        assert_ne!(ks, rset);
        assert_eq!("ResourceSet/shop/app".parse::<StageId>().unwrap(), rset);
        assert!("Job/shop/app".parse::<StageId>().is_err() && "shop/".parse::<StageId>().is_err());
        assert_eq!(ObjectRef::stage(&rset).as_stage(), Some(rset.clone()));
        assert_eq!(ObjectRef::new("Job", "shop", "app").as_stage(), None);
        assert!(rset == "ResourceSet/shop/app" && ks == "shop/app");
    }

    #[test]
    fn stage_ids_order_as_their_text() {
        // '-' sorts before '/': "a-b/x" < "a/x" as text, although "a" < "a-b".
        let mut ids = [NamespacedName::new("a", "x"), NamespacedName::new("a-b", "x")];
        ids.sort();
        assert_eq!(ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(), ["a-b/x", "a/x"]);
    }
}
