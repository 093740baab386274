//! `wait`'s verdict: whether every stage of a report has rolled out a revision (Done), one of
//! them failed at it (Failed), or the rollout is still under way (Waiting). One pure function of
//! a report and the target, shared by the live wait and `wait --snapshot`.
//!
//! What "at a revision" means follows what the controllers write, measured on the real
//! kustomize-controller: `status.lastAttemptedRevision` moves to the new revision milliseconds
//! after the source's artifact, before the apply, and `lastAppliedRevision` with Ready=True only
//! once the health check passed (fluxcd/kustomize-controller internal/controller/
//! kustomization_controller.go `reconcile`, `finalizeStatus`); dependents keep both at the old
//! revision, Ready=False DependencyNotReady, until their own re-check. So a stage Ready at an older
//! revision is waited on, never taken for success, and a stage that failed at an older revision is
//! waited on, never taken for the new revision's failure. A HelmRelease attempts a chart version
//! (`lastAttemptedRevision`, helm-controller api/v2 helmrelease_types.go). A ResourceSet takes a
//! revision up in its input provider's inputs: it is at the provider's revision once it reconciled
//! after the provider exported it (the engine's `attemptedRevision`); without a provider it is
//! judged by its own Ready.

pub(crate) mod revision;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::refs::{ObjectRef, StageId, StageKind};
use crate::report::{JobState, Reason, Report, StageReport, StageState};
use revision::{Revision, digest_of, version_of};

/// What `wait` decides, for a stage and for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) enum Outcome {
    Done,
    Failed,
    Waiting,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "Done",
            Outcome::Failed => "Failed",
            Outcome::Waiting => "Waiting",
        }
    }
}

/// What is waited for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Target {
    /// `--revision`; without it, the revision each stage's source has now.
    pub revision: Option<Revision>,
    /// How long a pod of the revision may fail in a way that needs a fix (an image that cannot be
    /// pulled, a missing Secret, no node that fits) before that is the revision's failure.
    pub grace: Duration,
}

/// One stage's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageVerdict {
    pub stage: StageId,
    pub outcome: Outcome,
    /// The revision it is judged at: its source's artifact revision (the target's when that source
    /// has it), none for a stage without a source.
    pub revision: Option<String>,
    /// Why, in words: what it waits for, or what failed.
    pub why: String,
    /// How long after the wait began it was first seen done (a live wait).
    #[serde(rename = "doneAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub done_after: Option<f64>,
}

/// The verdict on every stage of a report.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Verdict {
    pub outcome: Outcome,
    pub stages: Vec<StageVerdict>,
}

/// How a wait ended, and its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(crate) enum Ending {
    Done,
    Failed,
    /// `--timeout` passed first.
    TimedOut,
    /// Judged once (a dump, or `--once`), not done at the time it was read.
    NotDoneYet,
    /// No stage matched the namespace, the stage or the selector.
    NothingInScope,
}

impl Ending {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Ending::Done => "Done",
            Ending::Failed => "Failed",
            Ending::TimedOut => "TimedOut",
            Ending::NotDoneYet => "NotDoneYet",
            Ending::NothingInScope => "NothingInScope",
        }
    }

    /// README's exit-status table: 3 as `status --exit-code` for a failure, 4 for nothing to
    /// check, 5 for not done in time.
    pub(crate) fn exit_status(self) -> u8 {
        match self {
            Ending::Done => 0,
            Ending::Failed => 3,
            Ending::NothingInScope => 4,
            Ending::TimedOut | Ending::NotDoneYet => 5,
        }
    }
}

/// What `wait` prints on stdout: how it ended, each stage's verdict, and the status report of the
/// last picture (root causes, events and log tails of what failed).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WaitReport {
    pub ending: Ending,
    /// `--revision` as given; null for each source's own.
    pub revision: Option<String>,
    /// How long the wait took (a live wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_seconds: Option<f64>,
    pub stages: Vec<StageVerdict>,
    pub report: Report,
}

/// Waiting reasons of pods that do not go away without a fix; past the grace they fail the wait
/// (the kubelet and scheduler retry them for ever: see the catalog's rows).
const NEEDS_A_FIX: [&str; 6] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "Unschedulable",
];

/// Judges every stage of `report` against `target`, at `now`.
pub(crate) fn judge(report: &Report, target: &Target, now: Timestamp) -> Verdict {
    // The sources that have the target revision: their stages must be at it. Without one, the
    // revision has not reached any source in scope yet.
    let at_target: BTreeSet<(Option<&str>, ObjectRef)> = report
        .stages
        .iter()
        .filter(|s| match (&target.revision, &s.source_revision) {
            (Some(rev), Some(artifact)) => rev.matches(artifact) || s.source_inputs.iter().any(|v| rev.is_named_by(v)),
            _ => false,
        })
        .filter_map(|s| Some((s.context.as_deref(), s.source.clone()?)))
        .collect();
    let stages: Vec<StageVerdict> = report
        .stages
        .iter()
        .map(|stage| {
            let (outcome, why) = match (&target.revision, &stage.source) {
                (Some(rev), Some(source)) if !at_target.contains(&(stage.context.as_deref(), source.clone())) => {
                    if at_target.iter().any(|(context, _)| *context == stage.context.as_deref()) {
                        let (outcome, why) = judge_stage(stage, target, now);
                        (outcome, format!("{why} (its source {source} is not {rev}'s: judged at its own revision)"))
                    } else {
                        let has = stage.source_revision.as_deref().unwrap_or("no artifact");
                        let fetch = if stage.source_inputs.is_empty() { "fetch" } else { "export" };
                        (Outcome::Waiting, format!("waiting for {source} to {fetch} {rev} (it has {has})"))
                    }
                }
                _ => judge_stage(stage, target, now),
            };
            // Its Jobs are in the other cluster: its controller's Ready says for them unless followed.
            let why = match &stage.remote {
                Some(remote) if !remote.followed => format!("{why} (it applies to another cluster, {})", remote.via()),
                _ => why,
            };
            StageVerdict { stage: stage.id(), outcome, revision: stage.source_revision.clone(), why, done_after: None }
        })
        .collect();
    let outcome = if stages.iter().any(|s| s.outcome == Outcome::Failed) {
        Outcome::Failed
    } else if stages.iter().all(|s| s.outcome == Outcome::Done) {
        Outcome::Done
    } else {
        Outcome::Waiting
    };
    Verdict { outcome, stages }
}

/// One stage, at the revision its source has now.
fn judge_stage(stage: &StageReport, target: &Target, now: Timestamp) -> (Outcome, String) {
    let wanted = stage.source_revision.as_deref();
    let attempted = attempted(stage, wanted);
    let applied = applied(stage, wanted);
    let at = wanted.unwrap_or("its current spec");
    let cause = || stage.diagnosis(&stage.namespace).unwrap_or_else(|| stage.state.as_str().to_string());
    match stage.state {
        StageState::Ready if applied => match jobs_not_done(stage) {
            (Some(failed), _) => (Outcome::Failed, format!("Job {failed} failed at {at}")),
            (None, Some(running)) => (Outcome::Waiting, format!("Job {running} not finished")),
            (None, None) => (Outcome::Done, format!("Ready at {at}")),
        },
        StageState::Ready => {
            let old = stage.revision.as_deref().or(stage.attempted_revision.as_deref()).unwrap_or("an older revision");
            (Outcome::Waiting, format!("Ready at {old}; {at} not applied yet"))
        }
        StageState::Failed if attempted && current_generation(stage) => (Outcome::Failed, cause()),
        StageState::Failed if attempted => {
            let generation = stage.generation.unwrap_or_default();
            (Outcome::Waiting, format!("failed for an older spec; generation {generation} not reconciled yet"))
        }
        StageState::Failed => {
            let old = stage.attempted_revision.as_deref().unwrap_or("an older revision");
            (Outcome::Waiting, format!("failed at {old}; {at} not attempted yet"))
        }
        StageState::Suspended => (Outcome::Failed, format!("suspended: it will not apply {at}")),
        // A dependency that does not exist, or a cycle: nothing upstream will change that.
        StageState::Blocked if missing_dependency(stage) && since_ready_changed(stage, now) >= target.grace => {
            (Outcome::Failed, format!("{} for longer than {}", cause(), crate::duration::took(target.grace)))
        }
        _ if attempted && needs_a_fix_past_grace(stage, target.grace, now) => {
            (Outcome::Failed, format!("{} for longer than {}", cause(), crate::duration::took(target.grace)))
        }
        _ => (Outcome::Waiting, cause()),
    }
}

/// Whether its Ready condition is about its current spec (a failure for an older generation is
/// that spec's, not this one's; every Flux controller and flux-operator write `observedGeneration`
/// on their conditions).
fn current_generation(stage: &StageReport) -> bool {
    let observed = stage.ready.as_ref().and_then(|r| r.observed_generation);
    match (stage.generation, observed) {
        (Some(generation), Some(observed)) => generation == observed,
        _ => true,
    }
}

/// Whether the stage has tried `wanted` (without a source: whatever it has now).
fn attempted(stage: &StageReport, wanted: Option<&str>) -> bool {
    let Some(wanted) = wanted else { return true };
    match (stage.kind, stage.attempted_revision.as_deref()) {
        (StageKind::HelmRelease, Some(version)) => {
            // An OCI chart's attempt is `VERSION+<digest prefix>` (helm-controller
            // internal/controller/helmrelease_controller.go mutateChartWithSourceRevision; the whole digest
            // in lastAttemptedRevisionDigest):
            // the same version pushed again under another digest is another revision.
            let same_digest = match (version.split_once('+'), digest_of(wanted)) {
                (Some((_, short)), Some(digest)) if short.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    digest.starts_with(short)
                }
                _ => true,
            };
            version_of(wanted) == version_of(version) && same_digest
        }
        (_, Some(revision)) => revision == wanted,
        (_, None) => stage.revision.as_deref() == Some(wanted),
    }
}

/// Whether the stage's last success applied `wanted` (a HelmRelease and a ResourceSet record no
/// applied revision of their source: Ready with their attempt at `wanted` is that).
fn applied(stage: &StageReport, wanted: Option<&str>) -> bool {
    match (stage.kind, wanted) {
        (_, None) => true,
        (StageKind::HelmRelease | StageKind::ResourceSet, Some(_)) => attempted(stage, wanted),
        (_, Some(wanted)) => stage.revision.as_deref() == Some(wanted),
    }
}

/// The first failed Job of the stage, and the first not finished (hooks included).
fn jobs_not_done(stage: &StageReport) -> (Option<String>, Option<String>) {
    let hooks = stage.hooks.iter().flatten().map(|h| (&h.namespace, &h.name, h.state));
    let jobs = stage.jobs.iter().map(|j| (&j.namespace, &j.name, j.state)).chain(hooks);
    let (mut failed, mut running) = (None, None);
    for (ns, name, state) in jobs {
        let id = if *ns == stage.namespace { name.clone() } else { format!("{ns}/{name}") };
        match state {
            JobState::Failed if failed.is_none() => failed = Some(id),
            JobState::Running | JobState::Pending if running.is_none() => running = Some(id),
            _ => {}
        }
    }
    (failed, running)
}

/// A pod of the stage that waits for a fix, since before `grace` ago.
fn needs_a_fix_past_grace(stage: &StageReport, grace: Duration, now: Timestamp) -> bool {
    let Some(cause) = &stage.root_cause else { return false };
    let own = stage.path.last().is_none_or(|at| *at == stage.id());
    own && NEEDS_A_FIX.contains(&cause.reason.as_str()) && since_ready_changed(stage, now) >= grace
}

fn missing_dependency(stage: &StageReport) -> bool {
    stage.root_cause.as_ref().is_some_and(|c| matches!(c.reason, Reason::DependencyNotFound | Reason::DependencyCycle))
}

/// How long the stage's Ready condition has been as it is: its controller changes it when it takes
/// a revision up and when the outcome changes (zero when unknown).
fn since_ready_changed(stage: &StageReport, now: Timestamp) -> Duration {
    let since = stage.ready.as_ref().and_then(|r| r.last_transition_time.as_deref()).and_then(|t| t.parse().ok());
    since.map_or(Duration::ZERO, |since: Timestamp| {
        Duration::from_secs(u64::try_from(now.as_second() - since.as_second()).unwrap_or(0))
    })
}

#[cfg(test)]
pub(crate) mod verdict_tests;
