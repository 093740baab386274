//! Engine rules over object fixtures: one test per recognised cause. Objects are written the way the
//! controllers write them (reasons and messages from kustomize-controller v1.9, the Job controller,
//! the scheduler and the kubelet); the end-to-end suite checks the same rules on real objects.

use serde_json::{Value, json};

use super::{Filter, diagnose};
use crate::report::{Report, StageReport, StageState};
use crate::snapshot::parse_snapshot;

pub(super) const NS: &str = "shop";
const REV: &str = "main@sha1:1111111111111111111111111111111111111111";
const NEW_REV: &str = "main@sha1:2222222222222222222222222222222222222222";
pub(super) const T0: &str = "2026-11-24T10:00:00Z";
/// The snapshot time: the newest timestamp in every fixture.
pub(super) const NOW: &str = "2026-11-24T10:05:00Z";

pub(super) fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0})
}

/// A Kustomization of the seed pipeline, Ready at REV.
fn ks(name: &str, depends_on: &[&str]) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "creationTimestamp": T0},
        "spec": {
            "dependsOn": depends_on.iter().map(|d| json!({"name": d})).collect::<Vec<_>>(),
            "sourceRef": {"kind": "GitRepository", "name": "app"},
            "path": format!("./{name}"), "interval": "60m", "timeout": "5m",
            "prune": true, "wait": true, "force": true,
        },
        "status": {
            "observedGeneration": 1,
            "lastAppliedRevision": REV,
            "conditions": [condition("Ready", "True", "ReconciliationSucceeded", &format!("Applied revision: {REV}"))],
            "inventory": {"entries": []},
        },
    })
}

fn set_ready(k: &mut Value, status: &str, reason: &str, message: &str) {
    k["status"]["conditions"] = json!([condition("Ready", status, reason, message)]);
}

fn blocked_on(k: &mut Value, dep: &str) {
    set_ready(k, "False", "DependencyNotReady", &format!("dependency '{NS}/{dep}' is not ready"));
}

fn with_jobs(k: &mut Value, jobs: &[&str]) {
    k["status"]["inventory"]["entries"] =
        jobs.iter().map(|j| json!({"id": format!("{NS}_{j}_batch_Job"), "v": "v1"})).collect();
}

fn git_repository(revision: Option<&str>) -> Value {
    let mut repo = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": NS},
        "spec": {"url": "https://git.example.invalid/app.git", "interval": "1m"},
        "status": {"conditions": [condition("Ready", "True", "Succeeded", "stored artifact")]},
    });
    if let Some(rev) = revision {
        repo["status"]["artifact"] =
            json!({"revision": rev, "digest": "sha256:00", "path": "x", "url": "http://x", "lastUpdateTime": T0});
    }
    repo
}

fn job(name: &str, conditions: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "creationTimestamp": T0,
                     "labels": {"kustomize.toolkit.fluxcd.io/name": "app-pre-deploy", "kustomize.toolkit.fluxcd.io/namespace": NS}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "migration", "image": "registry.example.invalid/app:1.0.0"}]}}},
        "status": {"startTime": T0, "conditions": conditions},
    })
}

fn failed_job(name: &str, reason: &str, message: &str) -> Value {
    job(
        name,
        json!([
            {"type": "FailureTarget", "status": "True", "reason": reason, "message": message},
            {"type": "Failed", "status": "True", "reason": reason, "message": message},
        ]),
    )
}

fn pod_of(job_name: &str, pod: &str, status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod, "namespace": NS, "creationTimestamp": T0,
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                          "uid": format!("uid-{job_name}"), "controller": true}]},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "migration", "image": "registry.example.invalid/app:1.0.0"}]},
        "status": status,
    })
}

fn terminated(exit_code: i32, reason: &str) -> Value {
    json!({"phase": "Failed", "containerStatuses": [{
        "name": "migration", "image": "registry.example.invalid/app:1.0.0", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": T0, "finishedAt": T0}}}]})
}

fn waiting(reason: &str, message: &str) -> Value {
    json!({"phase": "Pending", "containerStatuses": [{
        "name": "migration", "image": "registry.example.invalid/app:1.0.0", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": message}}}]})
}

fn running() -> Value {
    json!({"phase": "Running", "containerStatuses": [{"name": "migration", "image": "i", "imageID": "", "ready": true,
        "restartCount": 0, "state": {"running": {"startedAt": T0}}}]})
}

pub(super) fn event(kind: &str, name: &str, type_: &str, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{reason}"), "namespace": NS},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS},
        "type": type_, "reason": reason, "message": message, "count": 1, "lastTimestamp": NOW,
    })
}

/// The seed pipeline with a given pre-deploy stage, its Jobs and Pods: app-deploy and
/// app-post-deploy blocked on it, as kustomize-controller writes them.
fn blocked_pipeline(pre: Value, extra: Vec<Value>) -> Vec<Value> {
    let mut deploy = ks("app-deploy", &["app-pre-deploy"]);
    blocked_on(&mut deploy, "app-pre-deploy");
    let mut post = ks("app-post-deploy", &["app-deploy"]);
    blocked_on(&mut post, "app-deploy");
    let mut objects = vec![git_repository(Some(REV)), pre, deploy, post];
    objects.extend(extra);
    objects
}

/// A pre-deploy stage whose health check waits for its Job db-migration.
fn checking_pre_deploy() -> Value {
    let mut pre = ks("app-pre-deploy", &[]);
    set_ready(&mut pre, "Unknown", "Progressing", "Reconciliation in progress");
    with_jobs(&mut pre, &["db-migration"]);
    pre
}

fn failed_pre_deploy(message: &str) -> Value {
    let mut pre = ks("app-pre-deploy", &[]);
    set_ready(&mut pre, "False", "HealthCheckFailed", message);
    with_jobs(&mut pre, &["db-migration"]);
    pre
}

const BACKOFF_MESSAGE: &str = "Job has reached the specified backoff limit";

/// The seed pipeline blocked on a migration Job that failed because its pod ended with `status`.
fn failed_migration(pod: &str, status: Value, extra: Vec<Value>) -> Vec<Value> {
    let mut objects =
        vec![failed_job("db-migration", "BackoffLimitExceeded", BACKOFF_MESSAGE), pod_of("db-migration", pod, status)];
    objects.extend(extra);
    blocked_pipeline(failed_pre_deploy(HEALTH_FAILED), objects)
}

const HEALTH_FAILED: &str =
    "health check failed after 5.0s: failed early due to stalled resources: [Job/shop/db-migration status: 'Failed']";

fn run(objects: Vec<Value>) -> Report {
    run_filtered(objects, Filter::default())
}

fn run_filtered(mut objects: Vec<Value>, filter: Filter) -> Report {
    // An event at NOW fixes the snapshot time (the newest timestamp) for every fixture.
    objects.push(event("Namespace", NS, "Normal", "Clock", "fixes the snapshot time"));
    let text = json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string();
    let snapshot = parse_snapshot(&text, "fixture").expect("fixture parses");
    let report = diagnose(&snapshot, &filter).expect("diagnosis");
    // A hint never names a rerun the planner would refuse in that state.
    if let Err(e) = crate::plan::hinted_reruns_accepted(&snapshot, &report) {
        panic!("{e}");
    }
    report
}

fn stage<'a>(report: &'a Report, name: &str) -> &'a StageReport {
    report.stages.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no stage {name}"))
}

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{NS}/{n}")).collect()
}

/// Asserts the root cause of a stage: state, cause kind/name/reason, and path.
fn assert_cause(
    report: &Report,
    stage_name: &str,
    state: StageState,
    kind: &str,
    name: &str,
    reason: &str,
    path: &[&str],
) {
    let s = stage(report, stage_name);
    assert_eq!(s.state, state, "{stage_name} state; report: {s:#?}");
    let cause = s.root_cause.as_ref().unwrap_or_else(|| panic!("{stage_name} has no root cause: {s:#?}"));
    assert_eq!((cause.kind.as_str(), cause.name.as_str(), cause.reason.as_str()), (kind, name, reason), "{cause:#?}");
    assert_eq!(s.path, ids(path), "{stage_name} path");
    assert!(s.hint.as_deref().is_some_and(|h| !h.is_empty()), "{stage_name} has no hint");
}

#[test]
fn a_ready_pipeline_has_no_causes_and_is_in_dependency_order() {
    let report = run(vec![
        ks("app-post-deploy", &["app-deploy"]),
        ks("app-deploy", &["app-pre-deploy"]),
        ks("app-pre-deploy", &[]),
        git_repository(Some(REV)),
    ]);
    let names: Vec<&str> = report.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["app-pre-deploy", "app-deploy", "app-post-deploy"]);
    assert!(report.stages.iter().all(|s| s.state == StageState::Ready && s.root_cause.is_none() && s.path.is_empty()));
    assert_eq!(report.pipelines.len(), 1);
}

#[test]
fn dependency_not_ready_is_followed_through_any_depth_to_the_pod() {
    let report = run(failed_migration(
        "db-migration-b2m8s",
        terminated(3, "Error"),
        vec![event(
            "Job",
            "db-migration",
            "Warning",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )],
    ));
    assert_cause(
        &report,
        "app-pre-deploy",
        StageState::Failed,
        "Pod",
        "db-migration-b2m8s",
        "Error",
        &["app-pre-deploy"],
    );
    assert_cause(
        &report,
        "app-post-deploy",
        StageState::Blocked,
        "Pod",
        "db-migration-b2m8s",
        "Error",
        &["app-post-deploy", "app-deploy", "app-pre-deploy"],
    );
    let cause = stage(&report, "app-post-deploy").root_cause.clone().unwrap();
    assert_eq!(cause.exit_code, Some(3));
    assert_eq!(cause.container.as_deref(), Some("migration"));
    assert_eq!(cause.via, ["Job/shop/db-migration"]);
    assert_eq!(cause.events, ["BackoffLimitExceeded: Job has reached the specified backoff limit"]);
    assert_eq!(stage(&report, "app-pre-deploy").jobs[0].pods[0].exit_code, Some(3));
}

#[test]
fn exit_reasons_of_containers_are_kept() {
    for (code, reason) in [(137, "OOMKilled"), (128, "ContainerCannotRun"), (1, "Error")] {
        let report = run(failed_migration("db-migration-x", terminated(code, reason), vec![]));
        let cause = stage(&report, "app-deploy").root_cause.clone().unwrap();
        assert_eq!((cause.reason.as_str(), cause.exit_code), (reason, Some(code)));
        assert!(cause.message.contains(&format!("exited with code {code}")), "{}", cause.message);
    }
}

#[test]
fn job_failure_reasons_without_a_pod_to_blame_name_the_job() {
    for reason in ["BackoffLimitExceeded", "DeadlineExceeded", "PodFailurePolicy", "MaxFailedIndexesExceeded"] {
        let report = run(blocked_pipeline(
            failed_pre_deploy(HEALTH_FAILED),
            vec![failed_job("db-migration", reason, "the Job controller's message")],
        ));
        assert_cause(
            &report,
            "app-deploy",
            StageState::Blocked,
            "Job",
            "db-migration",
            reason,
            &["app-deploy", "app-pre-deploy"],
        );
        assert_eq!(stage(&report, "app-pre-deploy").jobs[0].reason.as_deref(), Some(reason));
    }
}

#[test]
fn pod_problems_are_named_with_the_kubelet_and_scheduler_reasons() {
    let unschedulable = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient cpu."}]});
    let evicted = json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."});
    let crashloop = json!({"phase": "Running", "containerStatuses": [{
        "name": "migration", "image": "registry.example.invalid/app:1.0.0", "imageID": "", "ready": false, "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": 2, "reason": "Error", "startedAt": T0, "finishedAt": T0}}}]});
    let cases = [
        (unschedulable, "Unschedulable", "Insufficient cpu"),
        (waiting("ErrImagePull", "rpc error: not found"), "ErrImagePull", "not found"),
        (waiting("ImagePullBackOff", "Back-off pulling image \"x\""), "ImagePullBackOff", "Back-off"),
        (
            waiting("CreateContainerConfigError", "secret \"db-credentials\" not found"),
            "CreateContainerConfigError",
            "db-credentials",
        ),
        (crashloop, "CrashLoopBackOff", "exit code 2"),
        (evicted, "Evicted", "low on resource"),
    ];
    for (status, reason, message_part) in cases {
        let mut pre = checking_pre_deploy();
        pre["status"]["conditions"].as_array_mut().unwrap().push(condition(
            "Reconciling",
            "True",
            "Progressing",
            "Running health checks for revision X with a timeout of 5m0s",
        ));
        let report = run(blocked_pipeline(
            pre,
            vec![job("db-migration", json!([])), pod_of("db-migration", "db-migration-p", status)],
        ));
        assert_cause(
            &report,
            "app-pre-deploy",
            StageState::Progressing,
            "Pod",
            "db-migration-p",
            reason,
            &["app-pre-deploy"],
        );
        let cause = stage(&report, "app-post-deploy").root_cause.clone().unwrap();
        assert!(cause.message.contains(message_part), "{reason}: {}", cause.message);
        // The health check clock: Reconciling since T0, snapshot at NOW, timeout 5m.
        assert!(cause.message.contains("health check running for 5m of its 5m timeout"), "{}", cause.message);
    }
}

#[test]
fn a_running_health_check_names_the_unfinished_job() {
    let pre = checking_pre_deploy();
    let running = running();
    let report = run(blocked_pipeline(
        pre,
        vec![job("db-migration", json!([])), pod_of("db-migration", "db-migration-r", running)],
    ));
    // A Job running within the health check's timeout with nothing wrong: the dependents wait.
    assert_cause(
        &report,
        "app-deploy",
        StageState::Waiting,
        "Job",
        "db-migration",
        "JobRunning",
        &["app-deploy", "app-pre-deploy"],
    );
    assert_eq!(stage(&report, "app-pre-deploy").state, StageState::Progressing);
    assert_eq!(
        stage(&report, "app-deploy").waiting_for.as_deref(),
        Some("app-pre-deploy (Job/db-migration running 5m)")
    );
}

#[test]
fn a_job_whose_pods_admission_refuses_names_what_refused_them() {
    // The Job controller's event (kubernetes pkg/controller/controller_utils.go): the pod is never
    // created, so there is no pod to blame; the health check waits.
    let cases = [
        (
            r#"Error creating: pods "db-migration-7xk2p" is forbidden: exceeded quota: jobs, requested: cpu=2, used: cpu=0, limited: cpu=1"#,
            "resourcequota",
        ),
        (
            r#"Error creating: pods "db-migration-7xk2p" is forbidden: maximum cpu usage per Container is 500m, but limit is 2"#,
            "LimitRange",
        ),
        (
            r#"Error creating: pods "db-migration-7xk2p" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "migration" must set securityContext.allowPrivilegeEscalation=false)"#,
            "Pod Security",
        ),
        (
            r#"Error creating: pods "db-migration-7xk2p" is forbidden: error looking up service account shop/migrator: serviceaccount "migrator" not found"#,
            "ServiceAccount",
        ),
        (
            r#"Error creating: pods "db-migration-7xk2p" is forbidden: ValidatingAdmissionPolicy 'pinned-images' with binding 'pinned-images' denied request: images must be pinned by digest"#,
            "policy",
        ),
    ];
    for (message, hint) in cases {
        let failed_create = event("Job", "db-migration", "Warning", "FailedCreate", message);
        let report = run(blocked_pipeline(checking_pre_deploy(), vec![job("db-migration", json!([])), failed_create]));
        let blocked = ["app-deploy", "app-pre-deploy"];
        assert_cause(&report, "app-deploy", StageState::Blocked, "Job", "db-migration", "FailedCreate", &blocked);
        let pre = stage(&report, "app-pre-deploy");
        let cause = pre.root_cause.as_ref().unwrap();
        let error = message.strip_prefix("Error creating: ").unwrap();
        assert!(cause.message.starts_with(&format!("the Job controller cannot create its pod: {error}")), "{cause:#?}");
        assert!(cause.events.is_empty(), "the event is the message, not repeated: {:?}", cause.events);
        let h = pre.hint.as_deref().unwrap();
        assert!(h.contains(hint) && h.contains("retries by itself"), "{h}");
    }
    // Once pods exist, an old FailedCreate is history: the pod is what counts.
    let running = running();
    let report = run(blocked_pipeline(
        checking_pre_deploy(),
        vec![
            job("db-migration", json!([])),
            event("Job", "db-migration", "Warning", "FailedCreate", cases[0].0),
            pod_of("db-migration", "db-migration-r", running),
        ],
    ));
    let cause = stage(&report, "app-pre-deploy").root_cause.clone().unwrap();
    assert_eq!(cause.reason, "JobRunning");
    // No health check clock (no Reconciling condition) and one attempt: nothing more to say.
    assert_eq!(cause.message, "the Job has not finished yet");
}

#[test]
fn a_pod_the_kubelet_cannot_start_names_the_volume() {
    // ContainerCreating says nothing; the kubelet's FailedMount event (kubernetes
    // pkg/kubelet/events/event.go) says why.
    let message = r#"MountVolume.SetUp failed for volume "config" : configmap "migration-config" not found"#;
    let scheduled = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": "migration", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}}}]});
    let report = run(blocked_pipeline(
        checking_pre_deploy(),
        vec![
            job("db-migration", json!([])),
            pod_of("db-migration", "db-migration-m", scheduled),
            event("Pod", "db-migration-m", "Warning", "FailedMount", message),
        ],
    ));
    assert_cause(
        &report,
        "app-deploy",
        StageState::Blocked,
        "Pod",
        "db-migration-m",
        "FailedMount",
        &["app-deploy", "app-pre-deploy"],
    );
    let pre = stage(&report, "app-pre-deploy");
    assert!(pre.root_cause.as_ref().unwrap().message.starts_with(message));
    assert!(pre.hint.as_deref().unwrap().contains("ConfigMap"), "{:?}", pre.hint);
}

#[test]
fn a_job_kueue_holds_waits_for_admission_not_for_suspend_false() {
    let mut queued = job(
        "db-migration",
        json!([{"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended"}]),
    );
    queued["spec"]["suspend"] = json!(true);
    queued["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = json!("batch");
    let report = run(blocked_pipeline(checking_pre_deploy(), vec![queued]));
    let blocked = ["app-deploy", "app-pre-deploy"];
    assert_cause(&report, "app-deploy", StageState::Blocked, "Job", "db-migration", "AwaitingAdmission", &blocked);
    let pre = stage(&report, "app-pre-deploy");
    assert!(pre.root_cause.as_ref().unwrap().message.contains("until LocalQueue batch admits it"));
    let hint = pre.hint.as_deref().unwrap();
    assert!(hint.contains("kubectl describe localqueue batch -n shop") && !hint.contains("kubectl patch"), "{hint}");
}

#[test]
fn a_health_check_that_timed_out_on_a_running_job_says_it_is_slow() {
    let pre = failed_pre_deploy(
        "health check failed after 5m0.1s: timeout waiting for: [Job/shop/db-migration status: 'InProgress']",
    );
    let report = run(blocked_pipeline(
        pre,
        vec![job("db-migration", json!([])), pod_of("db-migration", "db-migration-r", running())],
    ));
    let failed = ["app-pre-deploy"];
    assert_cause(&report, "app-pre-deploy", StageState::Failed, "Pod", "db-migration-r", "StillRunning", &failed);
    let s = stage(&report, "app-pre-deploy");
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!(cause.via, ["Job/shop/db-migration"]);
    assert_eq!(cause.container.as_deref(), Some("migration"), "its log tail is fetched live");
    assert!(
        cause
            .message
            .contains("still running when the health check gave up at the stage's 5m timeout; it started 5m before"),
        "{}",
        cause.message
    );
    let hint = s.hint.as_deref().unwrap();
    assert!(hint.contains("raise spec.timeout of Kustomization shop/app-pre-deploy (now 5m)"), "{hint}");
}

#[test]
fn exits_are_blamed_on_the_right_container_with_init_containers_and_native_sidecars() {
    let container = |name: &str, state: Value| json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": state});
    let exited =
        |code: i32| json!({"terminated": {"exitCode": code, "reason": "Error", "startedAt": T0, "finishedAt": T0}});
    // A native sidecar (an init container that keeps running) stopped with the pod after the
    // migration failed: the migration's exit is the cause.
    let with_sidecar = json!({"phase": "Failed",
        "initContainerStatuses": [container("proxy", exited(143))],
        "containerStatuses": [container("migration", exited(3))]});
    // A regular init container failed: nothing else ran, it is the cause.
    let init_failed = json!({"phase": "Failed",
        "initContainerStatuses": [container("schema-check", exited(2))],
        "containerStatuses": [container("migration", json!({"waiting": {"reason": "PodInitializing"}}))]});
    for (status, who, code) in
        [(with_sidecar, "container migration", 3), (init_failed, "init container schema-check", 2)]
    {
        let report = run(failed_migration("db-migration-x", status, vec![]));
        let cause = stage(&report, "app-deploy").root_cause.clone().unwrap();
        assert_eq!(cause.exit_code, Some(code), "{cause:#?}");
        assert!(cause.message.starts_with(&format!("{who} exited with code {code}")), "{}", cause.message);
    }
}

#[test]
fn a_disrupted_pod_is_not_blamed_on_its_exit_code() {
    let preempted = json!({"phase": "Failed",
        "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                        "message": "Preempted in order to admit critical pod"}],
        "containerStatuses": [{"name": "migration", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": T0, "finishedAt": T0}}}]});
    let report = run(failed_migration("db-migration-p", preempted, vec![]));
    let path = ["app-deploy", "app-pre-deploy"];
    assert_cause(&report, "app-deploy", StageState::Blocked, "Pod", "db-migration-p", "PreemptionByScheduler", &path);
    let s = stage(&report, "app-pre-deploy");
    assert_eq!(s.root_cause.as_ref().unwrap().exit_code, None);
    assert!(s.hint.as_deref().unwrap().contains("onPodConditions: [{type: DisruptionTarget}]"), "{:?}", s.hint);
}

#[test]
fn a_suspended_job_is_named() {
    let mut suspended = job(
        "db-migration",
        json!([{"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended"}]),
    );
    suspended["spec"]["suspend"] = json!(true);
    let pre = checking_pre_deploy();
    let report = run(blocked_pipeline(pre, vec![suspended]));
    assert_cause(
        &report,
        "app-pre-deploy",
        StageState::Progressing,
        "Job",
        "db-migration",
        "JobSuspended",
        &["app-pre-deploy"],
    );
    assert!(stage(&report, "app-pre-deploy").hint.as_deref().unwrap().contains("suspend"));
}

#[test]
fn a_job_gone_from_the_cluster_tells_ttl_cleanup_from_deletion() {
    for (completed_before, expected) in [(true, "ttlSecondsAfterFinished"), (false, "deleted")] {
        let pre = checking_pre_deploy();
        let mut extra = vec![];
        if completed_before {
            extra.push(event("Job", "db-migration", "Normal", "Completed", "Job completed"));
        }
        let report = run(blocked_pipeline(pre, extra));
        let pre = stage(&report, "app-pre-deploy");
        assert_eq!(pre.jobs[0].state, crate::report::JobState::Missing);
        let cause = pre.root_cause.as_ref().unwrap();
        assert_eq!((cause.kind.as_str(), cause.reason.as_str()), ("Job", "JobDeleted"));
        assert!(cause.message.contains(expected), "{}", cause.message);
    }
}

#[test]
fn dependency_not_found() {
    let mut deploy = ks("app-deploy", &["app-pre-deploy", "app-database"]);
    set_ready(&mut deploy, "False", "DependencyNotReady", "dependency 'shop/app-database' not found");
    let report = run(vec![git_repository(Some(REV)), ks("app-pre-deploy", &[]), deploy]);
    assert_cause(
        &report,
        "app-deploy",
        StageState::Blocked,
        "Kustomization",
        "app-database",
        "DependencyNotFound",
        &["app-deploy", "app-database"],
    );
}

#[test]
fn cross_namespace_dependencies_default_and_resolve() {
    let mut infra = ks("infra", &[]);
    infra["metadata"]["namespace"] = json!("platform");
    set_ready(&mut infra, "False", "BuildFailed", "kustomize build failed: accumulating resources");
    let mut deploy = ks("app-deploy", &[]);
    deploy["spec"]["dependsOn"] = json!([{"name": "infra", "namespace": "platform"}]);
    set_ready(&mut deploy, "False", "DependencyNotReady", "dependency 'platform/infra' is not ready");
    let report = run_filtered(
        vec![git_repository(Some(REV)), infra, deploy],
        Filter { namespace: Some(NS.into()), ..Filter::default() },
    );
    // The dependency in another namespace is shown because a shown stage needs it.
    assert_eq!(report.stages.len(), 2);
    let s = stage(&report, "app-deploy");
    assert_eq!(s.depends_on, ["platform/infra"]);
    assert_eq!(s.path, ["shop/app-deploy", "platform/infra"]);
    assert_eq!(s.root_cause.as_ref().unwrap().reason, "BuildFailed");
}

#[test]
fn dependency_cycles_are_named() {
    let mut a = ks("a", &["b"]);
    blocked_on(&mut a, "b");
    let mut b = ks("b", &["a"]);
    blocked_on(&mut b, "a");
    let report = run(vec![git_repository(Some(REV)), a, b]);
    for name in ["a", "b"] {
        let s = stage(&report, name);
        let cause = s.root_cause.as_ref().unwrap();
        assert_eq!(cause.reason, "DependencyCycle");
        assert!(
            cause.message.contains("shop/a -> shop/b -> shop/a")
                || cause.message.contains("shop/b -> shop/a -> shop/b")
        );
    }
}

#[test]
fn revision_not_up_to_date_names_the_lagging_dependency() {
    let mut deploy = ks("app-deploy", &["app-pre-deploy"]);
    set_ready(
        &mut deploy,
        "False",
        "DependencyNotReady",
        "dependency 'shop/app-pre-deploy' revision is not up to date",
    );
    let report = run(vec![git_repository(Some(NEW_REV)), ks("app-pre-deploy", &[]), deploy]);
    assert_cause(
        &report,
        "app-deploy",
        StageState::Blocked,
        "Kustomization",
        "app-pre-deploy",
        "RevisionNotUpToDate",
        &["app-deploy", "app-pre-deploy"],
    );
    assert!(stage(&report, "app-deploy").root_cause.as_ref().unwrap().message.contains(NEW_REV));
}

#[test]
fn suspended_stage_and_suspended_upstream_with_a_new_revision() {
    let mut pre = ks("app-pre-deploy", &[]);
    pre["spec"]["suspend"] = json!(true);
    let mut deploy = ks("app-deploy", &["app-pre-deploy"]);
    set_ready(
        &mut deploy,
        "False",
        "DependencyNotReady",
        "dependency 'shop/app-pre-deploy' revision is not up to date",
    );
    let report = run(vec![git_repository(Some(NEW_REV)), pre, deploy]);
    assert_eq!(stage(&report, "app-pre-deploy").state, StageState::Suspended);
    assert_cause(
        &report,
        "app-deploy",
        StageState::Blocked,
        "Kustomization",
        "app-pre-deploy",
        "Suspended",
        &["app-deploy", "app-pre-deploy"],
    );
    let cause = stage(&report, "app-deploy").root_cause.clone().unwrap();
    assert!(cause.message.contains("revision is not up to date"), "{}", cause.message);
    assert!(stage(&report, "app-deploy").hint.as_deref().unwrap().contains("flux resume kustomization app-pre-deploy"));
}

/// app-deploy depends on app-pre-deploy through `expr`, and kustomize-controller last found it false.
fn ready_expr_pipeline(expr: &str, pre_deploy_revision: &str) -> Report {
    let mut deploy = ks("app-deploy", &[]);
    deploy["spec"]["dependsOn"] = json!([{"name": "app-pre-deploy", "readyExpr": expr}]);
    set_ready(
        &mut deploy,
        "False",
        "DependencyNotReady",
        "dependency 'shop/app-pre-deploy' is not ready according to readyExpr eval",
    );
    let mut pre = ks("app-pre-deploy", &[]);
    pre["status"]["lastAppliedRevision"] = json!(pre_deploy_revision);
    run(vec![git_repository(Some(REV)), pre, deploy])
}

const SAME_REVISION: &str = "dep.status.lastAppliedRevision == self.status.lastAppliedRevision";

#[test]
fn ready_expr_unmet_is_the_controllers_verdict_evaluated_again() {
    let report = ready_expr_pipeline(SAME_REVISION, NEW_REV);
    assert_cause(
        &report,
        "app-deploy",
        StageState::Blocked,
        "Kustomization",
        "app-pre-deploy",
        "ReadyExprNotMet",
        &["app-deploy", "app-pre-deploy"],
    );
    let deploy = stage(&report, "app-deploy");
    let message = &deploy.root_cause.as_ref().unwrap().message;
    assert!(message.ends_with(&format!("readyExpr eval: {SAME_REVISION} (false here too)")), "{message}");
    let evaluated = &deploy.ready_exprs[0];
    assert_eq!((evaluated.dependency.to_string().as_str(), evaluated.value), ("shop/app-pre-deploy", Some(false)));
    assert!(report.warnings.iter().all(|w| !w.contains("readyExpr")), "{:?}", report.warnings);
}

#[test]
fn ready_expr_that_holds_now_says_the_stage_will_proceed() {
    let report = ready_expr_pipeline(SAME_REVISION, REV);
    let deploy = stage(&report, "app-deploy");
    let cause = deploy.root_cause.as_ref().unwrap();
    assert!(cause.message.ends_with("(true on these objects now)"), "{}", cause.message);
    assert!(deploy.hint.as_deref().unwrap().ends_with("kubectl fluxjobs reconcile app-deploy -n shop"));
    assert_eq!(deploy.ready_exprs[0].value, Some(true));
}

#[test]
fn ready_expr_not_evaluable_here_keeps_the_controllers_verdict_and_warns() {
    let report = ready_expr_pipeline("dep.status.phase == 'Running'", REV);
    let deploy = stage(&report, "app-deploy");
    let cause = deploy.root_cause.as_ref().unwrap();
    assert_eq!(cause.reason, "ReadyExprNotMet");
    assert!(cause.message.contains("(not evaluated here: "), "{}", cause.message);
    assert_eq!(deploy.ready_exprs[0].value, None);
    assert!(report.warnings.iter().any(|w| w.contains("could not be evaluated here")), "{:?}", report.warnings);
}

#[test]
fn a_stage_created_seconds_ago_is_only_waiting_its_turn() {
    let mut pre = ks("app-pre-deploy", &[]);
    pre["status"] = json!({});
    pre["metadata"]["creationTimestamp"] = json!("2026-11-24T10:04:58Z");
    let report = run(vec![git_repository(Some(REV)), pre]);
    let stage = stage(&report, "app-pre-deploy");
    assert_eq!(stage.state, StageState::Unknown);
    let cause = stage.root_cause.as_ref().unwrap();
    assert_eq!(
        (cause.reason.as_str(), cause.message.as_str()),
        ("NotReconciled", "not reconciled yet: created 2s ago")
    );
    assert!(
        stage.hint.as_deref().unwrap().starts_with("kustomize-controller picks new Kustomizations up within seconds")
    );
}

#[test]
fn a_stage_never_reconciled_points_at_the_controller() {
    let mut pre = ks("app-pre-deploy", &[]);
    pre["status"] = json!({});
    let report = run(vec![git_repository(Some(REV)), pre]);
    assert_cause(
        &report,
        "app-pre-deploy",
        StageState::Unknown,
        "Kustomization",
        "app-pre-deploy",
        "NotReconciled",
        &["app-pre-deploy"],
    );
    assert!(stage(&report, "app-pre-deploy").hint.as_deref().unwrap().contains("kustomize-controller"));
}

#[test]
fn a_new_generation_not_yet_applied_is_progressing() {
    let mut pre = ks("app-pre-deploy", &[]);
    pre["metadata"]["generation"] = json!(2);
    let report = run(vec![git_repository(Some(REV)), pre]);
    assert_cause(
        &report,
        "app-pre-deploy",
        StageState::Progressing,
        "Kustomization",
        "app-pre-deploy",
        "GenerationNotObserved",
        &["app-pre-deploy"],
    );
}

#[test]
fn source_not_ready_or_without_artifact_blocks_the_stage() {
    let mut pre = ks("app-pre-deploy", &[]);
    set_ready(&mut pre, "False", "ArtifactFailed", "Source artifact not found, retrying in 30s");
    let mut no_artifact = git_repository(None);
    no_artifact["status"]["conditions"] = json!([condition(
        "Ready",
        "False",
        "GitOperationFailed",
        "failed to checkout and determine revision: authentication required"
    )]);
    let report = run(vec![pre.clone(), no_artifact]);
    assert_cause(
        &report,
        "app-pre-deploy",
        StageState::Blocked,
        "GitRepository",
        "app",
        "ArtifactMissing",
        &["app-pre-deploy"],
    );
    assert!(stage(&report, "app-pre-deploy").root_cause.as_ref().unwrap().message.contains("authentication required"));
    let report = run(vec![pre]);
    assert_cause(
        &report,
        "app-pre-deploy",
        StageState::Blocked,
        "GitRepository",
        "app",
        "SourceNotFound",
        &["app-pre-deploy"],
    );
}

#[test]
fn build_and_apply_failures_are_the_stages_own() {
    let mut build = ks("app-pre-deploy", &[]);
    set_ready(
        &mut build,
        "False",
        "BuildFailed",
        "kustomize build failed: map[string]interface {}(nil): yaml: unmarshal errors:\n  line 3",
    );
    let report = run(vec![git_repository(Some(REV)), build]);
    assert_cause(
        &report,
        "app-pre-deploy",
        StageState::Failed,
        "Kustomization",
        "app-pre-deploy",
        "BuildFailed",
        &["app-pre-deploy"],
    );
    assert!(!stage(&report, "app-pre-deploy").root_cause.as_ref().unwrap().message.contains('\n'));

    let mut apply = ks("app-pre-deploy", &[]);
    set_ready(
        &mut apply,
        "False",
        "ReconciliationFailed",
        "Job/shop/db-migration dry-run failed: admission webhook denied the request",
    );
    let report = run(vec![git_repository(Some(REV)), apply]);
    assert_cause(
        &report,
        "app-pre-deploy",
        StageState::Failed,
        "Kustomization",
        "app-pre-deploy",
        "ReconciliationFailed",
        &["app-pre-deploy"],
    );
}

/// The seed pipeline whose pre-deploy stage (without `force`) failed to apply with `message`.
fn immutable_apply(message: &str) -> Report {
    let mut pre = ks("app-pre-deploy", &[]);
    pre["spec"]["force"] = json!(false);
    set_ready(&mut pre, "False", "ReconciliationFailed", message);
    run(blocked_pipeline(pre, vec![]))
}

#[test]
fn immutable_job_without_force_names_the_job_and_suggests_force() {
    let report = immutable_apply(
        "Job/shop/db-migration dry-run failed (Invalid): Job.batch \"db-migration\" is invalid: spec.template: Invalid value: {\"labels\":{}}: field is immutable\n",
    );
    assert_cause(
        &report,
        "app-post-deploy",
        StageState::Blocked,
        "Job",
        "db-migration",
        "ImmutableField",
        &["app-post-deploy", "app-deploy", "app-pre-deploy"],
    );
    let s = stage(&report, "app-pre-deploy");
    assert!(s.hint.as_deref().unwrap().contains("spec.force: true"));
    // The Job is not in this snapshot: no rerun is named (rerun would not find it).
    assert!(!s.hint.as_deref().unwrap().contains("fluxjobs rerun"), "{:?}", s.hint);
    assert!(s.root_cause.as_ref().unwrap().message.ends_with("Invalid value: {…}: field is immutable"));
    // A Deployment is not something rerun takes.
    let report = immutable_apply(
        "Deployment/shop/app dry-run failed (Invalid): Deployment.apps \"app\" is invalid: spec.selector: Invalid value: {}: field is immutable\n",
    );
    let hint = stage(&report, "app-pre-deploy").hint.clone().unwrap();
    assert!(hint.contains("label the Deployment") && !hint.contains("fluxjobs rerun"), "{hint}");
}

/// Stage app-deploy, whose health check gave up on Deployment/shop/app.
fn deploy_stage_waiting_on_app() -> Value {
    let mut deploy = ks("app-deploy", &[]);
    set_ready(
        &mut deploy,
        "False",
        "HealthCheckFailed",
        "health check failed after 5m0s: timeout waiting for: [Deployment/shop/app status: 'InProgress']",
    );
    deploy["status"]["inventory"]["entries"] = json!([{"id": "shop_app_apps_Deployment", "v": "v1"}]);
    deploy
}

#[test]
fn a_deployment_past_its_progress_deadline_keeps_the_stage_unhealthy() {
    let deploy = deploy_stage_waiting_on_app();
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app", "namespace": NS, "generation": 2},
        "spec": {"selector": {"matchLabels": {"app": "app"}}, "template": {"metadata": {"labels": {"app": "app"}},
                 "spec": {"containers": [{"name": "app", "image": "registry.example.invalid/app:1.0.0"}]}}},
        "status": {"observedGeneration": 2, "replicas": 1, "unavailableReplicas": 1, "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"app-5d9c\" has timed out progressing."}]},
    });
    let report = run(vec![git_repository(Some(REV)), deploy.clone(), deployment.clone()]);
    let s = stage(&report, "app-deploy");
    assert_eq!(s.state, StageState::Failed);
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!(
        (cause.kind.as_str(), cause.name.as_str(), cause.reason.as_str()),
        ("Deployment", "app", "ProgressDeadlineExceeded")
    );
    // With its Pod in the snapshot (found through ReplicaSet app-5d9c, no ReplicaSet needed), the
    // Pod that cannot start is the cause.
    let mut pod =
        pod_of("unused", "app-5d9c-x7k2p", waiting("ImagePullBackOff", "Back-off pulling image \"app:1.0.0\""));
    pod["metadata"]["labels"] = json!({"app": "app", "pod-template-hash": "5d9c"});
    pod["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-5d9c", "uid": "rs-1", "controller": true}]);
    let report = run(vec![git_repository(Some(REV)), deploy, deployment, pod]);
    let cause = stage(&report, "app-deploy").root_cause.clone().unwrap();
    assert_eq!(
        (cause.kind.as_str(), cause.name.as_str(), cause.reason.as_str()),
        ("Pod", "app-5d9c-x7k2p", "ImagePullBackOff")
    );
    assert_eq!(cause.via, ["Deployment/shop/app"]);
}

#[test]
fn warning_events_of_the_job_and_pod_are_attached() {
    let report = run(failed_migration(
        "db-migration-e",
        terminated(1, "Error"),
        vec![
            event("Pod", "db-migration-e", "Warning", "FailedMount", "MountVolume.SetUp failed for volume \"config\""),
            event("Pod", "db-migration-e", "Normal", "Pulled", "Successfully pulled image"),
        ],
    ));
    let cause = stage(&report, "app-pre-deploy").root_cause.clone().unwrap();
    assert_eq!(cause.events, ["FailedMount: MountVolume.SetUp failed for volume \"config\""]);
}

#[test]
fn a_job_image_tag_other_than_the_deployments_is_a_warning() {
    let mut pre = ks("app-pre-deploy", &[]);
    with_jobs(&mut pre, &["db-migration"]);
    let mut deploy = ks("app-deploy", &["app-pre-deploy"]);
    deploy["status"]["inventory"]["entries"] = json!([{"id": "shop_app_apps_Deployment", "v": "v1"}]);
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "app"}}, "template": {"metadata": {"labels": {"app": "app"}},
                 "spec": {"containers": [{"name": "app", "image": "registry.example.invalid/app:2.0.0"}]}}},
        "status": {"availableReplicas": 1, "replicas": 1},
    });
    let complete = job("db-migration", json!([{"type": "Complete", "status": "True", "reason": "CompletionsReached"}]));
    let report = run(vec![git_repository(Some(REV)), pre, deploy, deployment, complete]);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("1.0.0") && report.warnings[0].contains("2.0.0"), "{}", report.warnings[0]);
}

#[test]
fn stage_filter_shows_the_stage_and_its_upstream_and_rejects_unknown_names() {
    let objects = blocked_pipeline(failed_pre_deploy(HEALTH_FAILED), vec![]);
    let report = run_filtered(objects.clone(), Filter { stages: vec!["app-deploy".into()], ..Filter::default() });
    let names: Vec<&str> = report.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["app-pre-deploy", "app-deploy"]);
    let text = json!({"kind": "List", "items": objects}).to_string();
    let snapshot = parse_snapshot(&text, "fixture").unwrap();
    let err = diagnose(&snapshot, &Filter { stages: vec!["nope".into()], ..Filter::default() }).unwrap_err();
    assert!(err.to_string().starts_with("stage \"nope\" not found"), "{err}");
}

/// A ResourceSet of the seed pipeline as flux-operator v0.59.0 writes it: three steps, the
/// migration Job in the first, with the given dependencies and conditions.
fn rset(depends_on: Value, conditions: Value) -> Value {
    let job =
        |name: &str| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS}});
    json!({
        "apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet",
        "metadata": {"name": "release", "namespace": NS, "generation": 1, "creationTimestamp": T0},
        "spec": {"dependsOn": depends_on, "steps": [
            {"name": "pre-deploy", "resources": [job("db-migration")]},
            {"name": "deploy", "resources": [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": NS}}]},
            {"name": "post-deploy", "resources": [job("cache-refresh")]},
        ]},
        "status": {"conditions": conditions},
    })
}

fn rset_job(mut job: Value) -> Value {
    job["metadata"]["labels"] = json!({"resourceset.fluxcd.controlplane.io/name": "release", "resourceset.fluxcd.controlplane.io/namespace": NS});
    job
}

fn rset_stage(report: &Report) -> &StageReport {
    report.stages.iter().find(|s| s.kind == crate::refs::StageKind::ResourceSet).expect("the ResourceSet is shown")
}

#[test]
fn a_failed_resource_set_step_is_traced_to_its_pod() {
    let failed = condition(
        "Ready",
        "False",
        "ReconciliationFailed",
        "reconciliation failed: step \"pre-deploy\" health check failed: failed early due to stalled resources: [Job/shop/db-migration status: 'Failed']\n",
    );
    let report = run(vec![
        rset(json!([]), json!([failed])),
        rset_job(failed_job("db-migration", "BackoffLimitExceeded", "Job has reached the specified backoff limit")),
        pod_of("db-migration", "db-migration-x1", terminated(3, "Error")),
    ]);
    let s = rset_stage(&report);
    assert_eq!(s.state, StageState::Failed);
    let cause = s.root_cause.as_ref().expect("a cause");
    assert_eq!((cause.kind.as_str(), cause.exit_code, cause.step.as_deref()), ("Pod", Some(3), Some("pre-deploy")));
    let steps = s.steps.as_ref().expect("steps");
    let states: Vec<&str> = steps.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["Failed", "NotReached", "NotReached"]);
    assert_eq!(steps[0].root_cause.as_ref(), Some(cause));
    assert_eq!(steps[0].jobs[0].name, "db-migration");
    assert!(s.hint.as_deref().unwrap().contains("kubectl fluxjobs rerun job/db-migration -n shop"), "{:?}", s.hint);
}

#[test]
fn a_resource_set_follows_its_kustomization_dependency_and_skips_existence_only_ones() {
    let blocked = condition(
        "Ready",
        "False",
        "DependencyNotReady",
        "Retrying dependency check: dependency kustomize.toolkit.fluxcd.io/v1/Kustomization/shop/app-pre-deploy not ready: status InProgress",
    );
    let dep = |name: &str, ready: bool| json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": name, "namespace": NS, "ready": ready});
    // app-deploy is only required to exist (no `ready`), so the walk goes on to app-pre-deploy.
    let deps = json!([dep("app-deploy", false), dep("app-pre-deploy", true)]);
    let mut objects = failed_migration("db-migration-x1", terminated(3, "Error"), vec![]);
    objects.push(rset(deps, json!([blocked])));
    let report = run(objects);
    let s = rset_stage(&report);
    assert_eq!(s.state, StageState::Blocked);
    let cause = s.root_cause.as_ref().expect("a cause");
    assert_eq!((cause.kind.as_str(), cause.exit_code), ("Pod", Some(3)));
    assert_eq!(
        s.path.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["ResourceSet/shop/release", "shop/app-pre-deploy"]
    );
    assert!(s.steps.as_ref().unwrap().iter().all(|step| step.state.as_str() == "NotReached"));
    // One pipeline: the ResourceSet joins the Kustomizations it depends on.
    assert_eq!(report.pipelines.len(), 1);
}

#[test]
fn a_resource_set_missing_its_dependency_or_disabled_says_so() {
    let blocked = condition(
        "Ready",
        "False",
        "DependencyNotReady",
        "Retrying dependency check: dependency fluxcd.controlplane.io/v1/ResourceSet/shop/infra not found: resourcesets.fluxcd.controlplane.io \"infra\" not found",
    );
    let dep = json!([{"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet", "name": "infra", "namespace": NS, "ready": true}]);
    let report = run(vec![rset(dep, json!([blocked]))]);
    let cause = rset_stage(&report).root_cause.as_ref().expect("a cause");
    assert_eq!(
        (cause.kind.as_str(), cause.name.as_str(), cause.reason.as_str()),
        ("ResourceSet", "infra", "DependencyNotFound")
    );
    assert_eq!(cause.message, "dependency fluxcd.controlplane.io/v1/ResourceSet/shop/infra not found");

    let mut disabled = rset(json!([]), json!([condition("Ready", "True", "ReconciliationSucceeded", "ok")]));
    disabled["metadata"]["annotations"] = json!({"fluxcd.controlplane.io/reconcile": "Disabled"});
    let report = run(vec![disabled]);
    let s = rset_stage(&report);
    assert_eq!(s.state, StageState::Suspended);
    assert!(s.hint.as_deref().unwrap().contains("fluxcd.controlplane.io/reconcile-"), "{:?}", s.hint);
}

#[test]
fn a_resource_set_job_no_step_can_be_mapped_to_is_a_warning() {
    let mut templated = rset(json!([]), json!([condition("Ready", "True", "ReconciliationSucceeded", "ok")]));
    templated["spec"]["inputsFrom"] = json!([{"name": "tags"}]);
    templated["spec"]["steps"][0]["resources"][0]["metadata"]["name"] =
        json!("db-migration-<< inputs.tag | slugify >>");
    let report =
        run(vec![templated, rset_job(job("db-migration-v2", json!([{"type": "Complete", "status": "True"}])))]);
    let s = rset_stage(&report);
    assert!(s.steps.as_ref().unwrap()[0].unmapped);
    assert_eq!(
        report.warnings,
        [
            "Job/shop/db-migration-v2 of ResourceSet/shop/release is not mapped to a step: its step names objects with templates rendered from input providers or functions"
        ]
    );
}

#[test]
fn a_resource_set_ready_expr_is_evaluated_on_the_dependency_alone() {
    let expr = "status.lastAppliedRevision == 'v2'";
    let blocked = condition(
        "Ready",
        "False",
        "DependencyNotReady",
        &format!(
            "Retrying dependency check: dependency kustomize.toolkit.fluxcd.io/v1/Kustomization/shop/app-pre-deploy not ready: expression '{expr}'"
        ),
    );
    let dep = json!([{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "app-pre-deploy",
                      "namespace": NS, "ready": true, "readyExpr": expr}]);
    let report = run(vec![ks("app-pre-deploy", &[]), rset(dep, json!([blocked]))]);
    let s = rset_stage(&report);
    let cause = s.root_cause.as_ref().expect("a cause");
    assert_eq!((cause.name.as_str(), cause.reason.as_str()), ("app-pre-deploy", "ReadyExprNotMet"));
    assert!(cause.message.ends_with(&format!("expression '{expr}' (false here too)")), "{}", cause.message);
    assert_eq!(s.ready_exprs.len(), 1);
    assert_eq!(s.ready_exprs[0].value, Some(false));
}

/// A HelmRelease `name` in NS from OCIRepository `name`, Ready for generation 1.
fn hr(name: &str, depends_on: &[&str]) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "creationTimestamp": T0},
        "spec": {
            "dependsOn": depends_on.iter().map(|d| json!({"name": d})).collect::<Vec<_>>(),
            "chartRef": {"kind": "OCIRepository", "name": name}, "interval": "60m",
        },
        "status": {
            "observedGeneration": 1,
            "lastAttemptedRevision": "1.2.0+cdbfaee5f38d",
            "conditions": [{"type": "Ready", "status": "True", "reason": "InstallSucceeded", "observedGeneration": 1,
                            "message": format!("Helm install succeeded for release {NS}/{name}.v1 with chart my-app@1.2.0+cdbfaee5f38d"),
                            "lastTransitionTime": T0}],
        },
    })
}

/// helm-controller's message for a pre-install hook Job that failed (internal/reconcile/install.go,
/// with Helm v4's pkg/kube/statuswait.go), as the e2e scenario on the real controller shows it.
fn hook_failed(name: &str, job: &str) -> String {
    format!(
        "Helm install failed for release {NS}/{name} with chart my-app@1.2.0+cdbfaee5f38d: failed pre-install: failed early due to stalled resources: [Job/{NS}/{job} status: 'Failed']"
    )
}

fn hook_job(release: &str, name: &str) -> Value {
    let mut job = failed_job(name, "BackoffLimitExceeded", "Job has reached the specified backoff limit");
    job["metadata"]["labels"] = json!({"helm.toolkit.fluxcd.io/name": release, "helm.toolkit.fluxcd.io/namespace": NS});
    job["metadata"]["annotations"] = json!({"helm.sh/hook": "pre-install,pre-upgrade"});
    job
}

#[test]
fn a_failed_hook_of_a_helm_release_is_followed_to_its_pod() {
    let mut release = hr("my-app", &[]);
    release["status"]["conditions"] = json!([
        condition("Stalled", "True", "RetriesExceeded", "Failed to install after 1 attempt(s)"),
        condition("Ready", "False", "InstallFailed", &hook_failed("my-app", "my-app-db-migrate")),
    ]);
    release["status"]["history"] = json!([{"name": "my-app", "version": 1, "status": "failed", "action": "install"}]);
    let mut dependent = hr("my-web", &["my-app"]);
    dependent["status"]["conditions"] =
        json!([condition("Ready", "False", "DependencyNotReady", &format!("dependency '{NS}/my-app' is not ready"))]);
    let objects = vec![
        release,
        dependent,
        hook_job("my-app", "my-app-db-migrate"),
        pod_of("my-app-db-migrate", "my-app-db-migrate-x1", terminated(3, "Error")),
    ];
    let report = run(objects);
    let s = report.stages.iter().find(|s| s.name == "my-app").unwrap();
    assert_eq!(s.state, StageState::Failed);
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.name.as_str(), cause.exit_code), ("Pod", "my-app-db-migrate-x1", Some(3)));
    assert_eq!(cause.via, vec![crate::refs::ObjectRef::new("Job", NS, "my-app-db-migrate")]);
    let hint = s.hint.as_deref().unwrap();
    // The failed install is in Helm's storage: a forced reconcile upgrades, and the hook is also
    // pre-upgrade, so rerun of the Job runs it (the fixture's `run` checks the planner accepts it).
    let again =
        "then kubectl fluxjobs rerun job/my-app-db-migrate -n shop (a forced upgrade of the release runs it again)";
    assert!(hint.ends_with(again), "{hint}");
    assert!(
        hint.starts_with("helm-controller will not try again until the chart, values or spec change (Failed to install after 1 attempt(s))"),
        "{hint}"
    );
    assert_eq!(s.jobs.len(), 1, "the hook Job, found by helm-controller's labels");
    // Its dependent is Blocked by it, down to the same pod.
    let web = report.stages.iter().find(|s| s.name == "my-web").unwrap();
    assert_eq!(web.state, StageState::Blocked);
    let path: Vec<String> = web.path.iter().map(ToString::to_string).collect();
    assert_eq!(path, [format!("HelmRelease/{NS}/my-web"), format!("HelmRelease/{NS}/my-app")]);
    assert_eq!(web.root_cause.as_ref().unwrap().name, "my-app-db-migrate-x1");
}

#[test]
fn a_helm_release_hook_gone_a_missing_dependency_and_the_plain_states() {
    // The hook Job the message names is gone (its hook-delete-policy, or remediation).
    let mut release = hr("my-app", &[]);
    release["status"]["conditions"] =
        json!([condition("Ready", "False", "InstallFailed", &hook_failed("my-app", "my-app-db-migrate"))]);
    let report = run(vec![release]);
    let cause = report.stages[0].root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.reason.as_str()), ("Job", "JobDeleted"), "{cause:?}");
    // A dependency that does not exist.
    let mut dependent = hr("my-web", &["my-db"]);
    dependent["status"]["conditions"] =
        json!([condition("Ready", "False", "DependencyNotReady", &format!("dependency '{NS}/my-db' is not ready"))]);
    let report = run(vec![dependent]);
    let cause = report.stages[0].root_cause.as_ref().unwrap();
    assert_eq!((cause.name.as_str(), cause.reason.as_str()), ("my-db", "DependencyNotFound"));
    let expected =
        format!("unable to get '{NS}/my-db' dependency: helmreleases.helm.toolkit.fluxcd.io \"my-db\" not found");
    assert_eq!(cause.message, expected);
    let hint = report.stages[0].hint.as_deref().unwrap();
    assert!(hint.starts_with(&format!("create HelmRelease {NS}/my-db, or remove it")), "{hint}");
    // A readyExpr helm-controller found false: its verdict, on the dependency.
    let mut dependent = hr("my-web", &[]);
    dependent["spec"]["dependsOn"] =
        json!([{"name": "my-app", "readyExpr": "dep.status.lastAttemptedRevision == '2.0.0'"}]);
    let unmet = format!("dependency '{NS}/my-app' is not ready according to readyExpr eval");
    dependent["status"]["conditions"] = json!([condition("Ready", "False", "DependencyNotReady", &unmet)]);
    let report = run(vec![hr("my-app", &[]), dependent]);
    let web = report.stages.iter().find(|s| s.name == "my-web").unwrap();
    let cause = web.root_cause.as_ref().unwrap();
    assert_eq!(
        (cause.name.as_str(), cause.reason.as_str(), cause.message.as_str()),
        ("my-app", "ReadyExprNotMet", unmet.as_str())
    );
    // Ready, suspended, working, and Ready for an older generation.
    let ready = run(vec![hr("my-app", &[])]);
    assert_eq!(ready.stages[0].state, StageState::Ready);
    let mut suspended = hr("my-app", &[]);
    suspended["spec"]["suspend"] = json!(true);
    let report = run(vec![suspended]);
    assert_eq!(report.stages[0].state, StageState::Suspended);
    assert!(report.stages[0].hint.as_deref().unwrap().contains("flux resume helmrelease my-app"));
    let mut working = hr("my-app", &[]);
    working["status"]["conditions"] = json!([condition("Ready", "Unknown", "Progressing", "Fulfilling prerequisites")]);
    assert_eq!(run(vec![working]).stages[0].state, StageState::Progressing);
    // The chart source not ready for its new generation: Blocked by it.
    let mut waiting = hr("my-app", &[]);
    let message =
        format!("OCIRepository '{NS}/my-app' is not ready: latest generation of object has not been reconciled");
    waiting["status"]["conditions"] = json!([condition("Ready", "False", "SourceNotReady", &message)]);
    let report = run(vec![waiting]);
    assert_eq!(report.stages[0].state, StageState::Blocked);
    let cause = report.stages[0].root_cause.as_ref().unwrap();
    assert_eq!(
        (cause.kind.as_str(), cause.name.as_str(), cause.message.as_str()),
        ("OCIRepository", "my-app", message.as_str())
    );
    let mut newer = hr("my-app", &[]);
    newer["metadata"]["generation"] = json!(2);
    assert_eq!(run(vec![newer]).stages[0].state, StageState::Progressing);
}

/// A Kustomization stage that applies a HelmRelease and health-checks it: its failed health check
/// names the HelmRelease, and the walk goes on into it, down to the hook's pod.
#[test]
fn a_health_check_naming_a_helm_release_continues_into_it() {
    let mut release = hr("my-app", &[]);
    release["status"]["conditions"] =
        json!([condition("Ready", "False", "InstallFailed", &hook_failed("my-app", "my-app-db-migrate"))]);
    let mut apps = ks("apps", &[]);
    let health = format!(
        "health check failed after 5.3s: failed early due to stalled resources: [HelmRelease/{NS}/my-app status: 'Failed']"
    );
    set_ready(&mut apps, "False", "HealthCheckFailed", &health);
    let mut smoke = ks("smoke-tests", &["apps"]);
    blocked_on(&mut smoke, "apps");
    let objects = vec![
        apps,
        smoke,
        release,
        git_repository(Some(REV)),
        hook_job("my-app", "my-app-db-migrate"),
        pod_of("my-app-db-migrate", "my-app-db-migrate-x1", terminated(3, "Error")),
    ];
    let report = run(objects);
    let smoke = stage(&report, "smoke-tests");
    assert_eq!(smoke.state, StageState::Blocked);
    let path: Vec<String> = smoke.path.iter().map(ToString::to_string).collect();
    assert_eq!(path, [format!("{NS}/smoke-tests"), format!("{NS}/apps"), format!("HelmRelease/{NS}/my-app")]);
    let cause = smoke.root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.exit_code), ("Pod", Some(3)), "{cause:?}");
    let apps = stage(&report, "apps");
    assert_eq!(apps.state, StageState::Failed);
    assert_eq!(apps.root_cause.as_ref().unwrap().name, "my-app-db-migrate-x1");
}

/// `reconcile hr/my-app` walks what it depends on and the Kustomization that applies it (its spec
/// comes from there) before it; `status` groups and orders by dependsOn alone.
#[test]
fn reconcile_walks_the_stage_that_applies_a_release_before_it() {
    let mut app = hr("my-app", &["my-db"]);
    app["metadata"]["labels"] =
        json!({"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": NS});
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [app, hr("my-db", &[]), ks("apps", &[]), ks("other", &[])]});
    let snapshot = parse_snapshot(&objects.to_string(), "fixture").unwrap();
    let graph = crate::engine::Graph::new(&snapshot);
    let target = crate::refs::StageId::new(crate::refs::StageKind::HelmRelease, NS, "my-app");
    let plan: Vec<String> = graph.plan(&target, false).iter().map(|id| id.to_string()).collect();
    let at = |id: String| plan.iter().position(|p| *p == id).unwrap_or_else(|| panic!("{id} not in {plan:?}"));
    let (apps, db, app) =
        (at(format!("{NS}/apps")), at(format!("HelmRelease/{NS}/my-db")), at(format!("HelmRelease/{NS}/my-app")));
    assert!(plan.len() == 3 && apps < app && db < app, "{plan:?}");
}

/// A `pre-install`-only hook after a failed install: a forced reconcile upgrades, which does not
/// run it, so the hint says what would instead of naming a rerun the planner refuses; a hook Job
/// that is gone is run again through its release.
#[test]
fn a_failed_hook_the_forced_action_does_not_run_gets_the_way_that_does() {
    let failed_release = |hook: Option<&str>| {
        let mut release = hr("my-app", &[]);
        release["status"]["conditions"] =
            json!([condition("Ready", "False", "InstallFailed", &hook_failed("my-app", "my-app-db-migrate"))]);
        release["status"]["history"] = json!([{"name": "my-app", "version": 1, "status": "failed"}]);
        let mut objects = vec![release];
        if let Some(events) = hook {
            let mut job = hook_job("my-app", "my-app-db-migrate");
            job["metadata"]["annotations"]["helm.sh/hook"] = events.into();
            objects.push(job);
        }
        run(objects)
    };
    let report = failed_release(Some("pre-install"));
    let hint = stage(&report, "my-app").hint.clone().unwrap();
    assert!(hint.contains("only an install runs it again") && hint.contains("helm uninstall my-app -n shop"), "{hint}");
    assert!(!hint.contains("rerun job/"), "{hint}");
    let report = failed_release(None);
    let s = stage(&report, "my-app");
    assert_eq!(s.root_cause.as_ref().unwrap().reason, crate::report::Reason::JobDeleted);
    assert!(s.hint.as_deref().unwrap().ends_with("then kubectl fluxjobs rerun hr/my-app -n shop"), "{:?}", s.hint);
}

/// After a rollback remediation, Ready carries the rollback's message and Released still names the
/// failed post-upgrade hook (helm-controller `summarize`): the cause is the hook's pod, and the hint
/// says the release was rolled back.
#[test]
fn a_hook_failure_rolled_back_by_remediation_is_still_the_root_cause() {
    let mut release = hr("my-app", &[]);
    let upgrade_failed = format!(
        "Helm upgrade failed for release {NS}/my-app with chart my-app@1.3.0+0f3e: post-upgrade hooks failed: failed early due to stalled resources: [Job/{NS}/my-app-db-migrate status: 'Failed']"
    );
    let rolled_back =
        format!("Helm rollback to previous release {NS}/my-app.v1 with chart my-app@1.2.0+cdbfaee5f38d succeeded");
    release["status"]["conditions"] = json!([
        condition("Ready", "False", "RollbackSucceeded", &rolled_back),
        condition("Released", "False", "UpgradeFailed", &upgrade_failed),
        condition("Remediated", "True", "RollbackSucceeded", &rolled_back),
    ]);
    release["status"]["history"] = json!([{"version": 3, "status": "deployed"}, {"version": 2, "status": "failed"}]);
    let mut job = hook_job("my-app", "my-app-db-migrate");
    job["metadata"]["annotations"]["helm.sh/hook"] = "post-install,post-upgrade".into();
    let report = run(vec![release, job, pod_of("my-app-db-migrate", "my-app-db-migrate-x1", terminated(3, "Error"))]);
    let s = stage(&report, "my-app");
    assert_eq!(s.root_cause.as_ref().unwrap().exit_code, Some(3));
    let hint = s.hint.as_deref().unwrap();
    assert!(hint.starts_with(&format!("helm-controller rolled back: {rolled_back}; ")), "{hint}");
    assert!(
        hint.ends_with(
            "kubectl fluxjobs rerun job/my-app-db-migrate -n shop (a forced upgrade of the release runs it again)"
        ),
        "{hint}"
    );
}

/// A test hook that is a bare Pod: the cause is that Pod, with nothing above it.
#[test]
fn a_failed_bare_test_pod_is_the_root_cause() {
    let mut release = hr("my-app", &[]);
    let message = format!(
        "Helm test failed for release {NS}/my-app.v1 with chart my-app@1.2.0+cdbfaee5f38d: failed early due to stalled resources: [Pod/{NS}/my-app-smoke status: 'Failed']"
    );
    release["status"]["conditions"] = json!([condition("Ready", "False", "TestFailed", &message)]);
    let mut pod = pod_of("unused", "my-app-smoke", terminated(1, "Error"));
    pod["metadata"].as_object_mut().unwrap().remove("ownerReferences");
    let report = run(vec![release, pod]);
    let cause = stage(&report, "my-app").root_cause.clone().unwrap();
    assert_eq!((cause.kind.as_str(), cause.name.as_str(), cause.exit_code), ("Pod", "my-app-smoke", Some(1)));
    assert!(cause.via.is_empty(), "{:?}", cause.via);
}

/// A HelmRelease with `spec.chart`: helm-controller waits for the HelmChart it made, whose
/// HelmRepository cannot fetch its index. The cause is the HelmRepository, via the HelmChart.
#[test]
fn a_chart_template_waits_for_its_helm_chart_down_to_the_helm_repository() {
    let mut release = hr("my-app", &[]);
    release["spec"].as_object_mut().unwrap().remove("chartRef");
    release["spec"]["chart"] =
        json!({"spec": {"chart": "my-app", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}});
    let waiting = format!("HelmChart '{NS}/{NS}-my-app' is not ready: chart pull error");
    release["status"]["conditions"] = json!([condition("Ready", "False", "SourceNotReady", &waiting)]);
    let chart = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "metadata": {"name": format!("{NS}-my-app"), "namespace": NS},
        "spec": {"chart": "my-app", "sourceRef": {"kind": "HelmRepository", "name": "charts"}},
        "status": {"conditions": [condition("Ready", "False", "ChartPullError", "chart pull error")]},
    });
    let index_error = "failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch https://charts.example.invalid/index.yaml : 404 Not Found";
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "charts", "namespace": NS},
        "status": {"conditions": [condition("Ready", "False", "FailedArtifact", index_error)]},
    });
    let report = run(vec![release.clone(), chart.clone(), repository]);
    let s = stage(&report, "my-app");
    assert_eq!(s.state, StageState::Blocked);
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.name.as_str()), ("HelmRepository", "charts"));
    assert!(cause.message.contains("404 Not Found"), "{}", cause.message);
    assert_eq!(cause.via, vec![crate::refs::ObjectRef::new("HelmChart", NS, format!("{NS}-my-app"))]);
    assert_eq!(s.source.as_ref().map(|s| s.kind.as_str()), Some("HelmChart"));
    // Without the HelmRepository read (an older dump), the HelmChart's own condition.
    let report = run(vec![release, chart]);
    let cause = stage(&report, "my-app").root_cause.clone().unwrap();
    assert_eq!(
        (cause.kind.as_str(), cause.message.as_str()),
        ("HelmChart", "the source has no artifact: chart pull error")
    );
}

/// A release's Deployment that Helm's wait gave up on is the cause; the hook Job running another
/// tag of the same image than the release's Deployment gets the image-skew warning.
#[test]
fn a_release_deployment_helm_waited_for_is_the_cause_and_hook_images_are_compared() {
    let mut release = hr("my-app", &[]);
    let message = format!(
        "Helm upgrade failed for release {NS}/my-app with chart my-app@1.3.0+0f3e: resource Deployment/{NS}/my-app not ready. status: InProgress, message: Available: 0/1\ncontext deadline exceeded"
    );
    release["status"]["conditions"] = json!([condition("Ready", "False", "UpgradeFailed", &message)]);
    let labels = json!({"helm.toolkit.fluxcd.io/name": "my-app", "helm.toolkit.fluxcd.io/namespace": NS});
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "my-app", "namespace": NS, "generation": 2, "labels": labels},
        "spec": {"selector": {"matchLabels": {"app": "my-app"}}, "template": {"metadata": {"labels": {"app": "my-app"}},
                 "spec": {"containers": [{"name": "app", "image": "registry.example.invalid/app:1.2.0"}]}}},
        "status": {"observedGeneration": 2, "replicas": 1, "unavailableReplicas": 1, "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}]},
    });
    let mut hook = hook_job("my-app", "my-app-db-migrate");
    hook["status"] = json!({"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1});
    hook["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.invalid/app:1.3.0".into();
    let report = run(vec![release, deployment, hook]);
    let s = stage(&report, "my-app");
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.name.as_str()), ("Deployment", "my-app"), "{cause:?}");
    assert!(s.hint.as_deref().unwrap().ends_with("then kubectl fluxjobs rerun hr/my-app -n shop"), "{:?}", s.hint);
    assert!(
        report.warnings.iter().any(|w| w.starts_with("Job shop/my-app-db-migrate (stage HelmRelease/shop/my-app) runs registry.example.invalid/app:1.3.0 but Deployment shop/my-app runs registry.example.invalid/app:1.2.0")),
        "{:?}",
        report.warnings
    );
}

/// A `wait: true` Kustomization whose health check runs while the HelmRelease it applied runs its
/// hook: its inventory leads into the release, and the release to the hook Job still running.
#[test]
fn a_running_health_check_leads_into_the_applied_release_and_its_running_hook() {
    let mut apps = ks("apps", &[]);
    set_ready(&mut apps, "Unknown", "Progressing", "Reconciliation in progress");
    apps["status"]["inventory"]["entries"] =
        json!([{"id": format!("{NS}_my-app_helm.toolkit.fluxcd.io_HelmRelease"), "v": "v2"}]);
    let mut smoke = ks("smoke-tests", &["apps"]);
    blocked_on(&mut smoke, "apps");
    let mut release = hr("my-app", &[]);
    release["status"]["conditions"] =
        json!([condition("Ready", "Unknown", "Progressing", "Running 'install' action with timeout of 5m0s")]);
    let mut hook = hook_job("my-app", "my-app-db-migrate");
    hook["status"] = json!({"active": 1, "startTime": T0});
    let objects = vec![
        git_repository(Some(REV)),
        apps,
        smoke,
        release,
        hook,
        pod_of("my-app-db-migrate", "my-app-db-migrate-x1", running()),
    ];
    let report = run(objects);
    let s = stage(&report, "smoke-tests");
    assert_eq!(
        s.path.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        [format!("{NS}/smoke-tests"), format!("{NS}/apps"), format!("HelmRelease/{NS}/my-app")]
    );
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.name.as_str()), ("Job", "my-app-db-migrate"), "{cause:?}");
    assert_eq!(cause.reason, crate::report::Reason::JobRunning);
    assert!(
        cause.message.ends_with("helm-controller: Running 'install' action with timeout of 5m0s"),
        "{}",
        cause.message
    );
}

fn pod_set(kind: &str, name: &str, status: Value, spec_extra: Value) -> Value {
    let mut spec = json!({"selector": {"matchLabels": {"app": name}},
                          "template": {"metadata": {"labels": {"app": name}},
                                       "spec": {"containers": [{"name": name, "image": format!("registry.example.invalid/{name}:1")}]}}});
    for (k, v) in spec_extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": NS, "generation": 1},
           "spec": spec, "status": status})
}

fn owned_pod(owner_kind: &str, owner: &str, pod: &str, status: Value) -> Value {
    let mut p = pod_of("unused", pod, status);
    p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner, "uid": format!("{owner}-uid"), "controller": true}]);
    p
}

/// A StatefulSet a health check waits on: its pod that runs but is not Ready is the cause (via the
/// set); without pods, the set with how many replicas are ready; a partitioned rollout says so.
#[test]
fn a_stateful_set_that_is_not_ready_is_followed_to_its_pod_or_said_as_a_rollout() {
    let mut db = ks("db", &[]);
    set_ready(
        &mut db,
        "False",
        "HealthCheckFailed",
        &format!("health check failed after 30s: timeout waiting for: [StatefulSet/{NS}/db status: 'InProgress']"),
    );
    db["status"]["inventory"]["entries"] = json!([{"id": format!("{NS}_db_apps_StatefulSet"), "v": "v1"}]);
    let set = pod_set(
        "StatefulSet",
        "db",
        json!({"replicas": 1, "readyReplicas": 0, "currentRevision": "db-1", "updateRevision": "db-1"}),
        json!({"replicas": 1}),
    );
    let not_ready = json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [db]"}],
        "containerStatuses": [{"name": "db", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {"startedAt": T0}}}]});
    let report = run(vec![
        git_repository(Some(REV)),
        db.clone(),
        set.clone(),
        owned_pod("StatefulSet", "db", "db-0", not_ready),
    ]);
    let s = stage(&report, "db");
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!(
        (cause.kind.as_str(), cause.name.as_str(), cause.reason.as_str()),
        ("Pod", "db-0", "ContainersNotReady")
    );
    assert_eq!(cause.via, [format!("StatefulSet/{NS}/db")]);
    assert!(s.hint.as_deref().unwrap().contains("kubectl describe pod db-0 -n shop"), "{:?}", s.hint);
    // No pods read: the set itself.
    let report = run(vec![git_repository(Some(REV)), db.clone(), set]);
    let cause = stage(&report, "db").root_cause.clone().unwrap();
    assert_eq!(
        (cause.kind.as_str(), cause.reason.as_str(), cause.message.as_str()),
        ("StatefulSet", "ReplicasNotReady", "0 of 1 replicas ready")
    );
    assert_eq!(stage(&report, "db").hint.as_deref(), Some("kubectl rollout status statefulset/db -n shop"));
    // All ready, but a partition holds the rollout back.
    let partitioned = pod_set(
        "StatefulSet",
        "db",
        json!({"replicas": 3, "readyReplicas": 3, "updatedReplicas": 1, "currentRevision": "db-1", "updateRevision": "db-2"}),
        json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}),
    );
    let report = run(vec![git_repository(Some(REV)), db, partitioned]);
    let cause = stage(&report, "db").root_cause.clone().unwrap();
    assert_eq!(cause.reason.as_str(), "RolloutIncomplete");
    assert!(
        cause.message.starts_with("1 of 3 replicas at revision db-2 (current db-1); rollingUpdate.partition 1"),
        "{}",
        cause.message
    );
}

/// A DaemonSet with unavailable pods: the pod that cannot pull its image, via the set.
#[test]
fn a_daemon_set_with_unavailable_pods_is_followed_to_its_pod() {
    let mut agent = ks("agent", &[]);
    set_ready(&mut agent, "Unknown", "Progressing", "Reconciliation in progress");
    agent["status"]["inventory"]["entries"] = json!([{"id": format!("{NS}_agent_apps_DaemonSet"), "v": "v1"}]);
    let set = pod_set(
        "DaemonSet",
        "agent",
        json!({"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberMisscheduled": 0, "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 2}),
        json!({}),
    );
    let pod = owned_pod(
        "DaemonSet",
        "agent",
        "agent-x1",
        waiting("ImagePullBackOff", "Back-off pulling image \"registry.example.invalid/agent:1\""),
    );
    let report = run(vec![git_repository(Some(REV)), agent.clone(), set.clone(), pod]);
    let cause = stage(&report, "agent").root_cause.clone().unwrap();
    assert_eq!((cause.kind.as_str(), cause.reason.as_str()), ("Pod", "ImagePullBackOff"));
    assert_eq!(cause.via, [format!("DaemonSet/{NS}/agent")]);
    let report = run(vec![git_repository(Some(REV)), agent, set]);
    let cause = stage(&report, "agent").root_cause.clone().unwrap();
    assert_eq!((cause.kind.as_str(), cause.message.as_str()), ("DaemonSet", "1 of 2 pods available"));
}

/// A health check naming an operator's custom resource (a cert-manager Certificate): kept from the
/// dump because it is named (another one is not), and its own condition is the cause.
#[test]
fn a_custom_resource_a_health_check_names_is_the_cause_with_its_condition() {
    let mut app = ks("app", &[]);
    set_ready(
        &mut app,
        "False",
        "HealthCheckFailed",
        &format!(
            "health check failed after 1m0s: timeout waiting for: [Certificate/{NS}/app-tls status: 'InProgress']"
        ),
    );
    let certificate = |name: &str| {
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name, "namespace": NS},
               "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "DoesNotExist",
                                          "message": "Issuing certificate as Secret does not exist"}]}})
    };
    let other = json!({"apiVersion": "example.com/v1", "kind": "Odd", "metadata": {"name": "x", "namespace": NS}, "status": "fine"});
    let report = run(vec![git_repository(Some(REV)), app, certificate("app-tls"), certificate("unrelated"), other]);
    let s = stage(&report, "app");
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!(
        (cause.kind.as_str(), cause.name.as_str(), cause.reason.as_str()),
        ("Certificate", "app-tls", "DoesNotExist")
    );
    assert_eq!(cause.message, "Ready False: Issuing certificate as Secret does not exist");
    assert_eq!(s.hint.as_deref(), Some("kubectl describe certificate.cert-manager.io app-tls -n shop"));
    let text = json!({"apiVersion": "v1", "kind": "List", "items": [certificate("unrelated")]}).to_string();
    assert!(parse_snapshot(&text, "t").unwrap().named_objects.is_empty(), "an object no stage names is not kept");
    // One a stage's inventory lists is kept too.
    let mut owner = ks("certs", &[]);
    owner["status"]["inventory"]["entries"] =
        json!([{"id": format!("{NS}_unrelated_cert-manager.io_Certificate"), "v": "v1"}]);
    let text = json!({"apiVersion": "v1", "kind": "List", "items": [owner, certificate("unrelated")]}).to_string();
    assert_eq!(parse_snapshot(&text, "t").unwrap().named_objects.len(), 1, "an object an inventory lists is kept");
}

/// A Kustomization's dependsOn names a HelmRelease: kustomize-controller looks for a Kustomization
/// of that name and finds none; the hint says dependsOn names Kustomizations only.
#[test]
fn a_depends_on_naming_another_kind_says_so() {
    let mut app = ks("app", &["my-db"]);
    set_ready(
        &mut app,
        "False",
        "DependencyNotReady",
        &format!(
            "unable to get '{NS}/my-db' dependency: kustomizations.kustomize.toolkit.fluxcd.io \"my-db\" not found"
        ),
    );
    let report = run(vec![git_repository(Some(REV)), app, hr("my-db", &[])]);
    let s = stage(&report, "app");
    assert_eq!(s.root_cause.as_ref().unwrap().reason, crate::report::Reason::DependencyNotFound);
    let hint = s.hint.as_deref().unwrap();
    assert!(
        hint.starts_with(&format!(
            "Kustomization dependsOn can name only Kustomizations, and HelmRelease/{NS}/my-db is a HelmRelease"
        )),
        "{hint}"
    );
}

/// `status.history`: the failing entries at the front give since when and how many attempts; the
/// newest success its revision and time (kustomize-controller's `revision` metadata).
#[test]
fn status_history_says_since_when_a_stage_fails_and_its_last_success() {
    let mut app = ks("app", &[]);
    set_ready(&mut app, "False", "HealthCheckFailed", "health check failed after 5.0s");
    app["status"]["history"] = json!([
        {"digest": "sha256:3", "firstReconciled": "2026-11-24T10:10:00Z", "lastReconciled": "2026-11-24T10:40:00Z",
         "lastReconciledStatus": "HealthCheckFailed", "totalReconciliations": 4, "metadata": {"revision": "main@sha1:3"}},
        {"digest": "sha256:2", "firstReconciled": "2026-11-24T10:05:00Z", "lastReconciled": "2026-11-24T10:06:00Z",
         "lastReconciledStatus": "ReconciliationFailed", "totalReconciliations": 2, "metadata": {"revision": "main@sha1:2"}},
        {"digest": "sha256:1", "firstReconciled": "2026-11-24T09:00:00Z", "lastReconciled": "2026-11-24T10:00:00Z",
         "lastReconciledStatus": "ReconciliationSucceeded", "totalReconciliations": 9, "metadata": {"revision": "main@sha1:1"}},
    ]);
    let report = run(vec![git_repository(Some(REV)), app]);
    let history = stage(&report, "app").history.clone().unwrap();
    assert_eq!(history.failing_since.map(|t| t.to_string()).as_deref(), Some("2026-11-24T10:05:00Z"));
    assert_eq!(history.failed_attempts, 6);
    let ok = history.last_success.unwrap();
    assert_eq!(
        (ok.revision.as_deref(), ok.time.map(|t| t.to_string())),
        (Some("main@sha1:1"), Some("2026-11-24T10:00:00Z".into()))
    );
    // A HelmRelease's releases: failed ones in front, the last deployed one its success.
    let mut release = hr("my-app", &[]);
    release["status"]["history"] = json!([
        {"version": 3, "status": "failed", "chartVersion": "1.3.0", "firstDeployed": "2026-11-24T09:00:00Z", "lastDeployed": "2026-11-24T10:20:00Z"},
        {"version": 2, "status": "deployed", "chartVersion": "1.2.0", "firstDeployed": "2026-11-24T09:00:00Z", "lastDeployed": "2026-11-24T09:30:00Z"},
    ]);
    let report = run(vec![release]);
    let history = stage(&report, "my-app").history.clone().unwrap();
    assert_eq!(history.failed_attempts, 1);
    assert_eq!(history.failing_since.map(|t| t.to_string()).as_deref(), Some("2026-11-24T10:20:00Z"));
    assert_eq!(history.last_success.unwrap().revision.as_deref(), Some("1.2.0"));
}

/// A health check canceled by a new reconciliation: Progressing, and the hint names the trigger.
#[test]
fn a_canceled_health_check_names_what_interrupted_it() {
    let mut app = ks("app", &[]);
    set_ready(
        &mut app,
        "False",
        "HealthCheckCanceled",
        &format!("New reconciliation triggered by GitRepository/{NS}/app"),
    );
    let report = run(vec![git_repository(Some(REV)), app]);
    let s = stage(&report, "app");
    assert_eq!(s.state, StageState::Progressing);
    assert!(
        s.hint.as_deref().unwrap().starts_with("nothing to fix: GitRepository/shop/app started a new reconciliation"),
        "{:?}",
        s.hint
    );
}

/// The seed pipeline whose pre-deploy stage applies to another cluster (`spec.kubeConfig` with
/// `kube_config`), its health check failed on a Job there; `remote` is what was read of that
/// cluster, if anything.
fn remote_pipeline(kube_config: Value, remote: Option<crate::model::RemoteCluster>) -> Report {
    let mut pre = failed_pre_deploy(HEALTH_FAILED);
    pre["spec"]["kubeConfig"] = kube_config;
    let mut objects = blocked_pipeline(pre, vec![]);
    objects.push(event("Namespace", NS, "Normal", "Clock", "fixes the snapshot time"));
    let text = json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string();
    let mut snapshot = parse_snapshot(&text, "fixture").expect("fixture parses");
    snapshot.remotes.extend(remote);
    diagnose(&snapshot, &Filter::default()).expect("diagnosis")
}

fn east(workloads: Result<Vec<Value>, String>) -> crate::model::RemoteCluster {
    crate::model::RemoteCluster {
        secret: crate::refs::NamespacedName::new(NS, "east-kubeconfig"),
        server: Some("https://east.example:6443".into()),
        workloads: workloads.map(|objects| {
            let text = json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string();
            Box::new(parse_snapshot(&text, "east").expect("east parses"))
        }),
    }
}

#[test]
fn a_stage_applying_to_another_cluster_not_read_names_that_cluster_never_missing() {
    let report = remote_pipeline(json!({"secretRef": {"name": "east-kubeconfig"}}), None);
    let pre = stage(&report, "app-pre-deploy");
    assert!(pre.jobs.is_empty(), "no Job is missing: {:?}", pre.jobs);
    let cause = pre.root_cause.as_ref().unwrap();
    assert_eq!(cause.reason.as_str(), "RemoteCluster");
    assert_eq!((cause.kind.as_str(), cause.name.as_str()), ("Kustomization", "app-pre-deploy"));
    assert_eq!(cause.message, HEALTH_FAILED, "the controller's own words");
    assert_eq!(
        pre.diagnosis(NS).as_deref(),
        Some("HealthCheckFailed in another cluster (kubeConfig Secret shop/east-kubeconfig)")
    );
    let hint = pre.hint.as_deref().unwrap();
    assert!(hint.contains("Secret shop/east-kubeconfig") && hint.contains("--follow-kubeconfig"), "{hint}");
    let remote = pre.remote.as_ref().unwrap();
    assert_eq!((remote.secret.as_deref(), remote.followed), (Some("shop/east-kubeconfig"), false));
    // Downstream stages are blocked by it, saying the same.
    let post = stage(&report, "app-post-deploy");
    assert_eq!(post.root_cause.as_ref().unwrap().reason.as_str(), "RemoteCluster");
}

#[test]
fn a_stage_applying_to_another_cluster_that_was_read_is_diagnosed_there() {
    let pod = pod_of("db-migration", "db-migration-x1", terminated(3, "Error"));
    let job = failed_job("db-migration", "BackoffLimitExceeded", BACKOFF_MESSAGE);
    let report = remote_pipeline(json!({"secretRef": {"name": "east-kubeconfig"}}), Some(east(Ok(vec![job, pod]))));
    let pre = stage(&report, "app-pre-deploy");
    assert_cause(&report, "app-pre-deploy", StageState::Failed, "Pod", "db-migration-x1", "Error", &["app-pre-deploy"]);
    let cause = pre.root_cause.as_ref().unwrap();
    assert_eq!((cause.exit_code, cause.cluster.as_deref()), (Some(3), Some("https://east.example:6443")));
    assert_eq!(pre.jobs.len(), 1, "the Job of that cluster");
    let hint = pre.hint.as_deref().unwrap();
    assert!(
        hint.starts_with("in the cluster at https://east.example:6443 (kubeConfig Secret shop/east-kubeconfig): "),
        "{hint}"
    );
    assert!(
        hint.contains("delete job db-migration -n shop) and kubectl fluxjobs reconcile app-pre-deploy -n shop"),
        "a rerun here would reach the wrong cluster: {hint}"
    );
    assert!(!hint.contains("kubectl fluxjobs rerun"), "{hint}");
    assert!(pre.remote.as_ref().unwrap().followed);
}

#[test]
fn another_cluster_that_could_not_be_read_or_workload_identity_is_said_so() {
    let error = "cannot reach the Kubernetes API server at https://kubernetes.default.svc: dns error".to_string();
    let report = remote_pipeline(json!({"secretRef": {"name": "east-kubeconfig"}}), Some(east(Err(error.clone()))));
    let pre = stage(&report, "app-pre-deploy");
    assert_eq!(pre.root_cause.as_ref().unwrap().reason.as_str(), "RemoteCluster");
    assert!(pre.hint.as_deref().unwrap().contains(&error), "{:?}", pre.hint);
    assert_eq!(pre.remote.as_ref().unwrap().error.as_deref(), Some(error.as_str()));
    let report = remote_pipeline(json!({"configMapRef": {"name": "east-identity"}}), None);
    let hint = stage(&report, "app-pre-deploy").hint.clone().unwrap();
    assert!(hint.contains("ConfigMap shop/east-identity") && hint.contains("does not support"), "{hint}");
}

// An object recreated under the same name is a new object: the previous run never speaks for the
// current one.

/// An event about the instance with uid `uid`, last seen at `at`.
fn event_of(kind: &str, name: &str, uid: Option<&str>, reason: &str, message: &str, at: &str) -> Value {
    let mut e = event(kind, name, "Warning", reason, message);
    e["metadata"]["name"] = json!(format!("{name}.{reason}.{}", uid.unwrap_or("none")));
    e["lastTimestamp"] = json!(at);
    if let Some(uid) = uid {
        e["involvedObject"]["uid"] = json!(uid);
    }
    e
}

/// The migration Job recreated under its name (by `rerun` or `force: true`): created at `created`,
/// running, with a running pod.
fn recreated_migration(created: &str) -> Vec<Value> {
    let mut job = job("db-migration", json!([]));
    job["metadata"]["uid"] = json!("uid-new");
    job["metadata"]["creationTimestamp"] = json!(created);
    let mut pod = pod_of("db-migration", "db-migration-new", running());
    pod["metadata"]["ownerReferences"][0]["uid"] = json!("uid-new");
    vec![job, pod]
}

#[test]
fn events_of_the_previous_job_of_the_same_name_are_not_the_running_ones() {
    const RECREATED: &str = "2026-11-24T10:04:50Z";
    let mut objects = recreated_migration(RECREATED);
    // The deleted Job's events, with its uid (as the Job controller records them).
    objects.push(event_of("Job", "db-migration", Some("uid-old"), "BackoffLimitExceeded", BACKOFF_MESSAGE, T0));
    objects.push(event_of("Pod", "db-migration-new", Some("uid-other-pod"), "BackOff", "old pod's", T0));
    // One of the new Job's own.
    objects.push(event_of("Job", "db-migration", Some("uid-new"), "FailedCreate", "Error creating: x", NOW));
    let report = run(blocked_pipeline(checking_pre_deploy(), objects));
    let pre = stage(&report, "app-pre-deploy");
    let cause = pre.root_cause.as_ref().unwrap();
    assert_eq!(cause.reason, "JobRunning", "{cause:#?}");
    let all: Vec<&String> =
        report.stages.iter().filter_map(|s| s.root_cause.as_ref()).flat_map(|c| &c.events).collect();
    assert!(!all.iter().any(|e| e.contains("BackoffLimitExceeded") || e.contains("old pod's")), "{all:?}");
    assert_eq!(pre.jobs.len(), 1);
    assert_eq!(pre.jobs[0].state, crate::report::JobState::Running);
}

#[test]
fn an_event_without_a_uid_counts_only_if_newer_than_the_object() {
    const RECREATED: &str = "2026-11-24T10:04:50Z";
    let stale = event_of("Job", "db-migration", None, "BackoffLimitExceeded", BACKOFF_MESSAGE, T0);
    let fresh = event_of("Job", "db-migration", None, "Stuck", "a newer event without a uid", NOW);
    let mut objects = recreated_migration(RECREATED);
    objects.retain(|o| o["kind"] != "Pod");
    objects.extend([stale, fresh]);
    let report = run(blocked_pipeline(checking_pre_deploy(), objects));
    let cause = stage(&report, "app-pre-deploy").root_cause.clone().unwrap();
    assert_eq!((cause.kind.as_str(), cause.name.as_str()), ("Job", "db-migration"), "{cause:#?}");
    assert!(!cause.events.iter().any(|e| e.contains("BackoffLimitExceeded")), "{:?}", cause.events);
    assert!(cause.events.iter().any(|e| e.contains("a newer event without a uid")), "{:?}", cause.events);
}

#[test]
fn events_of_a_job_that_is_gone_still_tell_what_happened() {
    // No live Job of that name: every event left under its name is the evidence.
    let mut pre = failed_pre_deploy(
        "health check failed after 5.0s: failed early due to stalled resources: [Job/shop/db-migration status: 'NotFound']",
    );
    with_jobs(&mut pre, &["db-migration"]);
    let gone = event_of("Job", "db-migration", Some("uid-old"), "BackoffLimitExceeded", BACKOFF_MESSAGE, T0);
    let report = run(blocked_pipeline(pre, vec![gone]));
    let cause = stage(&report, "app-pre-deploy").root_cause.clone().unwrap();
    assert_eq!(cause.reason, "JobDeleted", "{cause:#?}");
    assert!(cause.events.iter().any(|e| e.contains("BackoffLimitExceeded")), "{:?}", cause.events);
}

#[test]
fn a_job_kept_from_an_earlier_release_is_a_leftover_never_the_cause() {
    // Jobs named per release; the old one kept with prune: disabled. kustomize-controller's
    // inventory lists only the Job of the revision it applied.
    let mut pre = checking_pre_deploy();
    with_jobs(&mut pre, &["db-migrate-v2-4-1"]);
    let mut old = failed_job("db-migrate-v2-4-0", "BackoffLimitExceeded", BACKOFF_MESSAGE);
    old["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/prune": "disabled"});
    let report = run(blocked_pipeline(
        pre,
        vec![
            old,
            pod_of("db-migrate-v2-4-0", "db-migrate-v2-4-0-x", terminated(3, "Error")),
            job("db-migrate-v2-4-1", json!([])),
            pod_of("db-migrate-v2-4-1", "db-migrate-v2-4-1-y", running()),
        ],
    ));
    let pre = stage(&report, "app-pre-deploy");
    let names = |jobs: &[crate::report::JobReport]| jobs.iter().map(|j| j.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&pre.jobs), ["db-migrate-v2-4-1"]);
    assert_eq!(names(&pre.leftover_jobs), ["db-migrate-v2-4-0"]);
    for s in &report.stages {
        let cause = s.root_cause.as_ref();
        assert!(cause.is_none_or(|c| !c.name.starts_with("db-migrate-v2-4-0")), "{}: {cause:#?}", s.name);
        assert!(!s.hint.as_deref().unwrap_or_default().contains("v2-4-0"), "{:?}", s.hint);
    }
    assert_eq!(pre.root_cause.as_ref().unwrap().reason, "JobRunning");
    let json = serde_json::to_value(pre).unwrap();
    assert_eq!(json["leftoverJobs"][0]["name"], "db-migrate-v2-4-0");
}

#[test]
fn a_stage_without_an_inventory_yet_holds_the_jobs_with_its_labels() {
    // First apply still running: no inventory written yet, the owner labels say which Jobs are its.
    let mut pre = checking_pre_deploy();
    pre["status"].as_object_mut().unwrap().remove("inventory");
    let report = run(blocked_pipeline(
        pre,
        vec![job("db-migration", json!([])), pod_of("db-migration", "db-migration-r", running())],
    ));
    let pre = stage(&report, "app-pre-deploy");
    assert_eq!(pre.jobs.len(), 1);
    assert!(pre.leftover_jobs.is_empty());
}

// A rollout in progress is not an alarm: Waiting apart from Blocked.

/// `at` as an RFC 3339 time `secs` seconds before NOW.
fn before_now(secs: i64) -> String {
    let now: k8s_openapi::jiff::Timestamp = NOW.parse().unwrap();
    (now - k8s_openapi::jiff::SignedDuration::from_secs(secs)).to_string()
}

/// The seed pipeline with pre-deploy Ready since `secs` seconds ago and both dependents still at
/// DependencyNotReady: not re-checked since.
fn dependents_not_rechecked(secs: i64) -> Report {
    let mut pre = ks("app-pre-deploy", &[]);
    pre["status"]["conditions"][0]["lastTransitionTime"] = json!(before_now(secs));
    run(blocked_pipeline(pre, vec![]))
}

#[test]
fn dependents_of_a_stage_just_ready_wait_for_their_recheck() {
    let report = dependents_not_rechecked(8);
    let deploy = stage(&report, "app-deploy");
    assert_eq!(deploy.state, StageState::Waiting, "{deploy:#?}");
    assert_eq!(
        deploy.waiting_for.as_deref(),
        Some("kustomize-controller to re-check app-pre-deploy (Ready 8s ago, every 30s)")
    );
    let post = stage(&report, "app-post-deploy");
    assert_eq!(post.state, StageState::Waiting, "{post:#?}");
    assert_eq!(
        post.waiting_for.as_deref(),
        Some("app-deploy: kustomize-controller to re-check app-pre-deploy (Ready 8s ago, every 30s)")
    );
    assert!(
        post.hint.as_deref().unwrap().contains("kubectl fluxjobs reconcile app-post-deploy -n shop"),
        "{:?}",
        post.hint
    );
    assert!(!crate::render::has_blocked_or_failed(&report));
    // The table: no chain of a failure, one line saying what it waits for and how to skip it.
    let options = crate::render::RenderOptions {
        format: crate::cli::OutputFormat::Table,
        color: false,
        no_headers: false,
        namespace_column: false,
        context_column: false,
        summary: false,
        now: NOW.parse().unwrap(),
        width: None,
    };
    let table = crate::render::render(&report, &options).unwrap();
    assert!(!table.contains('✗'), "{table}");
    assert!(table.contains("app-deploy        Waiting"), "{table}");
    let lines: Vec<&str> = table.lines().filter(|l| l.starts_with('◎')).collect();
    assert_eq!(
        lines,
        [
            "◎ app-post-deploy waits for app-deploy: kustomize-controller to re-check app-pre-deploy (Ready 8s ago, every 30s); nothing to fix; to skip the dependency re-checks: kubectl fluxjobs reconcile app-post-deploy -n shop"
        ],
        "{table}"
    );
}

#[test]
fn a_recheck_long_overdue_blocks_and_says_the_controller_may_be_down() {
    let report = dependents_not_rechecked(300);
    let deploy = stage(&report, "app-deploy");
    assert_eq!(deploy.state, StageState::Blocked);
    let message = deploy.diagnosis("shop").unwrap();
    assert!(message.starts_with("blocked: ") && message.contains("is it running"), "{message}");
    assert!(!message.contains("blocked by not ready"), "{message}");
    assert!(crate::render::has_blocked_or_failed(&report));
}

#[test]
fn a_dependency_rolling_out_without_a_problem_is_waited_for() {
    // pre-deploy Ready; app-deploy's health check waits for its Deployment's new pod, which runs
    // and shows no problem; app-post-deploy waits.
    let mut deploy = ks("app-deploy", &["app-pre-deploy"]);
    set_ready(&mut deploy, "Unknown", "Progressing", "Reconciliation in progress");
    deploy["status"]["conditions"].as_array_mut().unwrap().push(json!({"type": "Reconciling", "status": "True",
        "reason": "Progressing", "message": "Running health checks for revision X with a timeout of 5m0s",
        "lastTransitionTime": before_now(4)}));
    deploy["status"]["inventory"]["entries"] = json!([{"id": "shop_app_apps_Deployment", "v": "v1"}]);
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app", "namespace": NS, "generation": 2},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "unavailableReplicas": 1,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                            "message": "ReplicaSet \"app-7d\" is progressing."}]},
    });
    let mut post = ks("app-post-deploy", &["app-deploy"]);
    blocked_on(&mut post, "app-deploy");
    let report = run(vec![git_repository(Some(REV)), ks("app-pre-deploy", &[]), deploy, post, deployment]);
    assert_eq!(stage(&report, "app-deploy").state, StageState::Progressing);
    let post = stage(&report, "app-post-deploy");
    assert_eq!(post.state, StageState::Waiting, "{post:#?}");
    assert_eq!(
        post.waiting_for.as_deref(),
        Some(
            "app-deploy (Deployment/app: 1 of 1 replicas unavailable (health check running for 4s of its 5m timeout))"
        )
    );
}

#[test]
fn a_stage_whose_source_fetches_its_first_artifact_waits() {
    let mut repo = git_repository(None);
    repo["status"]["conditions"] = json!([condition("Ready", "Unknown", "Progressing", "building artifact")]);
    let mut pre = ks("app-pre-deploy", &[]);
    set_ready(&mut pre, "False", "ArtifactFailed", "Source artifact not found, retrying in 30s");
    let mut deploy = ks("app-deploy", &["app-pre-deploy"]);
    blocked_on(&mut deploy, "app-pre-deploy");
    let report = run(vec![repo, pre, deploy]);
    let pre = stage(&report, "app-pre-deploy");
    assert_eq!(pre.state, StageState::Waiting, "{pre:#?}");
    assert_eq!(pre.waiting_for.as_deref(), Some("GitRepository/app fetching"));
    assert_eq!(stage(&report, "app-deploy").state, StageState::Waiting);
}

#[test]
fn a_running_job_past_its_timeout_or_a_dependency_in_trouble_blocks() {
    // The health check has run for longer than the stage's timeout: stuck, not waiting.
    let mut pre = checking_pre_deploy();
    pre["status"]["conditions"].as_array_mut().unwrap().push(condition(
        "Reconciling",
        "True",
        "Progressing",
        "Running health checks for revision X with a timeout of 2m0s",
    ));
    pre["spec"]["timeout"] = json!("2m");
    let report = run(blocked_pipeline(
        pre,
        vec![job("db-migration", json!([])), pod_of("db-migration", "db-migration-r", running())],
    ));
    assert_eq!(stage(&report, "app-deploy").state, StageState::Blocked);
    // Reconciling on a problem: an image that cannot be pulled.
    let report = run(blocked_pipeline(
        checking_pre_deploy(),
        vec![
            job("db-migration", json!([])),
            pod_of("db-migration", "db-migration-p", waiting("ImagePullBackOff", "Back-off pulling image")),
        ],
    ));
    assert_eq!(stage(&report, "app-pre-deploy").state, StageState::Progressing);
    assert_eq!(stage(&report, "app-deploy").state, StageState::Blocked);
    // Failed, suspended or missing upstream.
    let failed = run(failed_migration("db-migration-x", terminated(3, "Error"), vec![]));
    let mut suspended = ks("app-pre-deploy", &[]);
    suspended["spec"]["suspend"] = json!(true);
    let suspended = run(blocked_pipeline(suspended, vec![]));
    let mut deploy = ks("app-deploy", &["app-database"]);
    blocked_on(&mut deploy, "app-database");
    let missing = run(vec![git_repository(Some(REV)), deploy]);
    for report in [failed, suspended, missing] {
        let deploy = stage(&report, "app-deploy");
        assert_eq!(deploy.state, StageState::Blocked, "{deploy:#?}");
        assert!(deploy.waiting_for.is_none());
        assert!(crate::render::has_blocked_or_failed(&report));
    }
}

#[test]
fn a_second_attempt_running_after_the_first_failed_is_not_headlined_by_the_first() {
    let mut retried = job("db-migration", json!([]));
    retried["spec"]["backoffLimit"] = json!(2);
    retried["status"]["failed"] = json!(1);
    retried["status"]["active"] = json!(1);
    let first = pod_of("db-migration", "db-migration-a", terminated(3, "Error"));
    let mut second = pod_of("db-migration", "db-migration-b", running());
    second["metadata"]["creationTimestamp"] = json!("2026-11-24T10:01:00Z");
    let report = run(blocked_pipeline(checking_pre_deploy(), vec![retried, first, second]));
    let s = stage(&report, "app-pre-deploy");
    assert_eq!(s.state, StageState::Progressing);
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.reason.as_str()), ("Job", "JobRunning"), "{cause:#?}");
    assert!(
        cause
            .message
            .contains("attempt 2 Pod/db-migration-b running; attempt 1 Pod/db-migration-a exit code 3 (Error)"),
        "{}",
        cause.message
    );
    let hint = s.hint.as_deref().unwrap();
    assert!(!hint.contains("rerun"), "the running attempt needs no rerun: {hint}");
}

#[test]
fn a_job_that_completed_after_the_health_check_timed_out_finished_late() {
    let pre = failed_pre_deploy(
        "health check failed after 5m0.1s: timeout waiting for: [Job/shop/db-migration status: 'InProgress']",
    );
    let mut done = job("db-migration", json!([{"type": "Complete", "status": "True"}]));
    done["status"]["completionTime"] = json!("2026-11-24T10:04:00Z");
    done["status"]["succeeded"] = json!(1);
    let report = run(blocked_pipeline(pre, vec![done]));
    let s = stage(&report, "app-pre-deploy");
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.reason.as_str()), ("Job", "FinishedLate"));
    assert!(
        cause.message.contains("completed 1m before the snapshot, after the health check gave up"),
        "{}",
        cause.message
    );
    let hint = s.hint.as_deref().unwrap();
    assert!(hint.starts_with("it finished late: kubectl fluxjobs reconcile app-pre-deploy -n shop now"), "{hint}");
}

#[test]
fn a_failed_job_its_ttl_deleted_is_told_by_the_events_it_left() {
    let pre = failed_pre_deploy(HEALTH_FAILED);
    let report = run(blocked_pipeline(
        pre,
        vec![
            event("Job", "db-migration", "Warning", "BackoffLimitExceeded", BACKOFF_MESSAGE),
            event("Pod", "db-migration-q9", "Warning", "BackOff", "Back-off restarting failed container migration"),
        ],
    ));
    let s = stage(&report, "app-pre-deploy");
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!((cause.kind.as_str(), cause.reason.as_str()), ("Job", "JobDeleted"), "{cause:#?}");
    assert!(cause.message.contains("deleted after it failed (BackoffLimitExceeded"), "{}", cause.message);
    assert_eq!(
        cause.events,
        [
            "BackoffLimitExceeded: Job has reached the specified backoff limit",
            "Pod/db-migration-q9 BackOff: Back-off restarting failed container migration"
        ]
    );
}

#[test]
fn a_deployment_is_judged_by_its_newest_replica_sets_pods() {
    let deploy = deploy_stage_waiting_on_app();
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app", "namespace": NS, "generation": 2},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.example.invalid/app:1.0.1"}]}}},
        "status": {"observedGeneration": 2, "replicas": 2, "unavailableReplicas": 1, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"app-new\" has timed out progressing."}]},
    });
    let pod = |name: &str, rs: &str, status: Value| {
        let mut pod = pod_of("unused", name, status);
        pod["metadata"]["labels"] = json!({"pod-template-hash": rs.trim_start_matches("app-")});
        pod["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": rs, "controller": true}]);
        pod
    };
    // The old ReplicaSet's pod crash-loops (it is newer, created later); the new one's is not Ready.
    let crash = json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": "i", "imageID": "", "ready": false,
        "restartCount": 9, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}}]});
    let mut old = pod("app-old-x", "app-old", crash);
    old["metadata"]["creationTimestamp"] = json!("2026-11-24T10:02:00Z");
    let unready = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "containerStatuses": [{"name": "app", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"running": {"startedAt": T0}}}]});
    let new = pod("app-new-y", "app-new", unready);
    let probe = event("Pod", "app-new-y", "Warning", "Unhealthy", "Readiness probe failed: connection refused");
    let report = run(vec![git_repository(Some(REV)), deploy, deployment, old, new, probe]);
    let s = stage(&report, "app-deploy");
    let cause = s.root_cause.as_ref().unwrap();
    assert_eq!((cause.name.as_str(), cause.reason.as_str()), ("app-new-y", "ContainersNotReady"), "{cause:#?}");
    assert!(cause.message.ends_with("[app]; Readiness probe failed: connection refused"), "{}", cause.message);
    let hint = s.hint.as_deref().unwrap();
    assert!(hint.starts_with("fix readinessProbe of container app") && !hint.contains("rerun"), "{hint}");
}
