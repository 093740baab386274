//! Objects of kinds no LIST covers that a stage names (an operator's custom resource in a health
//! check): which to fetch or keep, and the cause they show. kstatus reads any object by its
//! conditions (sigs.k8s.io/cli-utils pkg/kstatus/status/generic.go): Stalled=True is Failed,
//! Ready=False is InProgress; the cause says the same.

use super::index::Index;
use super::messages;
use crate::model::parse_inventory_id;
use crate::model::{READ_KINDS, Snapshot};
use crate::refs::ObjectRef;
use crate::report::{Reason, RootCause};
use crate::vocabulary::{ConditionStatus, ConditionType, KStatus};

/// At most this many such objects are fetched live per run, one GET each.
pub(crate) const MAX_FETCHED: usize = 20;

/// The objects a stage's health check names as not Current (in its Ready message, `[Kind/ns/name
/// status: '...']`) whose kind no LIST covers, each with its `group/version` when the stage's
/// inventory lists it (`ns_name_group_Kind` with its version), in stage order, once each.
pub(crate) fn named_elsewhere(snapshot: &Snapshot) -> Vec<(ObjectRef, Option<String>)> {
    let mut out: Vec<(ObjectRef, Option<String>)> = Vec::new();
    let listed = |kind: &str| READ_KINDS.iter().any(|k| k.api.kind == kind);
    for stage in snapshot.stages() {
        let inventory = stage.inventory().map(|i| i.entries.as_slice()).unwrap_or_default();
        let message = stage.condition(ConditionType::Ready).map(|c| c.message.as_str()).unwrap_or_default();
        for (object, status) in messages::health_check_refs(message) {
            if status == KStatus::Current || listed(object.kind.as_str()) || out.iter().any(|(o, _)| *o == object) {
                continue;
            }
            let version = inventory.iter().find_map(|e| {
                let (ns, name, group, kind) = parse_inventory_id(&e.id)?;
                let same = kind == object.kind.as_str() && name == object.name && ns == object.namespace;
                same.then(|| if group.is_empty() { e.v.clone() } else { format!("{group}/{}", e.v) })
            });
            out.push((object, version));
        }
    }
    out
}

/// The cause a named object shows: Stalled=True, else Ready not True, with its Warning events;
/// `None` when it was not read or shows nothing wrong.
pub(crate) fn named_object_cause(index: &Index, object: &ObjectRef, status: &KStatus) -> Option<RootCause> {
    let named = index.named_object(object)?;
    let stalled = named.condition(ConditionType::Stalled).filter(|c| c.status == ConditionStatus::True);
    let condition =
        stalled.or_else(|| named.condition(ConditionType::Ready).filter(|c| c.status != ConditionStatus::True));
    let (reason, message) = match condition {
        Some(c) => {
            let reason = if c.reason.is_empty() { c.type_.to_string() } else { c.reason.to_string() };
            (reason, format!("{} {}: {}", c.type_, c.status, c.message))
        }
        None => {
            (status.to_string(), format!("the health check reports it {status}; it has no Ready or Stalled condition"))
        }
    };
    Some(
        RootCause::new(object.clone(), Reason::from(reason.as_str()), message)
            .with_events(index.warning_events(object)),
    )
}

/// `kubectl describe` of a named object, by its resource as kubectl takes it (`kind.group`).
pub(crate) fn describe(index: &Index, object: &ObjectRef) -> String {
    let group = index
        .named_object(object)
        .and_then(|o| o.api_version.rsplit_once('/').map(|(g, _)| g.to_string()))
        .filter(|g| !g.is_empty());
    let resource = match group {
        Some(group) => format!("{}.{group}", object.kind.as_str().to_lowercase()),
        None => object.kind.as_str().to_lowercase(),
    };
    format!("kubectl describe {resource} {} -n {}", object.name, object.namespace)
}
