//! The catalog's own tests (names and builders shared with `rule_tests`): one fixture per row,
//! built from the row's example as its component writes it, diagnosed end to end by the engine and rendered (golden `tests/golden/catalog.txt`,
//! `UPDATE_GOLDEN=1` rewrites it); README's table is the catalog's.

use serde_json::{Value, json};

use super::row::Said;
use super::*;
use crate::cli::OutputFormat;
use crate::engine::rule_tests::{NS, T0, condition, event};
use crate::engine::{Filter, diagnose};
use crate::render::{RenderOptions, render};
use crate::snapshot::parse_snapshot;

const IMAGE: &str = "registry.example.invalid/app:1.0.0";

/// A `wait: true` stage whose health check gave up on `workload` (`Kind/name`) with `status`.
fn stage(workload: &str, status: &str, inventory: &str) -> Value {
    let message = format!(
        "health check failed after 5m0s: timeout waiting for: [{}/{NS}/{} status: '{status}']",
        workload.split('/').next().unwrap_or_default(),
        workload.split('/').nth(1).unwrap_or_default()
    );
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "app-pre-deploy", "namespace": NS, "generation": 1, "creationTimestamp": T0},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "app"}, "path": "./pre", "interval": "60m",
                 "timeout": "5m", "prune": true, "wait": true, "force": true},
        "status": {"observedGeneration": 1, "conditions": [condition("Ready", "False", "HealthCheckFailed", &message)],
                   "inventory": {"entries": [{"id": inventory, "v": "v1"}]}},
    })
}

fn container_status(name: &str, state: Value, last: Option<Value>) -> Value {
    let mut status =
        json!({"name": name, "image": IMAGE, "imageID": "", "ready": false, "restartCount": 0, "state": state});
    if let Some(last) = last {
        status["lastState"] = json!({"terminated": last});
        status["restartCount"] = json!(5);
    }
    status
}

/// The pod status a row's example describes.
fn pod_status(row: &Row) -> Value {
    let waiting = |last: Option<Value>| {
        json!({"phase": "Pending", "containerStatuses": [container_status("migration",
            json!({"waiting": {"reason": row.reason, "message": row.example}}), last)]})
    };
    match row.said {
        Said::PodCondition("PodScheduled") => json!({"phase": "Pending",
            "conditions": [condition("PodScheduled", "False", row.reason, row.example)]}),
        Said::PodCondition("Ready") => json!({"phase": "Running",
            "conditions": [condition("Ready", "False", row.reason, row.example)],
            "containerStatuses": [container_status("migration", json!({"running": {"startedAt": T0}}), None)]}),
        Said::PodCondition(type_) => json!({"phase": "Failed",
            "conditions": [condition(type_, "True", row.reason, row.example)],
            "containerStatuses": [container_status("migration",
                json!({"terminated": {"exitCode": 137, "reason": "Error", "startedAt": T0, "finishedAt": T0}}), None)]}),
        Said::Waiting { last } => waiting(
            last.map(|(reason, code)| json!({"exitCode": code, "reason": reason, "startedAt": T0, "finishedAt": T0})),
        ),
        Said::Terminated(code) => json!({"phase": "Failed", "containerStatuses": [container_status("migration",
            json!({"terminated": {"exitCode": code, "reason": row.reason, "message": row.example,
                                  "startedAt": T0, "finishedAt": T0}}), None)]}),
        Said::PodStatus => json!({"phase": "Failed", "reason": row.reason, "message": row.example,
            "containerStatuses": [container_status("migration",
                json!({"terminated": {"exitCode": 143, "reason": "Error", "startedAt": T0, "finishedAt": T0}}), None)]}),
        Said::PodEvent => json!({"phase": "Pending"}),
        Said::Pattern => json!({"phase": "Running", "containerStatuses": [
            container_status("migration", json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": T0, "finishedAt": T0}}), None),
            container_status("cloud-sql-proxy", json!({"running": {"startedAt": T0}}), None),
        ]}),
        Said::JobCondition | Said::JobEvent | Said::DeploymentCondition => Value::Null,
    }
}

/// The Warning events a row's variant lives in when its example does not hold it (the kubelet's
/// probe events, a preempted pod's event).
fn variant_events(row: &Row, pod: &str) -> Vec<Value> {
    let Some(variant) = row.variants.iter().find(|v| !row.example.contains(**v)) else {
        return vec![];
    };
    if row.variants.iter().any(|v| row.example.contains(v)) {
        return vec![];
    }
    if variant.starts_with("Preempted") {
        return vec![event("Pod", pod, "Normal", "Preempted", "Preempted by pod 5e1f2a3b on node kwok-node-0")];
    }
    if variant.contains(" probe ") {
        return vec![event(
            "Pod",
            pod,
            "Warning",
            "Unhealthy",
            &format!("{variant}: HTTP probe failed with statuscode: 503"),
        )];
    }
    vec![]
}

fn owner_is_rollout(row: &Row) -> bool {
    row.owner == Owner::Rollout || matches!(row.said, Said::PodCondition("Ready") | Said::DeploymentCondition)
}

/// The snapshot of one row: a stage whose Job (or Deployment) fails as the row says.
fn fixture(row: &Row) -> Vec<Value> {
    let git = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": NS},
        "spec": {"url": "https://git.example.invalid/app.git", "interval": "1m"},
        "status": {"conditions": [condition("Ready", "True", "Succeeded", "stored artifact")],
                   "artifact": {"revision": "main@sha1:1111111111111111111111111111111111111111", "digest": "sha256:00",
                                "path": "x", "url": "http://x", "lastUpdateTime": T0}},
    });
    let clock = event("Namespace", NS, "Normal", "Clock", "fixes the snapshot time");
    let mut objects = vec![git, clock];
    let status = pod_status(row);
    if owner_is_rollout(row) {
        let conditions = match (row.said, row.reason) {
            (Said::DeploymentCondition, "FailedCreate") => {
                vec![condition("ReplicaFailure", "True", row.reason, row.example)]
            }
            (Said::DeploymentCondition, "MinimumReplicasUnavailable") => {
                vec![condition("Available", "False", row.reason, row.example)]
            }
            (Said::DeploymentCondition, _) => vec![condition("Progressing", "False", row.reason, row.example)],
            _ => vec![condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                "ReplicaSet \"app-7c9f8d6b5\" has timed out progressing.",
            )],
        };
        objects.push(stage("Deployment/app", "InProgress", &format!("{NS}_app_apps_Deployment")));
        objects.push(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "namespace": NS, "uid": "uid-app", "creationTimestamp": T0,
                         "labels": {"kustomize.toolkit.fluxcd.io/name": "app-pre-deploy", "kustomize.toolkit.fluxcd.io/namespace": NS}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "migration", "image": IMAGE}]}}},
            "status": {"replicas": 1, "unavailableReplicas": 1, "conditions": conditions},
        }));
        if !status.is_null() {
            let pod = "app-7c9f8d6b5-x2x9q";
            objects.push(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": NS, "creationTimestamp": T0,
                             "labels": {"pod-template-hash": "7c9f8d6b5"},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-7c9f8d6b5",
                                                  "uid": "uid-rs", "controller": true}]},
                "spec": {"restartPolicy": "Always", "containers": [{"name": "migration", "image": IMAGE}]},
                "status": status,
            }));
            if row.said == Said::PodEvent {
                objects.push(event("Pod", pod, "Warning", row.reason, row.example));
            }
            objects.extend(variant_events(row, pod));
        }
        return objects;
    }
    let failed = matches!(
        row.said,
        Said::JobCondition | Said::Terminated(_) | Said::PodStatus | Said::PodCondition("DisruptionTarget")
    );
    let (reason, message) = match row.said {
        Said::JobCondition => (row.reason, row.example),
        _ => ("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
    };
    let conditions = if failed {
        json!([condition("FailureTarget", "True", reason, message), condition("Failed", "True", reason, message)])
    } else {
        json!([])
    };
    objects.push(stage(
        "Job/db-migration",
        if failed { "Failed" } else { "InProgress" },
        &format!("{NS}_db-migration_batch_Job"),
    ));
    objects.push(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "db-migration", "namespace": NS, "uid": "uid-db-migration", "creationTimestamp": T0,
                     "labels": {"kustomize.toolkit.fluxcd.io/name": "app-pre-deploy", "kustomize.toolkit.fluxcd.io/namespace": NS}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "migration", "image": IMAGE}]}}},
        "status": {"startTime": T0, "active": if failed { 0 } else { 1 }, "conditions": conditions},
    }));
    let pod = "db-migration-x7k2p";
    match row.said {
        Said::JobEvent => objects.push(event("Job", "db-migration", "Warning", row.reason, row.example)),
        Said::JobCondition => objects.extend(variant_events(row, pod)),
        _ => {
            let mut containers = vec![json!({"name": "migration", "image": IMAGE})];
            if row.said == Said::Pattern {
                containers
                    .push(json!({"name": "cloud-sql-proxy", "image": "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2"}));
            }
            objects.push(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": NS, "creationTimestamp": T0,
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "db-migration",
                                                  "uid": "uid-db-migration", "controller": true}]},
                "spec": {"restartPolicy": "Never", "containers": containers},
                "status": status,
            }));
            if row.said == Said::PodEvent {
                objects.push(event("Pod", pod, "Warning", row.reason, row.example));
            }
            objects.extend(variant_events(row, pod));
        }
    }
    objects
}

fn diagnosed(row: &Row) -> (crate::model::Snapshot, crate::report::Report) {
    let text = json!({"apiVersion": "v1", "kind": "List", "items": fixture(row)}).to_string();
    let snapshot = parse_snapshot(&text, "catalog").expect("fixture parses");
    let report = diagnose(&snapshot, &Filter::default()).expect("diagnosis");
    if let Err(e) = crate::plan::hinted_reruns_accepted(&snapshot, &report) {
        panic!("{}: {e}", row.id);
    }
    (snapshot, report)
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(expected == actual, "{name} differs (UPDATE_GOLDEN=1 rewrites it)\n--- actual\n{actual}");
}

#[test]
fn every_row_has_a_fixture_whose_root_cause_it_describes() {
    let mut out = String::new();
    for row in CATALOG {
        let (snapshot, report) = diagnosed(row);
        let stage = &report.stages[0];
        let cause = stage.root_cause.as_ref().unwrap_or_else(|| panic!("{}: no root cause: {stage:#?}", row.id));
        let ids: Vec<&str> = cause.failures.iter().map(|f| f.id).collect();
        assert!(ids.contains(&row.id), "{}: the root cause is described by {ids:?}: {cause:#?}", row.id);
        assert_eq!(cause.reason.as_str(), row.reason, "{}", row.id);
        let hint = stage.hint.as_deref().unwrap_or_default();
        let names_fix = row.fix.split('{').next().unwrap_or_default();
        assert!(hint.contains(names_fix), "{}: the hint {hint:?} lacks the row's fix", row.id);
        // No Job remedy on a Deployment, no rerun where the component retries by itself.
        if owner_is_rollout(row) {
            assert!(!hint.contains("rerun") && !hint.contains("backoffLimit"), "{}: {hint}", row.id);
        }
        if matches!(row.then, Then::Retries(_)) {
            assert!(!hint.contains("rerun"), "{}: {hint}", row.id);
        }
        let options = RenderOptions {
            format: OutputFormat::Table,
            color: false,
            no_headers: true,
            namespace_column: false,
            context_column: false,
            summary: false,
            now: snapshot.now,
            width: Some(200),
        };
        out.push_str(&format!("## {}\n{}\n", row.id, render(&report, &options).unwrap()));
    }
    golden("tests/golden/catalog.txt", &out);
}

/// The live read LISTs events and the pods no Job owns only where the engine will read them
/// (`engine::Wanted`): every row diagnoses the same from that part, and the rows of Deployments
/// would not without their pods, nor the rows with events without them.
#[test]
fn every_row_reads_the_same_from_what_the_live_read_wants() {
    use crate::engine::Wanted;
    use crate::engine::wanted::narrowed;
    let json = |snapshot: &crate::model::Snapshot| {
        serde_json::to_string(&diagnose(snapshot, &Filter::default()).expect("diagnosis")).unwrap()
    };
    let (mut told_by_a_pod, mut with_events) = (0, 0);
    for row in CATALOG {
        let (snapshot, report) = diagnosed(row);
        assert_eq!(json(&narrowed(&snapshot, &Wanted::of(&snapshot))), json(&snapshot), "{}", row.id);
        if report.stages.iter().filter_map(|s| s.root_cause.as_ref()).any(|c| !c.events.is_empty()) {
            with_events += 1;
            let without = narrowed(&snapshot, &Wanted::default());
            assert_ne!(json(&without), json(&snapshot), "{}: the test can fail", row.id);
        }
        let cause = report.stages[0].root_cause.as_ref().map(|c| c.kind.clone());
        if owner_is_rollout(row) && cause == Some(crate::vocabulary::Kind::Pod) {
            told_by_a_pod += 1;
            let without = narrowed(&snapshot, &Wanted::default());
            assert_ne!(json(&without), json(&snapshot), "{}: the test can fail", row.id);
        }
    }
    assert!(told_by_a_pod > 0, "some rows are a Deployment's pod");
    assert!(with_events > 0, "some rows show Warning events");
}

#[test]
fn rows_are_unique_and_the_row_without_variants_comes_last() {
    let mut ids: Vec<&str> = CATALOG.iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), CATALOG.len(), "row ids are unique");
    for (i, row) in CATALOG.iter().enumerate() {
        let later_specific =
            CATALOG[i + 1..].iter().any(|r| r.reason == row.reason && r.owner == row.owner && !r.variants.is_empty());
        assert!(!(row.variants.is_empty() && later_specific), "{}: a row with variants comes after it", row.id);
    }
}

#[test]
fn what_refused_a_pod_is_told_by_its_message() {
    let cases = [
        (
            r#"pods "m-x" is forbidden: exceeded quota: jobs, requested: cpu=2, used: cpu=0, limited: cpu=1"#,
            "create-quota",
        ),
        (r#"pods "m-x" is forbidden: maximum cpu usage per Container is 500m, but limit is 2"#, "create-limit-range"),
        (r#"pods "m-x" is forbidden: minimum memory usage per Pod is 64Mi, but request is 0"#, "create-limit-range"),
        (
            r#"pods "m-x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false"#,
            "create-pod-security",
        ),
        (
            r#"pods "m-x" is forbidden: error looking up service account shop/migrator: serviceaccount "migrator" not found"#,
            "create-service-account",
        ),
        (
            r#"pods "m-x" is forbidden: ValidatingAdmissionPolicy 'no-latest' with binding 'b' denied request: pin the image"#,
            "create-policy",
        ),
        (r#"admission webhook "policy.example.com" denied the request: no"#, "create-policy"),
        ("etcdserver: request timed out", "create"),
    ];
    for (message, id) in cases {
        let observed = Observed { reason: "FailedCreate", text: message.to_string(), owner: Owner::Job };
        let ids: Vec<&str> = rows(&observed).iter().map(|r| r.id).collect();
        assert_eq!(ids, [id], "{message}");
    }
}

#[test]
fn an_unschedulable_pod_gets_the_fix_of_every_filter_its_message_names() {
    let observed = Observed {
        reason: "Unschedulable",
        text: "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector."
            .into(),
        owner: Owner::Job,
    };
    let ids: Vec<&str> = rows(&observed).iter().map(|r| r.id).collect();
    assert_eq!(ids, ["unschedulable-node-selector", "unschedulable-insufficient"]);
    let unknown = Observed { reason: "SomethingNew", text: String::new(), owner: Owner::Any };
    assert!(rows(&unknown).is_empty());
}

#[test]
fn readme_has_the_catalog_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- catalog:begin -->\n", "<!-- catalog:end -->");
    let start = readme.find(begin).expect("README has <!-- catalog:begin -->") + begin.len();
    let stop = readme[start..].find(end).expect("README has <!-- catalog:end -->") + start;
    let table = markdown();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &readme[..start], &readme[stop..])).unwrap();
        return;
    }
    assert!(readme[start..stop] == table, "README's catalog table is not the catalog's (UPDATE_GOLDEN=1 rewrites it)");
}

#[test]
fn a_pod_of_a_deployment_never_gets_a_job_remedy() {
    let pod_level = |row: &&Row| {
        row.owner == Owner::Any
            && matches!(row.said, Said::Waiting { .. } | Said::PodCondition(_) | Said::PodEvent | Said::PodStatus)
    };
    for row in CATALOG.iter().filter(pod_level) {
        let as_rollout = Row { owner: Owner::Rollout, ..*row };
        let (_, report) = diagnosed(&as_rollout);
        let stage = &report.stages[0];
        let cause = stage.root_cause.as_ref().unwrap_or_else(|| panic!("{}: no root cause", row.id));
        assert_eq!(cause.via.first().map(|v| v.kind.as_str()), Some("Deployment"), "{}: {cause:#?}", row.id);
        assert!(cause.failures.iter().any(|f| f.id == row.id), "{}: {:?}", row.id, cause.failures);
        let hint = stage.hint.as_deref().unwrap_or_default();
        for job_remedy in ["rerun", "backoffLimit", "podFailurePolicy", "job/"] {
            assert!(!hint.contains(job_remedy), "{}: {hint}", row.id);
        }
    }
}
