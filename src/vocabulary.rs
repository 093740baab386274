//! The words the API server and the controllers write that rules decide on, parsed once where the
//! text enters (a condition's type, status and reason, an object's kind) into enums, so a rule
//! matches on a variant and a misspelt name does not compile. A word no rule knows is kept as
//! written (`Other`) and prints, serializes and sorts exactly as the text it came from.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One vocabulary: its variants are the words, spelt as the upstream source writes them.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $vis:vis $name:ident { $($(#[$variant_meta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)+
            /// A word no rule decides on, as written (empty when the field was missing).
            Other(String),
        }

        impl $name {
            $vis fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                    $name::Other(word) => word,
                }
            }
        }

        impl From<&str> for $name {
            fn from(word: &str) -> Self {
                match word {
                    $(stringify!($variant) => $name::$variant,)+
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl From<String> for $name {
            fn from(word: String) -> Self {
                match $name::from(word.as_str()) {
                    $name::Other(_) => $name::Other(word),
                    known => known,
                }
            }
        }

        impl From<&String> for $name {
            fn from(word: &String) -> Self {
                $name::from(word.as_str())
            }
        }

        impl From<&$name> for $name {
            fn from(word: &$name) -> Self {
                word.clone()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::Other(String::new())
            }
        }

        /// In the order of the words, as the text sorted before it was parsed.
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        crate::schema::text_schema!($name, "as Kubernetes or Flux writes it");

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map($name::from)
            }
        }
    };
}

vocabulary! {
    /// `status` of a condition (k8s.io/apimachinery pkg/apis/meta/v1 types.go `ConditionStatus`).
    pub ConditionStatus { True, False, Unknown }
}

vocabulary! {
    /// `type` of a condition: Flux's (fluxcd/pkg apis/meta conditions.go; helm-controller api/v2
    /// condition_types.go) and the core controllers' (k8s.io/api batch/v1, apps/v1, core/v1 types.go).
    pub ConditionType {
        Ready,
        Reconciling,
        Stalled,
        Healthy,
        Released,
        TestSuccess,
        Remediated,
        // Job
        Complete,
        Failed,
        FailureTarget,
        Suspended,
        // Deployment
        Available,
        Progressing,
        ReplicaFailure,
        // Pod
        PodScheduled,
        DisruptionTarget,
    }
}

vocabulary! {
    /// `reason` of a Flux condition that a rule decides on (fluxcd/pkg apis/meta conditions.go;
    /// kustomize-controller api/v1 condition_types.go; helm-controller api/v2 condition_types.go;
    /// flux-operator api/v1 common_types.go).
    pub ConditionReason {
        ReconciliationSucceeded,
        ReconciliationFailed,
        Progressing,
        ProgressingWithRetry,
        DependencyNotReady,
        HealthCheckFailed,
        HealthCheckCanceled,
        ArtifactFailed,
        BuildFailed,
        /// helm-controller's Ready reason while the chart source is not ready (a literal in
        /// internal/controller/helmrelease_controller.go).
        SourceNotReady,
        InstallFailed,
        UpgradeFailed,
        TestFailed,
        RetriesExceeded,
        UninstallSucceeded,
        AuthenticationFailed,
        AccessDenied,
        InvalidCELExpression,
    }
}

vocabulary! {
    /// The kind of an object a rule looks at: what a health check, an inventory, an owner reference
    /// or a source reference names.
    pub Kind {
        Pod,
        Job,
        Deployment,
        ReplicaSet,
        StatefulSet,
        DaemonSet,
        Kustomization,
        ResourceSet,
        HelmRelease,
        GitRepository,
        OCIRepository,
        Bucket,
        ExternalArtifact,
        HelmChart,
        HelmRepository,
        ResourceSetInputProvider,
    }
}

vocabulary! {
    /// What kstatus computes of an object, as a health check or Helm's wait names it
    /// (github.com/fluxcd/cli-utils pkg/kstatus/status/status.go `Status`).
    pub(crate) KStatus { InProgress, Failed, Current, Terminating, NotFound, Unknown }
}

vocabulary! {
    /// `status.phase` of a Pod (k8s.io/api core/v1 types.go `PodPhase`); a pod without status is
    /// `Unknown`.
    pub(crate) PodPhase { Pending, Running, Succeeded, Failed, Unknown }
}

impl PodPhase {
    pub(crate) fn of(pod: &k8s_openapi::api::core::v1::Pod) -> PodPhase {
        pod.status.as_ref().and_then(|s| s.phase.as_deref()).map_or(PodPhase::Unknown, PodPhase::from)
    }
}

impl ConditionReason {
    /// Whether the condition had no reason.
    pub(crate) fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

impl ConditionStatus {
    pub(crate) fn is_true(&self) -> bool {
        *self == ConditionStatus::True
    }
}

/// The conditions the core controllers write, read as typed words (the k8s-openapi structs keep
/// them as text).
pub(crate) trait KubeCondition {
    fn kind(&self) -> ConditionType;
    fn state(&self) -> ConditionStatus;
    fn is(&self, kind: ConditionType, state: ConditionStatus) -> bool {
        self.kind() == kind && self.state() == state
    }
}

macro_rules! kube_condition {
    ($($type:ty),+) => {$(
        impl KubeCondition for $type {
            fn kind(&self) -> ConditionType {
                ConditionType::from(self.type_.as_str())
            }
            fn state(&self) -> ConditionStatus {
                ConditionStatus::from(self.status.as_str())
            }
        }
    )+};
}

kube_condition!(
    k8s_openapi::api::core::v1::PodCondition,
    k8s_openapi::api::batch::v1::JobCondition,
    k8s_openapi::api::apps::v1::DeploymentCondition
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_to_variants_and_unknown_ones_are_kept_as_written() {
        assert_eq!(Kind::from("Job"), Kind::Job);
        assert_eq!(Kind::from("Certificate"), Kind::Other("Certificate".into()));
        assert_eq!(Kind::from("Certificate").as_str(), "Certificate");
        assert_eq!(ConditionReason::from(String::from("HealthCheckFailed")), ConditionReason::HealthCheckFailed);
        assert!(ConditionReason::default().is_empty());
        let json: Vec<ConditionStatus> = serde_json::from_str(r#"["True","Maybe"]"#).unwrap();
        assert_eq!(json, [ConditionStatus::True, ConditionStatus::Other("Maybe".into())]);
        assert_eq!(serde_json::to_string(&json).unwrap(), r#"["True","Maybe"]"#);
    }

    #[test]
    fn words_sort_as_their_text() {
        let mut kinds = [Kind::Pod, Kind::from("Certificate"), Kind::Job, Kind::Deployment];
        kinds.sort();
        assert_eq!(kinds.map(|k| k.to_string()), ["Certificate", "Deployment", "Job", "Pod"]);
    }
}
