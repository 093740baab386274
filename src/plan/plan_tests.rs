//! The planner's unit tests, and the fixtures other rooms' tests use (`job`, `ks`).

use super::*;
use crate::model::Kustomization;
use serde_json::json;

pub(crate) fn job(extra: serde_json::Value) -> Job {
    let mut v = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "db-migration", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                     "creationTimestamp": "2026-11-24T10:00:00Z", "generation": 1,
                     "managedFields": [{"manager": "kustomize-controller", "operation": "Apply"}],
                     "labels": {"kustomize.toolkit.fluxcd.io/name": "app-pre-deploy", "kustomize.toolkit.fluxcd.io/namespace": "shop",
                                "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1", "job-name": "db-migration",
                                "batch.kubernetes.io/job-name": "db-migration"}},
        "spec": {"backoffLimit": 0,
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
                 "template": {"metadata": {"labels": {"app": "migration", "controller-uid": "u-1",
                                                       "batch.kubernetes.io/controller-uid": "u-1", "job-name": "db-migration",
                                                       "batch.kubernetes.io/job-name": "db-migration"}},
                              "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "app:1"}]}}},
        "status": {"startTime": "2026-11-24T10:00:00Z", "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
    });
    json_patch(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn json_patch(v: &mut serde_json::Value, patch: serde_json::Value) {
    match (v, patch) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, pv) in b {
                json_patch(a.entry(k).or_insert(serde_json::Value::Null), pv);
            }
        }
        (slot, p) => *slot = p,
    }
}

pub(crate) fn ks(extra: serde_json::Value) -> Kustomization {
    let mut v = json!({"metadata": {"name": "app-pre-deploy", "namespace": "shop"},
                       "spec": {"sourceRef": {"kind": "GitRepository", "name": "app"}, "force": true, "wait": true}});
    json_patch(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn owner() -> StageId {
    StageId::kustomization("shop", "app-pre-deploy")
}

#[test]
fn parses_targets_like_kubectl() {
    assert_eq!(parse_target("db-migration").unwrap(), Target::Job("db-migration".into()));
    assert_eq!(parse_target("job/db-migration").unwrap(), Target::Job("db-migration".into()));
    assert_eq!(parse_target("jobs.batch/x").unwrap(), Target::Job("x".into()));
    let ks = |name: &str| Target::Stage(StageKind::Kustomization, name.into());
    assert_eq!(parse_target("ks/app-pre-deploy").unwrap(), ks("app-pre-deploy"));
    assert_eq!(parse_target("kustomization/a").unwrap(), ks("a"));
    assert_eq!(parse_target("hr/my-app").unwrap(), Target::Stage(StageKind::HelmRelease, "my-app".into()));
    assert_eq!(
        parse_target("helmreleases.helm.toolkit.fluxcd.io/x").unwrap(),
        Target::Stage(StageKind::HelmRelease, "x".into())
    );
    assert_eq!(parse_target("rset/release").unwrap(), Target::Stage(StageKind::ResourceSet, "release".into()));
    assert_eq!(
        parse_target("resourcesets.fluxcd.controlplane.io/r").unwrap(),
        Target::Stage(StageKind::ResourceSet, "r".into())
    );
    assert!(parse_target("deployment/app").unwrap_err().to_string().contains("name a Job"));
    assert!(parse_target("job/").is_err());
}

#[test]
fn a_finished_flux_job_is_left_to_flux() {
    assert_eq!(
        decide(&job(json!({})), Some(&Stage::Kustomization(ks(json!({})))), Some(&owner()), false, false),
        Ok(Mode::FluxRecreates)
    );
}

#[test]
fn refuses_a_suspended_stage_with_the_way_out() {
    let suspended = ks(json!({"spec": {"suspend": true}}));
    let err = decide(&job(json!({})), Some(&Stage::Kustomization(suspended)), Some(&owner()), true, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("suspended") && err.contains("flux resume kustomization app-pre-deploy -n shop"), "{err}");
}

#[test]
fn refuses_an_active_job_unless_forced() {
    let running = job(json!({"status": {"conditions": [], "active": 1}}));
    let err = decide(&running, Some(&Stage::Kustomization(ks(json!({})))), Some(&owner()), false, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("still running (1 active pod)") && err.contains("--force"), "{err}");
    assert_eq!(
        decide(&running, Some(&Stage::Kustomization(ks(json!({})))), Some(&owner()), true, false),
        Ok(Mode::FluxRecreates)
    );
}

#[test]
fn refuses_a_job_flux_does_not_manage_unless_recreate() {
    let mut plain = job(json!({}));
    plain.metadata.labels = None;
    let err = decide(&plain, None, None, false, false).unwrap_err().to_string();
    assert!(err.contains("not managed by Flux") && err.contains("--recreate"), "{err}");
    assert_eq!(decide(&plain, None, None, false, true), Ok(Mode::FromLiveSpec(RecreateReason::Asked)));
    let err = decide(&job(json!({})), None, Some(&owner()), false, false).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn recreates_itself_while_kustomize_controller_health_checks_a_job_without_ttl() {
    let checking = ks(json!({"status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "Reconciliation in progress"},
        {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Running health checks for revision 'main@sha1:1' with a timeout of 5m0s"}]}}));
    let running = job(json!({"status": {"conditions": [], "active": 1}}));
    let mode = decide(&running, Some(&Stage::Kustomization(checking.clone())), Some(&owner()), true, false).unwrap();
    assert_eq!(mode, Mode::FromLiveSpec(RecreateReason::HealthCheckRunning(owner())));
    assert!(RecreateReason::HealthCheckRunning(owner()).to_string().contains("health check"));
    let with_ttl = job(json!({"spec": {"ttlSecondsAfterFinished": 600}, "status": {"conditions": [], "active": 1}}));
    assert_eq!(
        decide(&with_ttl, Some(&Stage::Kustomization(checking.clone())), Some(&owner()), true, false),
        Ok(Mode::FluxRecreates)
    );
}

/// Every `kubectl fluxjobs rerun ...` a hint names, on every example, is a command the planner
/// accepts in that state (a hint must never lead to a refusal); and the cases that need one
/// keep one. The engine's rule fixtures check the same on every run (`rule_tests::run`).
#[test]
fn every_rerun_a_hint_names_is_accepted_by_the_planner() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut named = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let snapshot = crate::snapshot::read_snapshot(&path).unwrap();
        let report = crate::engine::diagnose(&snapshot, &crate::engine::Filter::default()).unwrap();
        match hinted_reruns_accepted(&snapshot, &report) {
            Ok(0) => {}
            Ok(_) => named.push(path.file_name().unwrap().to_string_lossy().into_owned()),
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    assert!(named.iter().any(|n| n == "failed-migration.yaml"), "failed-migration names a rerun: {named:?}");
}

/// examples/failed-migration.yaml: the check failed (Ready=False HealthCheckFailed) and
/// kustomize-controller left its "Running health checks" message with ProgressingWithRetry.
#[test]
fn a_failed_health_check_is_not_read_as_running() {
    let failed = ks(json!({"status": {"conditions": [
        {"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry", "message": "Running health checks for revision 'main@sha1:1' with a timeout of 5m0s"},
        {"type": "Ready", "status": "False", "reason": "HealthCheckFailed", "message": "health check failed after 5.0s"}]}}));
    let job_failed = job(json!({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}));
    assert_eq!(
        decide(&job_failed, Some(&Stage::Kustomization(failed)), Some(&owner()), false, false),
        Ok(Mode::FluxRecreates)
    );
}

#[test]
fn a_resource_set_recreates_a_failed_job_itself_when_annotated() {
    let rset: crate::model::ResourceSet =
        serde_json::from_value(json!({"metadata": {"name": "release", "namespace": "shop"}})).unwrap();
    let rset = Stage::ResourceSet(rset);
    let id = StageId::resource_set("shop", "release");
    let annotated = job(json!({"metadata": {"annotations": {"fluxcd.controlplane.io/recreateOnFailure": "enabled"}}}));
    assert_eq!(decide(&annotated, Some(&rset), Some(&id), false, false), Ok(Mode::OperatorRecreates));
    assert_eq!(decide(&job(json!({})), Some(&rset), Some(&id), false, false), Ok(Mode::FluxRecreates));
    let plan = Plan::new(annotated, Some(rset), Mode::OperatorRecreates);
    let writes = plan.writes();
    assert!(
        matches!(writes[..], [PlannedWrite::RequestReconcile(_, Request::Reconcile)]),
        "only a reconcile request: {writes:?}"
    );
    assert!(plan.describe().contains("recreateOnFailure"), "{}", plan.describe());
    let disabled: crate::model::ResourceSet = serde_json::from_value(
        json!({"metadata": {"name": "release", "namespace": "shop", "annotations": {"fluxcd.controlplane.io/reconcile": "disabled"}}}),
    )
    .unwrap();
    let err = decide(&job(json!({})), Some(&Stage::ResourceSet(disabled)), Some(&id), false, false).unwrap_err();
    assert!(
        err.to_string().contains("kubectl annotate resourceset release -n shop fluxcd.controlplane.io/reconcile-"),
        "{err}"
    );
}

#[test]
fn restorable_manifests_drop_server_set_fields_and_the_old_uid() {
    let r = restorable(&job(json!({})));
    let v = serde_json::to_value(&r).unwrap();
    let text = v.to_string();
    assert!(!text.contains("u-1"), "the old uid survives: {text}");
    for gone in ["resourceVersion", "creationTimestamp", "managedFields", "generation", "status", "selector"] {
        assert!(!text.contains(&format!("\"{gone}\"")), "{gone} survives: {text}");
    }
    assert_eq!(v["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "app-pre-deploy");
    assert_eq!(v["spec"]["template"]["metadata"]["labels"], json!({"app": "migration"}));
    assert_eq!(v["spec"]["backoffLimit"], 0);
}
