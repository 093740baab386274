//! The failure catalog: one row per way the kubelet, the container runtime, the scheduler, the Job,
//! ReplicaSet and Deployment controllers and admission say that a pod, a Job or a rollout failed,
//! with the message variants that change the fix. Each row names the component's source it was
//! read from, what we print, and the fix with the field to change; [`hint`] picks the rows of a
//! root cause, so a new failure mode is one row here (and its fixture comes from its example).
//! README's catalog table is [`markdown`] of this table (checked by a test).

mod row;
mod rows;

pub(crate) use row::{Owner, Row, Then};
pub(crate) use rows::CATALOG;

use crate::report::{Failure, RootCause};
use crate::vocabulary::Kind;

/// What a root cause's evidence says, for matching rows.
pub(crate) struct Observed<'a> {
    pub(crate) reason: &'a str,
    /// The message and the events, where the variants are looked for.
    pub(crate) text: String,
    pub(crate) owner: Owner,
}

impl<'a> Observed<'a> {
    pub(crate) fn of(cause: &'a RootCause) -> Self {
        let owner_kind = cause.via.first().map(|v| &v.kind).unwrap_or(&cause.kind);
        let owner = match owner_kind {
            Kind::Job => Owner::Job,
            Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet => Owner::Rollout,
            _ => Owner::Any,
        };
        let mut text = cause.message.clone();
        for event in &cause.events {
            text.push('\n');
            text.push_str(event);
        }
        Observed { reason: cause.reason.as_str(), text, owner }
    }
}

/// The rows that describe what was observed: every row with a variant found in the text, else the
/// first row without variants; none when the catalog does not know the reason.
pub(crate) fn rows(observed: &Observed) -> Vec<&'static Row> {
    let candidates =
        CATALOG.iter().filter(|r| r.reason == observed.reason && (r.owner == Owner::Any || r.owner == observed.owner));
    let specific: Vec<&Row> =
        candidates.clone().filter(|r| r.variants.iter().any(|v| observed.text.contains(v))).collect();
    if !specific.is_empty() {
        return specific;
    }
    // The kubelet's back-off after failed pulls says only `Back-off pulling image`; the pull's own
    // error is in its `Failed` events, which the pull rows read.
    if observed.reason == "ImagePullBackOff" {
        let pulled = Observed { reason: "ErrImagePull", text: observed.text.clone(), owner: observed.owner };
        let specific: Vec<&Row> = rows(&pulled).into_iter().filter(|r| !r.variants.is_empty()).collect();
        if !specific.is_empty() {
            return specific;
        }
    }
    candidates.filter(|r| r.variants.is_empty()).take(1).collect()
}

/// The cause with the catalog rows that describe it.
pub(crate) fn with_failures(mut cause: RootCause) -> RootCause {
    cause.failures = rows(&Observed::of(&cause)).into_iter().map(|r| Failure { id: r.id, what: r.name }).collect();
    cause
}

/// The names a fix is filled in with.
pub(crate) struct Names<'a> {
    pub(crate) container: &'a str,
    pub(crate) pod: &'a str,
    pub(crate) namespace: &'a str,
    /// `job/NAME`, `deployment/NAME`; empty without an owner.
    pub(crate) owner: String,
    /// The pod spec's path in the owner's manifest.
    pub(crate) spec: &'static str,
    /// Whether a Job owns the pod (its backoffLimit counts failures a podFailurePolicy can ignore).
    pub(crate) of_job: bool,
}

/// What keeps a disruption from failing a Job (kubernetes pkg/controller/job/pod_failure_policy.go).
const DISRUPTION_IGNORED: &str = "; a podFailurePolicy rule (action: Ignore, onPodConditions: [{type: DisruptionTarget}]) keeps it from counting against backoffLimit";

impl Row {
    pub(crate) fn fix(&self, names: &Names) -> String {
        self.fix
            .replace("{container}", names.container)
            .replace("{pod}", names.pod)
            .replace("{ns}", names.namespace)
            .replace("{owner}", &names.owner)
            .replace("{spec}", names.spec)
            .replace("{disruption}", if names.of_job { DISRUPTION_IGNORED } else { "" })
    }
}

/// The hint of a root cause from its rows: their fixes, then what makes it go on. `recreate` is
/// what recreates the pod once its template is fixed (a rerun of the Job, or the next apply of a
/// rollout). `None` when no row knows the reason.
pub(crate) fn hint(cause: &RootCause, recreate: &str) -> Option<String> {
    let observed = Observed::of(cause);
    let rows = rows(&observed);
    let first = rows.first()?;
    let owner = cause.via.first().cloned().or_else(|| Some(cause.object()).filter(|o| o.kind != Kind::Pod));
    let names = Names {
        container: cause.container.as_deref().unwrap_or("(the container)"),
        pod: &cause.name,
        namespace: &cause.namespace,
        owner: owner.as_ref().map(|o| format!("{}/{}", o.kind.as_str().to_lowercase(), o.name)).unwrap_or_default(),
        spec: if owner.is_some() { "spec.template.spec" } else { "spec" },
        of_job: owner.as_ref().is_some_and(|o| o.kind == Kind::Job),
    };
    let mut fixes: Vec<String> = Vec::new();
    for row in &rows {
        let fix = row.fix(&names);
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    let fix = fixes.join("; ");
    Some(match first.then {
        Then::Recreate => format!("{fix}, then {recreate}"),
        Then::Retries(retries) => format!("{fix}; {retries}"),
        Then::Done => fix,
    })
}

/// README's catalog table (written and checked by a test).
#[cfg(test)]
pub(crate) fn markdown() -> String {
    let mut out = String::from(
        "| component | where | reason | message contains | on | what it is | the fix (then: recreate / retries) | read from |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in CATALOG {
        let variants = if row.variants.is_empty() {
            "(any other)".to_string()
        } else {
            row.variants.iter().map(|v| format!("`{}`", v.trim())).collect::<Vec<_>>().join(", ")
        };
        let owner = match row.owner {
            Owner::Any => "any",
            Owner::Job => "Job",
            Owner::Rollout => "Deployment, StatefulSet, DaemonSet",
        };
        let then = match row.then {
            Then::Recreate => " (then: recreate)".to_string(),
            Then::Retries(r) => format!(" ({r})"),
            Then::Done => String::new(),
        };
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} | {} | {}{} | {} |\n",
            row.component.as_str(),
            row.said.as_str(),
            row.reason,
            variants.replace('|', "\\|"),
            owner,
            row.name,
            row.fix.replace('|', "\\|"),
            then,
            row.source
        ));
    }
    out
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
