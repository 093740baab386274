//! The verdict over fixtures written as kustomize-controller v1.9 and helm-controller v1.6 write
//! their status during a rollout (the states of ../shared/reference's measured timeline: the
//! attempted revision moving first, dependents at DependencyNotReady on the old revision, a failed
//! Job's health check failing on every retry).

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::revision::Revision;
use super::{Outcome, Target, judge};
use crate::engine::{Filter, diagnose};
use crate::snapshot::parse_snapshot;

pub(crate) const NS: &str = "shop";
pub(crate) const OLD: &str = "main@sha1:1111111111111111111111111111111111111111";
pub(crate) const NEW: &str = "main@sha1:2222222222222222222222222222222222222222";
const T0: &str = "2026-11-24T10:00:00Z";
const NOW: &str = "2026-11-24T10:05:00Z";

pub(crate) fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0})
}

/// A Kustomization of the seed pipeline with the given Ready, attempted and applied revisions,
/// holding `jobs`.
pub(crate) fn ks(
    name: &str,
    depends_on: &[&str],
    ready: Value,
    attempted: &str,
    applied: &str,
    jobs: &[&str],
) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "creationTimestamp": T0},
        "spec": {
            "dependsOn": depends_on.iter().map(|d| json!({"name": d})).collect::<Vec<_>>(),
            "sourceRef": {"kind": "GitRepository", "name": "app"},
            "path": format!("./{name}"), "interval": "60m", "timeout": "2m", "wait": true, "force": true,
        },
        "status": {
            "observedGeneration": 1,
            "lastAttemptedRevision": attempted,
            "lastAppliedRevision": applied,
            "conditions": [ready],
            "inventory": {"entries": jobs.iter().map(|j| json!({"id": format!("{NS}_{j}_batch_Job"), "v": "v1"})).collect::<Vec<_>>()},
        },
    })
}

pub(crate) fn ready_at(rev: &str) -> Value {
    condition("Ready", "True", "ReconciliationSucceeded", &format!("Applied revision: {rev}"))
}

fn waiting_on(dep: &str) -> Value {
    condition("Ready", "False", "DependencyNotReady", &format!("dependency '{NS}/{dep}' is not ready"))
}

pub(crate) fn git(revision: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": NS},
        "spec": {"url": "https://git.example.invalid/app.git", "interval": "1m"},
        "status": {"conditions": [condition("Ready", "True", "Succeeded", "stored artifact")],
                   "artifact": {"revision": revision}},
    })
}

pub(crate) fn job(name: &str, state: &str) -> Value {
    let conditions = match state {
        "Complete" => json!([{"type": "Complete", "status": "True", "reason": "CompletionsReached"}]),
        "Failed" => json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit"}]),
        _ => json!([]),
    };
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "creationTimestamp": T0,
                     "labels": {"kustomize.toolkit.fluxcd.io/name": "app-pre-deploy", "kustomize.toolkit.fluxcd.io/namespace": NS}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "migration", "image": "registry.example.invalid/app:1.0.0"}]}}},
        "status": {"startTime": T0, "active": i32::from(state == "Running"), "conditions": conditions},
    })
}

/// The status report of these objects.
pub(crate) fn report(objects: Vec<Value>) -> crate::report::Report {
    let text = serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": objects})).unwrap();
    let snapshot = parse_snapshot(&text, "fixture").expect("fixture");
    diagnose(&snapshot, &Filter::default()).expect("diagnosis")
}

fn verdict(objects: Vec<Value>, revision: Option<&str>) -> super::Verdict {
    let report = report(objects);
    let target = Target { revision: revision.map(|r| r.parse::<Revision>().unwrap()), grace: Duration::from_secs(120) };
    judge(&report, &target, NOW.parse::<Timestamp>().unwrap())
}

fn outcomes(v: &super::Verdict) -> Vec<(String, Outcome)> {
    v.stages.iter().map(|s| (s.stage.to_string(), s.outcome)).collect()
}

#[test]
fn a_pipeline_ready_at_the_revision_with_its_jobs_complete_is_done() {
    let v = verdict(
        vec![
            git(NEW),
            ks("app-pre-deploy", &[], ready_at(NEW), NEW, NEW, &["db-migration"]),
            ks("app-deploy", &["app-pre-deploy"], ready_at(NEW), NEW, NEW, &[]),
            job("db-migration", "Complete"),
        ],
        Some(NEW),
    );
    assert_eq!(v.outcome, Outcome::Done, "{v:#?}");
}

#[test]
fn the_old_revision_ready_is_not_success() {
    // The source has NEW; the stages have not taken it up yet (the first milliseconds).
    let v =
        verdict(vec![git(NEW), ks("app-pre-deploy", &[], ready_at(OLD), OLD, OLD, &[])], Some(&NEW[NEW.len() - 12..]));
    assert_eq!(v.outcome, Outcome::Waiting, "{v:#?}");
    assert!(v.stages[0].why.contains("not applied yet"), "{v:#?}");
    // The source has not fetched the revision: every stage waits for it.
    let v = verdict(vec![git(OLD), ks("app-pre-deploy", &[], ready_at(OLD), OLD, OLD, &[])], Some(NEW));
    assert_eq!(v.outcome, Outcome::Waiting);
    assert!(v.stages[0].why.contains("to fetch"), "{v:#?}");
}

#[test]
fn an_old_failure_while_the_new_revision_is_applied_is_not_failure() {
    let failed = condition(
        "Ready",
        "False",
        "HealthCheckFailed",
        "health check failed after 5.02s: failed early due to stalled resources: [Job/shop/db-migration status: 'Failed']",
    );
    // The source has NEW, the stage still shows its failure at OLD (it has not attempted NEW).
    let v = verdict(
        vec![
            git(NEW),
            ks("app-pre-deploy", &[], failed.clone(), OLD, OLD, &["db-migration"]),
            job("db-migration", "Failed"),
        ],
        Some(NEW),
    );
    assert_eq!(v.outcome, Outcome::Waiting, "{v:#?}");
    assert!(v.stages[0].why.contains("not attempted yet"), "{v:#?}");
    // The same failure once NEW was attempted is NEW's: the manifest left the failed Job as it was.
    let v = verdict(
        vec![git(NEW), ks("app-pre-deploy", &[], failed, NEW, OLD, &["db-migration"]), job("db-migration", "Failed")],
        Some(NEW),
    );
    assert_eq!(v.outcome, Outcome::Failed, "{v:#?}");
    assert!(v.stages[0].why.contains("db-migration"), "{v:#?}");
}

#[test]
fn dependents_at_dependency_not_ready_on_the_old_revision_are_waiting() {
    let running = condition("Ready", "Unknown", "Progressing", "Reconciliation in progress");
    let v = verdict(
        vec![
            git(NEW),
            ks("app-pre-deploy", &[], running, NEW, OLD, &["db-migration"]),
            ks("app-deploy", &["app-pre-deploy"], waiting_on("app-pre-deploy"), OLD, OLD, &[]),
            job("db-migration", "Running"),
        ],
        None,
    );
    assert_eq!(v.outcome, Outcome::Waiting, "{v:#?}");
    assert!(outcomes(&v).iter().all(|(_, o)| *o == Outcome::Waiting), "{v:#?}");
}

#[test]
fn a_ready_stage_whose_job_failed_or_runs_is_not_done() {
    // Ready without a health check of its Jobs (wait: false): the Job decides.
    let stage = |job_state| {
        verdict(
            vec![
                git(NEW),
                ks("app-post-deploy", &[], ready_at(NEW), NEW, NEW, &["cache-refresh"]),
                job("cache-refresh", job_state),
            ],
            Some(NEW),
        )
    };
    assert_eq!(stage("Failed").outcome, Outcome::Failed);
    assert_eq!(stage("Running").outcome, Outcome::Waiting);
    assert_eq!(stage("Complete").outcome, Outcome::Done);
}

#[test]
fn a_suspended_stage_never_applies_the_revision() {
    let mut suspended = ks("app-pre-deploy", &[], ready_at(OLD), OLD, OLD, &[]);
    suspended["spec"]["suspend"] = json!(true);
    assert_eq!(verdict(vec![git(NEW), suspended], Some(NEW)).outcome, Outcome::Failed);
}

#[test]
fn a_pod_that_needs_a_fix_fails_the_wait_only_after_the_grace() {
    let running = |since: &str| {
        let mut c = condition("Ready", "Unknown", "Progressing", "Reconciliation in progress");
        c["lastTransitionTime"] = json!(since);
        c
    };
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "db-migration-x1", "namespace": NS, "creationTimestamp": T0,
                     "labels": {"batch.kubernetes.io/job-name": "db-migration", "batch.kubernetes.io/controller-uid": "uid-db-migration"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "db-migration",
                                          "uid": "uid-db-migration", "controller": true}]},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "migration", "ready": false, "restartCount": 0,
                   "image": "registry.example.invalid/app:9.9.9", "imageID": "",
                   "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]},
    });
    let at = |since: &str| {
        verdict(
            vec![
                git(NEW),
                ks("app-pre-deploy", &[], running(since), NEW, OLD, &["db-migration"]),
                job("db-migration", "Running"),
                pod.clone(),
            ],
            Some(NEW),
        )
    };
    assert_eq!(at("2026-11-24T10:04:30Z").outcome, Outcome::Waiting, "within the grace");
    let past = at("2026-11-24T10:01:00Z");
    assert_eq!(past.outcome, Outcome::Failed, "{past:#?}");
    assert!(past.stages[0].why.contains("ImagePullBackOff"), "{past:#?}");
}

#[test]
fn a_helm_release_is_at_its_chart_version() {
    let hr = |ready: Value, attempted: &str| {
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "my-app", "namespace": NS, "generation": 1},
            "spec": {"interval": "10m", "chart": {"spec": {"chart": "my-app", "version": "1.x",
                     "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}},
            "status": {"observedGeneration": 1, "lastAttemptedRevision": attempted, "conditions": [ready],
                       "history": [{"chartVersion": attempted, "status": "deployed", "version": 2}]},
        })
    };
    let chart = |version: &str| {
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
            "metadata": {"name": "shop-my-app", "namespace": NS},
            "spec": {"chart": "my-app", "sourceRef": {"kind": "HelmRepository", "name": "charts"}},
            "status": {"conditions": [condition("Ready", "True", "ChartPullSucceeded", "pulled")],
                       "artifact": {"revision": version}},
        })
    };
    // helm-controller writes the generation it acted on into each condition.
    let observed = |mut c: Value| {
        c["observedGeneration"] = json!(1);
        c
    };
    let deployed = observed(condition("Ready", "True", "UpgradeSucceeded", "Helm upgrade succeeded"));
    let failed =
        observed(condition("Ready", "False", "UpgradeFailed", "Helm upgrade failed: pre-upgrade hooks failed"));
    let done = verdict(vec![chart("1.2.0"), hr(deployed.clone(), "1.2.0")], Some("1.2.0"));
    assert_eq!(done.outcome, Outcome::Done, "{done:#?}");
    // Ready at the previous chart version while the new one is pulled.
    assert_eq!(verdict(vec![chart("1.2.0"), hr(deployed.clone(), "1.1.0")], Some("1.2.0")).outcome, Outcome::Waiting);
    // helm-controller's RetryOnFailure never reaches Stalled: Ready=False at the version is the failure.
    assert_eq!(verdict(vec![chart("1.2.0"), hr(failed.clone(), "1.2.0")], Some("1.2.0")).outcome, Outcome::Failed);
    assert_eq!(verdict(vec![chart("1.2.0"), hr(failed, "1.1.0")], Some("1.2.0")).outcome, Outcome::Waiting);
    // An OCI chart: helm-controller attempts `VERSION+<digest prefix>`; the same version pushed
    // again under another digest is not the one deployed.
    let oci = "1.2.0@sha256:cdbfaee5f38dd44f95853d925942f539ac9de886ab167f6dfc34219ecb4e0147";
    assert_eq!(verdict(vec![chart(oci), hr(deployed.clone(), "1.2.0+cdbfaee5f38d")], Some(oci)).outcome, Outcome::Done);
    assert_eq!(verdict(vec![chart(oci), hr(deployed, "1.2.0+0123456789ab")], Some(oci)).outcome, Outcome::Waiting);
}

#[test]
fn without_a_revision_each_stage_is_judged_at_its_sources_current_one() {
    let v = verdict(vec![git(NEW), ks("app-pre-deploy", &[], ready_at(OLD), OLD, OLD, &[])], None);
    assert_eq!(v.outcome, Outcome::Waiting);
    let v = verdict(vec![git(NEW), ks("app-pre-deploy", &[], ready_at(NEW), NEW, NEW, &[])], None);
    assert_eq!(v.outcome, Outcome::Done);
}

#[test]
fn a_failure_for_an_older_spec_is_not_the_new_specs() {
    // A ResourceSet has no source: its spec is what changes. flux-operator writes the generation it
    // acted on into its conditions.
    let rset = |generation: i64, observed: i64| {
        json!({
            "apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet",
            "metadata": {"name": "shop-release", "namespace": NS, "generation": generation},
            "spec": {"resources": []},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "ReconciliationFailed",
                                       "message": "reconciliation failed: step \"pre-deploy\" health check failed",
                                       "lastTransitionTime": T0, "observedGeneration": observed}]},
        })
    };
    let stale = verdict(vec![rset(2, 1)], None);
    assert_eq!(stale.outcome, Outcome::Waiting, "{stale:#?}");
    assert!(stale.stages[0].why.contains("generation 2 not reconciled yet"), "{stale:#?}");
    assert_eq!(verdict(vec![rset(2, 2)], None).outcome, Outcome::Failed);
}

#[test]
fn a_stage_applying_to_another_cluster_says_so() {
    let mut remote = ks("app-pre-deploy", &[], ready_at(NEW), NEW, NEW, &[]);
    remote["spec"]["kubeConfig"] = json!({"secretRef": {"name": "east-kubeconfig"}});
    let v = verdict(vec![git(NEW), remote], Some(NEW));
    assert_eq!(v.outcome, Outcome::Done);
    assert!(
        v.stages[0].why.ends_with("(it applies to another cluster, kubeConfig Secret shop/east-kubeconfig)"),
        "{v:#?}"
    );
}

/// A Static input provider exporting `sha`, its export event at `exported` (flux-operator writes the
/// revision on the event: internal/controller/resourcesetinputprovider_controller.go), and a
/// ResourceSet taking its inputs from it, Ready since `reconciled`.
fn provider_pipeline(sha: &str, exported: &str, reconciled: &str) -> Vec<Value> {
    let digest = format!("sha256:{}", sha.repeat(2));
    vec![
        json!({
            "apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSetInputProvider",
            "metadata": {"name": "release", "namespace": NS},
            "spec": {"type": "Static", "defaultValues": {"sha": sha}},
            "status": {"conditions": [condition("Ready", "True", "ReconciliationSucceeded", "Reconciliation finished")],
                       "lastExportedRevision": digest,
                       "exportedInputs": [{"id": "48955639", "sha": sha}]},
        }),
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "release.1", "namespace": NS,
                         "annotations": {"fluxcd.controlplane.io/revision": digest}},
            "involvedObject": {"kind": "ResourceSetInputProvider", "name": "release", "namespace": NS},
            "type": "Normal", "reason": "ReconciliationSucceeded",
            "message": format!("Reconciliation finished in 3ms, revision {digest}"),
            "firstTimestamp": exported, "lastTimestamp": exported,
        }),
        json!({
            "apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet",
            "metadata": {"name": "shop-release", "namespace": NS, "generation": 1},
            "spec": {"inputsFrom": [{"kind": "ResourceSetInputProvider", "name": "release"}], "resources": []},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                                       "message": "Reconciliation finished in 1s",
                                       "lastTransitionTime": reconciled, "observedGeneration": 1}]},
        }),
    ]
}

#[test]
fn a_resource_set_is_at_a_revision_once_it_reconciled_after_its_provider_exported_it() {
    let sha = "3333333333333333333333333333333333333333";
    // The provider has not exported the commit yet.
    let old = verdict(provider_pipeline("1111111111111111111111111111111111111111", T0, NOW), Some("3333333"));
    assert_eq!(old.outcome, Outcome::Waiting, "{old:#?}");
    assert!(
        old.stages[0].why.contains("waiting for ResourceSetInputProvider/shop/release to export 3333333"),
        "{old:#?}"
    );
    // Exported at 10:04, the ResourceSet last Ready at 10:00: the old inputs' Ready.
    let stale = verdict(provider_pipeline(sha, "2026-11-24T10:04:00Z", T0), Some("3333333"));
    assert_eq!(stale.outcome, Outcome::Waiting, "{stale:#?}");
    assert!(stale.stages[0].why.contains("not applied yet"), "{stale:#?}");
    // Reconciled after the export: done.
    let done = verdict(provider_pipeline(sha, T0, "2026-11-24T10:04:00Z"), Some("3333333"));
    assert_eq!(done.outcome, Outcome::Done, "{done:#?}");
    // No event left naming the export: an old one, any reconcile took it up.
    let mut expired = provider_pipeline(sha, T0, T0);
    expired.remove(1);
    assert_eq!(verdict(expired, Some(sha)).outcome, Outcome::Done);
}

#[test]
fn an_export_back_to_an_earlier_revision_is_dated_by_its_latest_run_of_events() {
    let sha = "3333333333333333333333333333333333333333";
    // Exported at 10:00, then another revision at 10:01, then this one again at 10:03; the
    // ResourceSet last reconciled at 10:02, with the other revision's inputs.
    let mut objects = provider_pipeline(sha, T0, "2026-11-24T10:02:00Z");
    let mut other = objects[1].clone();
    other["metadata"]["name"] = json!("release.2");
    other["metadata"]["annotations"]["fluxcd.controlplane.io/revision"] = json!("sha256:4444");
    other["firstTimestamp"] = json!("2026-11-24T10:01:00Z");
    let mut again = objects[1].clone();
    again["metadata"]["name"] = json!("release.3");
    again["firstTimestamp"] = json!("2026-11-24T10:03:00Z");
    objects.extend([other, again]);
    let v = verdict(objects, Some(sha));
    assert_eq!(v.outcome, Outcome::Waiting, "{v:#?}");
}
