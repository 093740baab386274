//! The I/O layer's tests: reads, writes and retries against the mock API server (`mock.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Connection;
use super::mock::*;
use crate::cluster::write::{self, Deleted, DryRun};
use crate::cluster::{ClusterError, read_snapshot};
use crate::model::StageObject;
use crate::refs::{NamespacedName, ObjectRef};
use crate::vocabulary::ConditionType;
use serde_json::json;

fn kustomization(ns: &str, name: &str, depends_on: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": name, "namespace": ns}, "spec": {"dependsOn": depends_on}})
}

fn list(items: Vec<serde_json::Value>, next: Option<&str>) -> (u16, String) {
    (
        200,
        json!({"kind": "List", "apiVersion": "v1", "metadata": {"continue": next.unwrap_or("")}, "items": items})
            .to_string(),
    )
}

async fn read(conn: &Connection, ns: Option<&str>) -> (Result<crate::model::Snapshot, ClusterError>, Vec<String>) {
    let mut warnings = Vec::new();
    let snapshot = read_snapshot(conn, ns, None, &mut |w| warnings.push(w)).await;
    (snapshot, warnings)
}

/// A stage whose failed health check names a Widget (a kind no LIST covers): one discovery
/// request for its group version (from the inventory) and one GET; a 403 on another is a
/// warning naming it; a kind with no inventory entry that discovery does not find is said.
#[tokio::test]
async fn objects_a_health_check_names_are_read_with_one_get_each() {
    let failed = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": "shop"},
        "spec": {},
        "status": {"inventory": {"entries": [{"id": "shop_w_example.com_Widget", "v": "v1"}, {"id": "shop_secret_example.com_Widget", "v": "v1"}]},
                   "conditions": [{"type": "Ready", "status": "False", "reason": "HealthCheckFailed",
                                   "message": "health check failed after 1m0s: failed early due to stalled resources: [Widget/shop/w status: 'Failed', Widget/shop/secret status: 'Failed', Gadget/shop/g status: 'InProgress']"}]}});
    let (conn, seen) = connection(move |r| {
        match r.uri.as_str() {
        u if u.contains("/kustomizations") => list(vec![failed.clone()], None),
        "/apis/example.com/v1" => (200, json!({"kind": "APIResourceList", "groupVersion": "example.com/v1", "resources": [
            {"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": ["get", "list"]}]}).to_string()),
        "/apis/example.com/v1/namespaces/shop/widgets/w" => (200, json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "shop"},
            "status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "ProvisioningFailed", "message": "quota"}]}}).to_string()),
        "/apis/example.com/v1/namespaces/shop/widgets/secret" => status(403, "Forbidden", "widgets.example.com \"secret\" is forbidden: User \"dev\" cannot get resource \"widgets\""),
        "/api" => (200, json!({"kind": "APIVersions", "versions": ["v1"]}).to_string()),
        "/api/v1" => (200, json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": []}).to_string()),
        "/apis" => (200, json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}).to_string()),
        _ => empty_list(),
    }
    });
    let (snapshot, warnings) = read(&conn, None).await;
    let snapshot = snapshot.unwrap();
    assert_eq!(snapshot.named_objects.len(), 1, "{:?}", snapshot.named_objects);
    assert_eq!(
        snapshot.named_objects[0].condition(ConditionType::Stalled).unwrap().reason.as_str(),
        "ProvisioningFailed"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with("cannot read Widget/shop/secret, which a health check names: forbidden")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("Gadget/shop/g") && w.contains("no API group serves kind Gadget")),
        "{warnings:?}"
    );
    let seen = seen.lock().unwrap();
    let gets: Vec<&Seen> = seen.iter().filter(|r| r.uri.contains("/widgets/")).collect();
    assert_eq!(gets.len(), 2, "one GET per named object: {gets:?}");
}

#[tokio::test]
async fn a_list_follows_continue_tokens_page_by_page() {
    let (conn, seen) = connection(|r| match r.uri.as_str() {
        u if u.contains("/kustomizations") && !u.contains("continue=") => {
            list(vec![kustomization("shop", "a", json!([]))], Some("page-2"))
        }
        u if u.contains("/kustomizations") => list(vec![kustomization("shop", "b", json!([]))], None),
        _ => empty_list(),
    });
    let (snapshot, warnings) = read(&conn, None).await;
    let names: Vec<String> = snapshot.unwrap().kustomizations.iter().map(|k| k.name().to_string()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let seen = seen.lock().unwrap();
    let pages: Vec<&Seen> = seen.iter().filter(|r| r.uri.contains("/kustomizations")).collect();
    assert_eq!(pages.len(), 2);
    assert!(pages.iter().all(|p| p.uri.contains("limit=5000")), "{pages:?}");
    assert!(pages[1].uri.contains("continue=page-2"), "{pages:?}");
    // One LIST per kind, all namespaces, then the Warning events of the one namespace whose
    // stages are not Ready, nothing else: the other events are not wanted here (no Job is gone
    // or without pods).
    let first_picture = crate::model::READ_KINDS.iter().filter(|k| k.demand == crate::model::Demand::Always);
    assert_eq!(seen.len(), first_picture.count() + 2);
    let events: Vec<&Seen> = seen.iter().filter(|r| r.uri.contains("/events")).collect();
    assert!(
        events.len() == 1
            && events[0].uri.starts_with("/api/v1/namespaces/shop/events?")
            && events[0].uri.contains("fieldSelector=type%3DWarning"),
        "{events:?}"
    );
}

/// A Job the inventory names is gone: the events that are no Warnings are read in its namespace
/// only, in a second LIST, and the `Completed` one among them is kept.
#[tokio::test]
async fn the_other_events_are_read_only_where_a_job_is_gone() {
    let mut stage = kustomization("shop", "app", json!([]));
    stage["status"] = json!({"inventory": {"entries": [{"id": "shop_db-migration_batch_Job", "v": "v1"}]}});
    let completed = json!({"apiVersion": "v1", "kind": "Event", "type": "Normal", "reason": "Completed",
                           "metadata": {"name": "e1", "namespace": "shop"},
                           "involvedObject": {"kind": "Job", "name": "db-migration", "namespace": "shop"}});
    let (conn, seen) = connection(move |r| match r.uri.as_str() {
        u if u.contains("/kustomizations") => list(vec![stage.clone()], None),
        u if u.contains("/namespaces/shop/events") && u.contains("fieldSelector=type%21%3DWarning") => {
            list(vec![completed.clone()], None)
        }
        _ => empty_list(),
    });
    let (snapshot, warnings) = read(&conn, None).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    let events = snapshot.unwrap().events;
    assert!(events.len() == 1 && events[0].reason.as_deref() == Some("Completed"), "{events:?}");
    let seen = seen.lock().unwrap();
    let other: Vec<&Seen> = seen.iter().filter(|r| r.uri.contains("type%21%3DWarning")).collect();
    assert!(other.len() == 1 && other[0].uri.starts_with("/api/v1/namespaces/shop/events?"), "{other:?}");
}

/// The first picture LISTs the pods of Jobs only (by the label the API server gives them); a
/// Deployment that is not available has the pods no Job owns read in its namespace, in a second
/// LIST, and the pod that says why is kept.
#[tokio::test]
async fn the_pods_no_job_owns_are_read_only_where_a_workload_is_not_done() {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": 1, "unavailableReplicas": 1}});
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-7c9f8d6b5-x1", "namespace": "shop",
        "labels": {"app": "web", "pod-template-hash": "7c9f8d6b5"}}, "status": {"phase": "Pending"}});
    let mut ready = deployment.clone();
    ready["status"] = json!({"replicas": 1, "availableReplicas": 1});
    let answer = move |unavailable: bool| {
        let (deployment, pod) = (if unavailable { deployment.clone() } else { ready.clone() }, pod.clone());
        move |r: &Seen| match r.uri.as_str() {
            u if u.contains("/kustomizations") => list(vec![kustomization("shop", "app", json!([]))], None),
            u if u.contains("/deployments") => list(vec![deployment.clone()], None),
            u if u.contains("/namespaces/shop/pods") && u.contains("labelSelector=%21batch") => {
                list(vec![pod.clone()], None)
            }
            _ => empty_list(),
        }
    };
    // Available: the pods of Jobs only.
    let (conn, seen) = connection(answer(false));
    let (snapshot, _) = read(&conn, None).await;
    assert!(snapshot.unwrap().pods.is_empty());
    assert_eq!(seen.lock().unwrap().iter().filter(|r| r.uri.contains("/pods")).count(), 1);
    let (conn, seen) = connection(answer(true));
    let (snapshot, warnings) = read(&conn, None).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(snapshot.unwrap().pods.len(), 1);
    let seen = seen.lock().unwrap();
    let pods: Vec<&str> = seen.iter().filter(|r| r.uri.contains("/pods")).map(|r| r.uri.as_str()).collect();
    assert_eq!(pods.len(), 2, "{pods:?}");
    assert!(
        pods[0].starts_with("/api/v1/pods?") && pods[0].contains("labelSelector=batch.kubernetes.io%2Fcontroller-uid"),
        "{pods:?}"
    );
    assert!(
        pods[1].starts_with("/api/v1/namespaces/shop/pods?&labelSelector=%21batch.kubernetes.io%2Fcontroller-uid"),
        "{pods:?}"
    );
}

#[tokio::test]
async fn forbidden_kinds_are_warnings_missing_crds_are_none_and_kustomizations_are_required() {
    let (conn, _) = connection(|r| match r.uri.as_str() {
        u if u.contains("/pods") => {
            status(403, "Forbidden", "pods is forbidden: User \"dev\" cannot list resource \"pods\"")
        }
        u if u.contains("/resourcesets") || u.contains("/buckets") => (404, "404 page not found".into()),
        _ => empty_list(),
    });
    let (snapshot, warnings) = read(&conn, Some("shop")).await;
    assert!(snapshot.is_ok());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("forbidden: cannot list pods in namespace \"shop\""), "{warnings:?}");
    assert!(warnings[0].ends_with("; continuing without them"), "{warnings:?}");
    let (conn, _) = connection(|r| match r.uri.as_str() {
        u if u.contains("/kustomizations") => status(403, "Forbidden", "no"),
        _ => empty_list(),
    });
    let error = read(&conn, Some("shop")).await.0.unwrap_err();
    assert!(
        matches!(error, ClusterError::Forbidden { ref resource, .. } if resource == "kustomizations.kustomize.toolkit.fluxcd.io"),
        "{error}"
    );
}

/// Events are read only where something is not done: where every stage is Ready and every Job
/// complete, no events LIST at all (and so no word about being refused them); where a stage is
/// not, the refusal is said once for both parts of the events.
#[tokio::test]
async fn events_are_listed_only_where_something_is_not_done_and_a_refusal_is_said_once() {
    let ready = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": "shop", "generation": 1},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "shop"}},
        "status": {"lastAppliedRevision": "main@sha1:1", "lastAttemptedRevision": "main@sha1:1",
                   "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                                   "message": "Applied revision: main@sha1:1", "observedGeneration": 1}]}});
    let source = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "shop", "namespace": "shop"},
        "status": {"artifact": {"revision": "main@sha1:1"}, "conditions": [{"type": "Ready", "status": "True"}]}});
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "shop", "uid": "j1"},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "migrate-x", "namespace": "shop",
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "migrate", "uid": "j1"}]},
        "status": {"phase": "Succeeded"}});
    let answer = move |stage: serde_json::Value| {
        let (source, job, pod) = (source.clone(), job.clone(), pod.clone());
        move |r: &Seen| match r.uri.as_str() {
            u if u.contains("/events") => {
                status(403, "Forbidden", "events is forbidden: User \"dev\" cannot list resource \"events\"")
            }
            u if u.contains("/kustomizations") => list(vec![stage.clone()], None),
            u if u.contains("/gitrepositories") => list(vec![source.clone()], None),
            u if u.contains("/jobs") => list(vec![job.clone()], None),
            u if u.contains("/pods") => list(vec![pod.clone()], None),
            _ => empty_list(),
        }
    };
    let (conn, seen) = connection(answer(ready.clone()));
    let (snapshot, warnings) = read(&conn, None).await;
    assert!(snapshot.is_ok() && warnings.is_empty(), "{warnings:?}");
    assert!(!seen.lock().unwrap().iter().any(|r| r.uri.contains("/events")), "no events LIST");
    let mut failing = ready;
    failing["status"]["conditions"][0]["status"] = json!("False");
    let (conn, seen) = connection(answer(failing));
    let (snapshot, warnings) = read(&conn, None).await;
    assert!(snapshot.is_ok());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("forbidden: cannot list events in namespace \"shop\""), "{warnings:?}");
    let events: Vec<String> =
        seen.lock().unwrap().iter().filter(|r| r.uri.contains("/events")).map(|r| r.uri.clone()).collect();
    assert!(events.len() == 1 && events[0].starts_with("/api/v1/namespaces/shop/events?"), "{events:?}");
}

/// Across all namespaces, once one kind of the first picture shows more than eight namespaces
/// where something is not done (stages not settled, or Jobs not complete), the Warning events of
/// the whole cluster are wanted whatever the rest shows: their one LIST starts while the rest of
/// the first picture (the kind that did not tell, answering a second later) is still out, and what
/// it read is kept. With eight, it waits for the first picture and reads them namespace by
/// namespace.
#[tokio::test(start_paused = true)]
async fn warning_events_start_beside_the_first_picture_when_one_kind_shows_many_namespaces() {
    let failing = |ns: &str| {
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": ns},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "HealthCheckFailed", "message": "timeout"}]}})
    };
    let failed_job = |ns: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": ns},
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}})
    };
    let warning = |ns: &str| {
        json!({"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit", "metadata": {"name": "e", "namespace": ns},
            "involvedObject": {"kind": "Job", "name": "migrate", "namespace": ns}})
    };
    let late_answer = Duration::from_secs(1);
    for (telling, late) in [("/kustomizations", "/jobs"), ("/jobs", "/kustomizations")] {
        for (namespaces, early) in [(9, true), (8, false)] {
            let names: Vec<String> = (0..namespaces).map(|i| format!("shop-{i}")).collect();
            let stages: Vec<serde_json::Value> = names.iter().map(|ns| failing(ns)).collect();
            let jobs: Vec<serde_json::Value> = names.iter().map(|ns| failed_job(ns)).collect();
            let events: Vec<serde_json::Value> = names.iter().map(|ns| warning(ns)).collect();
            let (conn, seen) = paced_connection(
                move |r| match r.uri.as_str() {
                    u if u.contains("/kustomizations") => list(stages.clone(), None),
                    u if u.contains("/jobs") => list(jobs.clone(), None),
                    // The Jobs have no pods: the other events of their namespaces are read too.
                    u if u.contains("/events?") && !u.contains("fieldSelector=type%3DWarning") => empty_list(),
                    u if u.starts_with("/api/v1/events?") => list(events.clone(), None),
                    u if u.contains("/events?") => {
                        let ns = u.split('/').nth(4).unwrap();
                        list(events.iter().filter(|e| e["metadata"]["namespace"] == ns).cloned().collect(), None)
                    }
                    _ => empty_list(),
                },
                move |r| if r.uri.contains(late) { late_answer } else { Duration::ZERO },
            );
            let (snapshot, warnings) = read(&conn, None).await;
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(snapshot.unwrap().events.len(), namespaces, "every namespace's Warning is kept");
            let seen = seen.lock().unwrap();
            let late_sent = seen.iter().find(|r| r.uri.contains(late)).unwrap().at;
            let events: Vec<&Seen> =
                seen.iter().filter(|r| r.uri.contains("/events") && r.uri.contains("type%3DWarning")).collect();
            if early {
                assert!(events.len() == 1 && events[0].uri.starts_with("/api/v1/events?"), "{telling}: {events:?}");
                assert!(events[0].at < late_sent + late_answer, "{telling}: started beside the first picture");
            } else {
                assert_eq!(events.len(), namespaces, "{telling}: {events:?}");
                assert!(events.iter().all(|e| e.at >= late_sent + late_answer), "{telling}: after the first picture");
            }
        }
    }
}

/// Pods and Jobs are asked for in protobuf, JSON the fallback, and read whichever the server
/// answers in; other kinds in JSON. An error answered in protobuf (a real API server's `pods "nope" not found`)
/// reads as the same error from JSON would: kube's `Api` error with its code, reason and message.
#[tokio::test]
async fn pods_are_read_in_protobuf_or_json_and_an_error_in_either() {
    let fixture = |name: &str| {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf").join(name))
            .unwrap()
    };
    let pods_pb = bytes::Bytes::from(fixture("failed-job-pods.pb"));
    let not_found = bytes::Bytes::from(fixture("pod-not-found-status.pb"));
    let protobuf = "application/vnd.kubernetes.protobuf";
    for pods_in_protobuf in [true, false] {
        let (pods_pb, json_pods) = (pods_pb.clone(), fixture("failed-job-pods.json"));
        let (conn, seen) = replying_connection(
            move |r| {
                let (code, body) = match r.uri.as_str() {
                    u if u.contains("/kustomizations") => list(vec![kustomization("shop", "app", json!([]))], None),
                    u if u.contains("/pods") && u.contains("labelSelector=batch") && pods_in_protobuf => {
                        return Reply { code: 200, content_type: protobuf, body: pods_pb.clone() };
                    }
                    u if u.contains("/pods") && u.contains("labelSelector=batch") => {
                        (200, String::from_utf8(json_pods.clone()).unwrap())
                    }
                    _ => empty_list(),
                };
                Reply { code, content_type: "application/json", body: body.into() }
            },
            |_| Duration::ZERO,
        );
        let (snapshot, warnings) = read(&conn, None).await;
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(snapshot.unwrap().pods.len(), 3, "in protobuf: {pods_in_protobuf}");
        let seen = seen.lock().unwrap();
        let pods = seen.iter().find(|r| r.uri.contains("/pods")).unwrap();
        assert_eq!(pods.accept, "application/vnd.kubernetes.protobuf, application/json");
        let jobs = seen.iter().find(|r| r.uri.contains("/jobs")).unwrap();
        assert_eq!(jobs.accept, pods.accept);
        let deployments = seen.iter().find(|r| r.uri.contains("/deployments")).unwrap();
        assert!(!deployments.accept.contains("protobuf"), "{:?}", deployments.accept);
    }
    let (conn, _) = replying_connection(
        move |r| match r.uri.as_str() {
            u if u.contains("/pods") => Reply { code: 404, content_type: protobuf, body: not_found.clone() },
            u if u.contains("/kustomizations") => {
                let (code, body) = list(vec![kustomization("shop", "app", json!([]))], None);
                Reply { code, content_type: "application/json", body: body.into() }
            }
            _ => Reply { code: 200, content_type: "application/json", body: empty_list().1.into() },
        },
        |_| Duration::ZERO,
    );
    let pods = crate::model::READ_KINDS.iter().find(|k| k.api.plural == "pods").unwrap();
    let error = super::read::list_kind(&conn, pods, None, None).await.unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
            assert_eq!(status.message, "pods \"nope\" not found");
            assert_eq!(status.details.map(|d| (d.name, d.kind)), Some(("nope".into(), "pods".into())));
        }
        other => panic!("{other:?}"),
    }
}

/// An answer that is not a List (a proxy's page, a body cut short) fails the read in one line
/// naming what was listed where, not as a server that cannot be reached; an item of the wrong
/// shape is skipped with a warning, the others kept.
#[tokio::test]
async fn a_list_answer_cut_short_or_not_a_list_is_an_error_and_a_bad_item_a_warning() {
    let not_lists = [
        ("<html>502 Bad Gateway</html>", "expected value at line 1 column 1"),
        (
            r#"{"kind":"KustomizationList","items":[{"metadata":{"name":"a"}}"#,
            "EOF while parsing a list at line 1 column 62",
        ),
    ];
    for (body, why) in not_lists {
        let (conn, _) = connection(move |r| match r.uri.as_str() {
            u if u.contains("/kustomizations") => (200, body.to_string()),
            _ => empty_list(),
        });
        let error = read(&conn, Some("shop")).await.0.unwrap_err();
        let said = format!(
            r#"cannot list kustomizations.kustomize.toolkit.fluxcd.io in namespace "shop": the answer is not a JSON List ({why})"#
        );
        assert_eq!(crate::chain::one_line(&error), said);
    }
    let stage = |name: &str| json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": name, "namespace": "shop"}});
    let mut bad = stage("bad");
    bad["spec"] = json!({"dependsOn": "not a list"});
    let stages = vec![stage("a"), bad, stage("b")];
    let (conn, _) = connection(move |r| match r.uri.as_str() {
        u if u.contains("/kustomizations") => list(stages.clone(), None),
        _ => empty_list(),
    });
    let (snapshot, warnings) = read(&conn, Some("shop")).await;
    let names: Vec<String> = snapshot.unwrap().kustomizations.iter().map(|k| k.name().to_string()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(
        warnings.len() == 1 && warnings[0].starts_with("skipping malformed Kustomization shop/bad: "),
        "{warnings:?}"
    );
}

/// One stage of every kind in flux-system, each deploying into a namespace of its own and
/// depending on a stage in a third: under `-n flux-system` every dependency is read, and the
/// Jobs, Pods and Events of every namespace a stage deploys into.
#[tokio::test]
async fn every_kind_is_followed_into_its_namespaces_and_dependencies_under_n() {
    let ks = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "web", "namespace": "flux-system"},
        "spec": {"targetNamespace": "apps-ks", "dependsOn": [{"name": "db", "namespace": "data-ks"}]}});
    let rset = json!({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet",
        "metadata": {"name": "web", "namespace": "flux-system"},
        "spec": {"dependsOn": [{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "db", "namespace": "data-rs", "ready": true}]},
        "status": {"inventory": {"entries": [{"id": "apps-rs_migrate_batch_Job", "v": "v1"}]}}});
    let hr = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "flux-system"},
        "spec": {"targetNamespace": "apps-hr", "storageNamespace": "store-hr",
                 "dependsOn": [{"name": "db", "namespace": "data-hr"}]}});
    let hr_db = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "db", "namespace": "data-hr"}, "spec": {}});
    let (conn, seen) = connection(move |r| match r.uri.as_str() {
        u if u.contains("/namespaces/flux-system/kustomizations") => list(vec![ks.clone()], None),
        u if u.contains("/namespaces/flux-system/resourcesets") => list(vec![rset.clone()], None),
        u if u.contains("/namespaces/flux-system/helmreleases") => list(vec![hr.clone()], None),
        u if u.contains("/namespaces/data-ks/kustomizations") => {
            list(vec![kustomization("data-ks", "db", json!([]))], None)
        }
        u if u.contains("/namespaces/data-rs/kustomizations") => {
            list(vec![kustomization("data-rs", "db", json!([]))], None)
        }
        u if u.contains("/namespaces/data-hr/helmreleases") => list(vec![hr_db.clone()], None),
        _ => empty_list(),
    });
    let (snapshot, warnings) = read(&conn, Some("flux-system")).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    let snapshot = snapshot.unwrap();
    let mut ids: Vec<String> = snapshot.stage_ids().map(|id| id.to_string()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "HelmRelease/data-hr/db",
            "HelmRelease/flux-system/web",
            "ResourceSet/flux-system/web",
            "data-ks/db",
            "data-rs/db",
            "flux-system/web"
        ]
    );
    let seen = seen.lock().unwrap();
    for ns in ["apps-ks", "apps-rs", "apps-hr", "store-hr"] {
        for kind in ["jobs", "pods", "events"] {
            assert!(
                seen.iter().any(|r| r.uri.contains(&format!("/namespaces/{ns}/{kind}"))),
                "the {kind} of namespace {ns} are not read"
            );
        }
    }
}

#[tokio::test]
async fn dependencies_in_other_namespaces_are_followed() {
    let (conn, seen) = connection(|r| match r.uri.as_str() {
        u if u.contains("/namespaces/shop/kustomizations") => {
            list(vec![kustomization("shop", "app", json!([{"name": "db", "namespace": "infra"}]))], None)
        }
        u if u.contains("/namespaces/infra/kustomizations") => {
            list(vec![kustomization("infra", "db", json!([]))], None)
        }
        _ => empty_list(),
    });
    let snapshot = read(&conn, Some("shop")).await.0.unwrap();
    let ids: Vec<String> = snapshot.stage_ids().map(|id| id.to_string()).collect();
    assert_eq!(ids, ["shop/app", "infra/db"]);
    assert!(
        seen.lock().unwrap().iter().any(|r| r.uri.contains("/namespaces/infra/jobs")),
        "its workloads are read too"
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_and_unavailable_answers_are_retried() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let (conn, _) = connection(move |r| {
        if !r.uri.contains("/kustomizations") {
            return empty_list();
        }
        let mut calls = counted.lock().unwrap();
        *calls += 1;
        match *calls {
            1 => status(429, "TooManyRequests", "the server has received too many requests"),
            2 => status(503, "ServiceUnavailable", "try again"),
            _ => list(vec![kustomization("shop", "a", json!([]))], None),
        }
    });
    let snapshot = read(&conn, Some("shop")).await.0.unwrap();
    assert_eq!(snapshot.kustomizations.len(), 1);
    assert_eq!(*calls.lock().unwrap(), 3);
}

#[tokio::test]
async fn delete_says_gone_or_replaced_and_never_deletes_twice() {
    let job = NamespacedName::new("shop", "db-migration");
    for (answer, expected) in [
        (status(404, "NotFound", "jobs.batch \"db-migration\" not found"), Deleted::Gone),
        (
            status(409, "Conflict", "Precondition failed: UID in precondition: 1, UID in object meta: 2"),
            Deleted::Replaced,
        ),
        ((200, json!({"kind": "Status", "status": "Success"}).to_string()), Deleted::Deleted),
        // A finalizer holds it: the answer is the Job itself, with its deletionTimestamp.
        (
            (200, json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "db-migration", "namespace": "shop",
                "deletionTimestamp": "2026-12-01T00:00:00Z", "finalizers": ["example.com/hold"]}}).to_string()),
            Deleted::Terminating,
        ),
    ] {
        let (conn, seen) = connection(move |_| answer.clone());
        let deleted = write::delete_job(&conn, &job, "1", DryRun::No).await.unwrap();
        assert_eq!(deleted, expected);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "DELETE");
        let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
        assert_eq!(body["preconditions"]["uid"], "1", "under a uid precondition");
        assert_eq!(body["propagationPolicy"], "Background");
    }
}

#[tokio::test]
async fn a_reconcile_request_meeting_a_conflict_is_sent_again() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let (conn, seen) = connection(move |_| {
        let mut calls = counted.lock().unwrap();
        *calls += 1;
        if *calls == 1 {
            status(409, "Conflict", "the object has been modified")
        } else {
            (200, kustomization("shop", "app", json!([])).to_string())
        }
    });
    let stage = ObjectRef::new("ResourceSet", "shop", "app");
    write::request_reconcile(&conn, &stage, write::Request::Reconcile, "2026-12-01T00:00:00Z", DryRun::No)
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.method == "PATCH"
        && r.uri.starts_with("/apis/fluxcd.controlplane.io/v1/namespaces/shop/resourcesets/app?")
        && r.uri.contains("fieldManager=fluxjobs")));
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(body["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"], "2026-12-01T00:00:00Z");
}

/// A stage whose controller never handled the request has a Ready condition from before it: the
/// timeout says so instead of presenting it as the outcome.
#[tokio::test(start_paused = true)]
async fn a_request_never_handled_is_told_from_a_stage_still_on_its_way() {
    use crate::cluster::wait::{StageOutcome, stage_settled};
    let stage_with = |handled: &str, reason: &str| {
        let mut k = kustomization("shop", "app", json!([]));
        k["status"] = json!({"lastHandledReconcileAt": handled, "conditions": [
            {"type": "Ready", "status": "False", "reason": reason, "message": "old news"}]});
        (200, k.to_string())
    };
    let id = crate::refs::StageId::kustomization("shop", "app");
    let (never, _) = connection(move |_| stage_with("an-older-token", "DependencyNotReady"));
    let outcome = stage_settled(&never, &id, "token", Duration::from_secs(30)).await;
    assert_eq!(outcome, StageOutcome::TimedOut { handled: false, last: "DependencyNotReady: old news".into() });
    let (handled, _) = connection(move |_| stage_with("token", "DependencyNotReady"));
    let outcome = stage_settled(&handled, &id, "token", Duration::from_secs(30)).await;
    assert!(matches!(outcome, StageOutcome::TimedOut { handled: true, .. }), "{outcome:?}");
}
