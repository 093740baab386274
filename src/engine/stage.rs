//! Each stage's state, and the chain from a stage that is not Ready to the object at fault.

use std::collections::{HashMap, HashSet};

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::workload::{deployment_cause, job_cause, job_report, job_state, split_image};
use super::{Graph, Index, ready_expr};
use crate::model::{Condition, DependencyReference, Kustomization};
use crate::report::{JobReport, JobState, ReadyCondition, ReadyExprReport, Report, RootCause, StageReport, StageState};

/// Why a stage is not Ready: the stage ids from it to the stage at fault, and the object at fault.
#[derive(Clone, Debug)]
struct Resolution {
    path: Vec<String>,
    cause: RootCause,
    hint: String,
}

pub(super) fn report(index: &Index, graph: &Graph, pipelines: &[Vec<String>]) -> Report {
    let mut resolver = Resolver { index, graph, memo: HashMap::new(), ready_exprs: HashMap::new() };
    let mut stages = Vec::new();
    let mut warnings = Vec::new();
    for pipeline in pipelines {
        let first = stages.len();
        for id in pipeline {
            let ks = index.kustomization(id).expect("pipelines hold snapshot stages");
            let resolution = resolver.resolve(id, &mut Vec::new());
            let ready_exprs = resolver.ready_exprs(ks).to_vec();
            stages.push(stage_report(index, ks, resolution, ready_exprs));
        }
        warnings.extend(pipeline_warnings(index, pipeline, &stages[first..]));
    }
    Report { pipelines: pipelines.to_vec(), stages, warnings }
}

fn stage_report(
    index: &Index,
    ks: &Kustomization,
    resolution: Option<Resolution>,
    ready_exprs: Vec<ReadyExprReport>,
) -> StageReport {
    let (live, missing) = index.stage_jobs(ks);
    let mut jobs: Vec<JobReport> = live.into_iter().map(|j| job_report(index, j)).collect();
    for (ns, name) in missing {
        jobs.push(JobReport {
            namespace: ns.clone(),
            name: name.clone(),
            state: JobState::Missing,
            reason: Some("NotFound".into()),
            message: Some(missing_job_message(index, &ns, &name)),
            images: vec![],
            pods: vec![],
        });
    }
    let source = &ks.spec.source_ref;
    let source_revision = index
        .source(&source.kind, ks.source_namespace(), &source.name)
        .and_then(|s| s.artifact_revision())
        .map(str::to_string);
    let (path, root_cause, hint) = match resolution {
        Some(r) => (r.path, Some(r.cause), Some(r.hint)),
        None => (vec![], None, None),
    };
    StageReport {
        namespace: ks.namespace().to_string(),
        name: ks.name().to_string(),
        state: own_state(index, ks),
        depends_on: ks.dependency_ids(),
        suspended: ks.spec.suspend,
        revision: ks.status.as_ref().and_then(|s| s.last_applied_revision.clone()),
        source: format!("{}/{}/{}", source.kind, ks.source_namespace(), source.name),
        source_revision,
        ready: ks.condition("Ready").map(|c| ReadyCondition {
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition_time: c.last_transition_time.map(|t| t.to_string()),
        }),
        jobs,
        root_cause,
        path,
        hint,
        created: ks.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
        ready_exprs,
    }
}

/// A stage's own state, judged from its spec and status the way kustomize-controller writes them.
pub fn own_state(index: &Index, ks: &Kustomization) -> StageState {
    if ks.spec.suspend {
        return StageState::Suspended;
    }
    let Some(ready) = ks.condition("Ready") else {
        return StageState::Unknown;
    };
    // KC overwrites Ready with False/DependencyNotReady whenever a dependency check fails, even on a
    // stage that was Ready before (checkDependencies, KC ctrl.go).
    if ready.reason == "DependencyNotReady" {
        return StageState::Blocked;
    }
    match ready.status.as_str() {
        "True" if generation_observed(ks) => StageState::Ready,
        // status.observedGeneration only moves when a reconcile succeeds (finalizeStatus, KC ctrl.go):
        // Ready=True for an older generation means the new spec has not been applied yet.
        "True" | "Unknown" => StageState::Progressing,
        _ if ready.reason == "ArtifactFailed" && source_problem(index, ks).is_some() => StageState::Blocked,
        _ if ready.reason == "HealthCheckCanceled" => StageState::Progressing,
        _ => StageState::Failed,
    }
}

/// How long a new Kustomization may go without conditions before that points at the controller.
const NEW_STAGE_GRACE: SignedDuration = SignedDuration::from_secs(30);

fn generation_observed(ks: &Kustomization) -> bool {
    let observed = ks.status.as_ref().and_then(|s| s.observed_generation);
    match (ks.metadata.generation, observed) {
        (Some(g), Some(o)) => g == o,
        (Some(_), None) => false,
        (None, _) => true, // hand-written objects without generation
    }
}

/// Why a dependency does not satisfy `checkDependencies` (KC ctrl.go), in the order it checks.
enum DependencyCheck {
    Ok,
    NotFound,
    ReadyExprUnmet(String),
    NotReady,
    RevisionNotUpToDate { applied: Option<String>, wanted: String },
}

struct Resolver<'i, 'a> {
    index: &'i Index<'a>,
    graph: &'i Graph,
    memo: HashMap<String, Option<Resolution>>,
    /// Each stage's readyExprs, evaluated once (CEL compile and both objects parsed) for the
    /// root cause and the report alike.
    ready_exprs: HashMap<String, Vec<ReadyExprReport>>,
}

impl Resolver<'_, '_> {
    /// Every `readyExpr` of the stage, evaluated on the snapshot (once per stage).
    fn ready_exprs(&mut self, ks: &Kustomization) -> &[ReadyExprReport] {
        let index = self.index;
        self.ready_exprs.entry(ks.id()).or_insert_with(|| {
            let with_expr = ks.spec.depends_on.iter().filter_map(|d| d.ready_expr.as_ref().map(|e| (d, e)));
            with_expr
                .map(|(dep_ref, expr)| {
                    let dependency = dependency_id(ks, dep_ref);
                    let (value, error) = match index.kustomization(&dependency) {
                        Some(dep) => match ready_expr::evaluate(expr, &ks.object, &dep.object) {
                            Ok(value) => (Some(value), None),
                            Err(e) => (None, Some(e)),
                        },
                        None => (None, None),
                    };
                    ReadyExprReport { dependency, expression: expr.clone(), value, error }
                })
                .collect()
        })
    }

    fn resolve(&mut self, id: &str, visiting: &mut Vec<String>) -> Option<Resolution> {
        if let Some(done) = self.memo.get(id) {
            return done.clone();
        }
        let result = self.resolve_uncached(id, visiting);
        self.memo.insert(id.to_string(), result.clone());
        result
    }

    fn resolve_uncached(&mut self, id: &str, visiting: &mut Vec<String>) -> Option<Resolution> {
        let ks = self.index.kustomization(id)?;
        if let Some(cycle) = self.graph.cycle(id) {
            return Some(Resolution {
                path: vec![id.to_string()],
                cause: stage_cause(ks, "DependencyCycle", format!("circular dependency detected: {cycle}")),
                hint: "remove one dependsOn entry of the cycle; kustomize-controller can never satisfy it".into(),
            });
        }
        match own_state(self.index, ks) {
            StageState::Ready => None,
            StageState::Suspended => Some(Resolution {
                path: vec![id.to_string()],
                cause: stage_cause(ks, "Suspended", "reconciliation is suspended (spec.suspend: true)".into()),
                hint: format!("flux resume kustomization {} -n {}", ks.name(), ks.namespace()),
            }),
            StageState::Blocked => {
                visiting.push(id.to_string());
                let r = self.blocked(ks, visiting);
                visiting.pop();
                Some(r)
            }
            state => Some(own_cause(self.index, ks, state)),
        }
    }

    /// A stage waiting on something upstream: its source, or its first unready dependency.
    fn blocked(&mut self, ks: &Kustomization, visiting: &mut Vec<String>) -> Resolution {
        let id = ks.id();
        let ready = ks.condition("Ready").cloned().unwrap_or_default();
        if ready.reason == "ArtifactFailed"
            && let Some((cause, hint)) = source_problem(self.index, ks)
        {
            return Resolution { path: vec![id], cause, hint };
        }
        // KC reports only the first failing dependency, in spec order; do the same walk but name the
        // object at the end of the chain.
        for dep in &ks.spec.depends_on {
            let dep_id = dependency_id(ks, dep);
            match check_dependency(self.index, ks, dep, &dep_id, &ready) {
                DependencyCheck::Ok => continue,
                DependencyCheck::NotFound => {
                    let (ns, name) = dep_id.split_once('/').unwrap_or(("", &dep_id));
                    return Resolution {
                        path: vec![id.clone(), dep_id.clone()],
                        cause: RootCause {
                            kind: "Kustomization".into(),
                            namespace: ns.into(),
                            name: name.into(),
                            reason: "DependencyNotFound".into(),
                            message: format!("dependency '{dep_id}' not found"),
                            exit_code: None,
                            container: None,
                            via: vec![],
                            events: vec![],
                            logs: None,
                        },
                        hint: format!("create Kustomization {dep_id}, or remove it from spec.dependsOn of {id}"),
                    };
                }
                DependencyCheck::ReadyExprUnmet(expr) => {
                    let dep = self.index.kustomization(&dep_id).expect("checked");
                    let unmet_hint = format!(
                        "the readyExpr of {id}'s dependency on {dep_id} is false; check it against {dep_id}'s status"
                    );
                    // The controller's verdict is from its last attempt; the snapshot may be newer.
                    let evaluated = self.ready_exprs(ks).iter().find(|e| e.dependency == dep_id);
                    let (value, error) = evaluated.map(|e| (e.value, e.error.clone())).unwrap_or_default();
                    let (now, hint) = match (value, error) {
                        (Some(false), _) => ("false here too".to_string(), unmet_hint),
                        (Some(true), _) => (
                            "true on these objects now".to_string(),
                            format!(
                                "kustomize-controller retries {id} after its dependency requeue (30s by default); to go on at once: kubectl fluxjobs reconcile {} -n {}",
                                ks.name(),
                                ks.namespace()
                            ),
                        ),
                        (None, e) => (format!("not evaluated here: {}", e.unwrap_or_default()), unmet_hint),
                    };
                    return Resolution {
                        path: vec![id.clone(), dep_id.clone()],
                        cause: stage_cause(
                            dep,
                            "ReadyExprNotMet",
                            format!("dependency '{dep_id}' is not ready according to readyExpr eval: {expr} ({now})"),
                        ),
                        hint,
                    };
                }
                check @ (DependencyCheck::NotReady | DependencyCheck::RevisionNotUpToDate { .. }) => {
                    if visiting.contains(&dep_id) {
                        continue; // a cycle; reported on the stages in it
                    }
                    let upstream = self.resolve(&dep_id, visiting);
                    let dep = self.index.kustomization(&dep_id).expect("checked");
                    let mut r = upstream.unwrap_or_else(|| match &check {
                        DependencyCheck::RevisionNotUpToDate { applied, wanted } => Resolution {
                            path: vec![dep_id.clone()],
                            cause: stage_cause(
                                dep,
                                "RevisionNotUpToDate",
                                format!(
                                    "dependency '{dep_id}' revision is not up to date: applied {}, source has {wanted}",
                                    applied.as_deref().unwrap_or("nothing")
                                ),
                            ),
                            hint: format!("wait for {dep_id} to apply {wanted}, or reconcile it"),
                        },
                        _ => Resolution {
                            path: vec![dep_id.clone()],
                            cause: stage_cause(
                                dep,
                                "DependencyNotReady",
                                format!("dependency '{dep_id}' is not ready"),
                            ),
                            hint: format!("flux reconcile kustomization {} -n {}", dep.name(), dep.namespace()),
                        },
                    });
                    if let DependencyCheck::RevisionNotUpToDate { wanted, .. } = &check
                        && r.cause.reason == "Suspended"
                        && r.path.len() == 1
                    {
                        r.cause.message = format!(
                            "{}; a new revision ({wanted}) arrived, so its dependents wait for it (\"revision is not up to date\")",
                            r.cause.message
                        );
                    }
                    r.path.insert(0, id.clone());
                    return r;
                }
            }
        }
        // Every dependency is ready now: the block is stale until the controller re-checks.
        Resolution {
            path: vec![id.clone()],
            cause: stage_cause(
                ks,
                "DependencyNotReady",
                format!(
                    "{}; its dependencies are ready now, kustomize-controller re-checks them every --requeue-dependency (30s by default)",
                    ready.message
                ),
            ),
            hint: format!("flux reconcile kustomization {} -n {}", ks.name(), ks.namespace()),
        }
    }
}

fn dependency_id(ks: &Kustomization, dep: &DependencyReference) -> String {
    let ns = dep.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(ks.namespace());
    format!("{ns}/{}", dep.name)
}

/// The checks of `checkDependencies` (KC ctrl.go), in its order.
fn check_dependency(
    index: &Index,
    ks: &Kustomization,
    dep_ref: &DependencyReference,
    dep_id: &str,
    ready: &Condition,
) -> DependencyCheck {
    let Some(dep) = index.kustomization(dep_id) else {
        return DependencyCheck::NotFound;
    };
    if let Some(expr) = &dep_ref.ready_expr {
        // readyExpr replaces the built-in check (unless the AdditiveCELDependencyCheck gate is on).
        // CEL is not evaluated here; the controller's own verdict in the Ready message is used.
        let verdict = format!("dependency '{dep_id}' is not ready according to readyExpr eval");
        return if ready.message.contains(&verdict) {
            DependencyCheck::ReadyExprUnmet(expr.clone())
        } else {
            DependencyCheck::Ok
        };
    }
    let dep_ready = dep.condition("Ready");
    if dep_ready.is_none_or(|c| c.status != "True") || !generation_observed(dep) {
        return DependencyCheck::NotReady;
    }
    // Only a dependency on the same source must have applied that source's current revision.
    let same_source = dep.spec.source_ref.kind == ks.spec.source_ref.kind
        && dep.spec.source_ref.name == ks.spec.source_ref.name
        && dep.source_namespace() == ks.source_namespace();
    if same_source {
        let src = &ks.spec.source_ref;
        if let Some(wanted) =
            index.source(&src.kind, ks.source_namespace(), &src.name).and_then(|s| s.artifact_revision())
        {
            let applied = dep.status.as_ref().and_then(|s| s.last_applied_revision.clone());
            if applied.as_deref() != Some(wanted) {
                return DependencyCheck::RevisionNotUpToDate { applied, wanted: wanted.to_string() };
            }
        }
    }
    DependencyCheck::Ok
}

fn stage_cause(ks: &Kustomization, reason: &str, message: String) -> RootCause {
    RootCause {
        kind: "Kustomization".into(),
        namespace: ks.namespace().into(),
        name: ks.name().into(),
        reason: reason.into(),
        message,
        exit_code: None,
        container: None,
        via: vec![],
        events: vec![],
        logs: None,
    }
}

/// The source object at fault when a stage cannot get its artifact.
fn source_problem(index: &Index, ks: &Kustomization) -> Option<(RootCause, String)> {
    let r = &ks.spec.source_ref;
    let ns = ks.source_namespace();
    let cause = |reason: &str, message: String| RootCause {
        kind: r.kind.clone(),
        namespace: ns.into(),
        name: r.name.clone(),
        reason: reason.into(),
        message,
        exit_code: None,
        container: None,
        via: vec![],
        events: index.warning_events(ns, &r.kind, &r.name),
        logs: None,
    };
    let hint = format!("flux get sources all -n {ns}; the source must be Ready with an artifact");
    let Some(source) = index.source(&r.kind, ns, &r.name) else {
        return Some((cause("SourceNotFound", format!("{} '{ns}/{}' not found", r.kind, r.name)), hint));
    };
    let ready = source.ready();
    if source.artifact_revision().is_none() {
        let detail = ready.map(|c| c.message.clone()).filter(|m| !m.is_empty());
        let message = match detail {
            Some(m) => format!("the source has no artifact: {m}"),
            None => "the source has no artifact".to_string(),
        };
        return Some((cause("ArtifactMissing", message), hint));
    }
    match ready {
        Some(c) if c.status == "False" => Some((cause(&c.reason, c.message.clone()), hint)),
        _ => None,
    }
}

/// The cause of a stage that is itself Failed, Progressing or Unknown.
fn own_cause(index: &Index, ks: &Kustomization, state: StageState) -> Resolution {
    let id = ks.id();
    let at = |cause: RootCause, hint: String| Resolution { path: vec![id.clone()], cause, hint };
    let ready = ks.condition("Ready").cloned().unwrap_or_default();
    if state == StageState::Unknown {
        let check_controller = format!(
            "check that kustomize-controller is running and watches namespace {} (flux check; flux logs --kind Kustomization)",
            ks.namespace()
        );
        let age = ks.metadata.creation_timestamp.as_ref().map(|t| index.now.duration_since(t.0));
        let (message, hint) = match age {
            // kustomize-controller writes its first condition (Reconciling) within seconds of
            // creation; a fresh object without one is only waiting its turn.
            Some(age) if age < NEW_STAGE_GRACE => (
                format!("not reconciled yet: created {} ago", human(age)),
                format!(
                    "kustomize-controller picks new Kustomizations up within seconds; if this lasts, {check_controller}"
                ),
            ),
            Some(age) => {
                (format!("never reconciled: no status conditions {} after creation", human(age)), check_controller)
            }
            None => ("never reconciled: no status conditions".to_string(), check_controller),
        };
        return at(stage_cause(ks, "NotReconciled", message), hint);
    }
    if state == StageState::Progressing {
        if ready.status == "True" {
            let generation = ks.metadata.generation.unwrap_or_default();
            let observed = ks.status.as_ref().and_then(|s| s.observed_generation).unwrap_or_default();
            return at(
                stage_cause(
                    ks,
                    "GenerationNotObserved",
                    format!("spec generation {generation} is not applied yet (last applied generation {observed})"),
                ),
                "kustomize-controller picks spec changes up at once; if this persists, check the controller is running"
                    .into(),
            );
        }
        let clock = health_clock(index, ks);
        if let Some(mut r) = workload_problem(index, ks, &id, None) {
            if let Some(clock) = &clock {
                r.cause.message = format!("{} ({clock})", r.cause.message);
            }
            return r;
        }
        let message = match &clock {
            Some(clock) => format!("{} ({clock})", ready.message),
            None => ready.message.clone(),
        };
        let running = index
            .stage_jobs(ks)
            .0
            .into_iter()
            .find(|j| matches!(job_state(j).0, JobState::Running | JobState::Pending));
        if let Some(job) = running {
            let (ns, name) =
                (job.metadata.namespace.clone().unwrap_or_default(), job.metadata.name.clone().unwrap_or_default());
            return at(
                RootCause {
                    kind: "Job".into(),
                    namespace: ns.clone(),
                    name: name.clone(),
                    reason: "JobRunning".into(),
                    message: format!("the Job has not finished yet; {}", clock.unwrap_or_default()),
                    exit_code: None,
                    container: None,
                    via: vec![],
                    events: index.warning_events(&ns, "Job", &name),
                    logs: None,
                },
                "wait for the Job; the stage becomes Ready when it completes".into(),
            );
        }
        return at(stage_cause(ks, "Progressing", message), "wait for kustomize-controller to finish".into());
    }
    // Failed.
    match ready.reason.as_str() {
        "ArtifactFailed" => {
            if let Some((cause, hint)) = source_problem(index, ks) {
                return at(cause, hint);
            }
            at(
                stage_cause(ks, "ArtifactFailed", ready.message.clone()),
                format!("check spec.path ({}) exists in the source revision", ks.spec.path.as_deref().unwrap_or("./")),
            )
        }
        "HealthCheckFailed" => {
            let refs = health_check_refs(&ready.message);
            if let Some(r) = workload_problem(index, ks, &id, Some(&refs)) {
                return r;
            }
            at(
                stage_cause(ks, "HealthCheckFailed", ready.message.clone()),
                "see the objects the health check names".into(),
            )
        }
        "ReconciliationFailed" => {
            if let Some(r) = immutable_field(ks, &ready.message) {
                return r;
            }
            at(
                stage_cause(ks, "ReconciliationFailed", first_line(&ready.message)),
                format!(
                    "fix the manifests applied by {id}; flux build kustomization {} -n {} shows what is applied",
                    ks.name(),
                    ks.namespace()
                ),
            )
        }
        "BuildFailed" => at(
            stage_cause(ks, "BuildFailed", first_line(&ready.message)),
            format!(
                "fix the kustomization at {} in the source; `flux build kustomization {} -n {}` reproduces it",
                ks.spec.path.as_deref().unwrap_or("./"),
                ks.name(),
                ks.namespace()
            ),
        ),
        reason => at(
            stage_cause(ks, reason, first_line(&ready.message)),
            format!("flux events --for Kustomization/{} -n {}", ks.name(), ks.namespace()),
        ),
    }
}

/// `elapsed of timeout` for a running health check, from the Reconciling condition's transition
/// time and the stage's timeout.
fn health_clock(index: &Index, ks: &Kustomization) -> Option<String> {
    let reconciling = ks.condition("Reconciling").filter(|c| c.status == "True")?;
    if !reconciling.message.starts_with("Running health checks") {
        return None;
    }
    let since = reconciling.last_transition_time?;
    Some(format!(
        "health check running for {} of its {} timeout",
        human(index.now.duration_since(since)),
        human(stage_timeout(ks))
    ))
}

/// `spec.timeout`, else `interval - 30s` but at least 30s: `GetTimeout` in KC api/v1/kustomization_types.go
/// (its doc comment says the default is the interval, the code does not).
pub fn stage_timeout(ks: &Kustomization) -> SignedDuration {
    if let Some(t) = ks.spec.timeout.as_deref().and_then(parse_go_duration) {
        return t;
    }
    let interval = ks.spec.interval.as_deref().and_then(parse_go_duration).unwrap_or(SignedDuration::from_mins(5));
    let t = interval - SignedDuration::from_secs(30);
    if t < SignedDuration::from_secs(30) { SignedDuration::from_secs(30) } else { t }
}

/// Parses Go `time.Duration` strings such as `5m`, `1h30m`, `1.5s`, `500ms`.
pub fn parse_go_duration(s: &str) -> Option<SignedDuration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    Some(SignedDuration::from_secs_f64(total))
}

/// Short human durations: `45s`, `2m10s`, `3h5m`, `4d2h`.
pub fn human(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 if secs % 60 == 0 => format!("{}m", secs / 60),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{}h", secs / 86400, (secs % 86400) / 3600),
    }
}

pub fn age(now: Timestamp, then: Timestamp) -> String {
    human(now.duration_since(then))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// `Kind/ns/name` and kstatus status of each object a health-check message names:
/// `... [Job/apps/db-migration status: 'Failed', Deployment/apps/app status: 'InProgress']`
/// (fluxcd/pkg ssa/manager_wait.go).
pub fn health_check_refs(message: &str) -> Vec<(String, String)> {
    let Some(start) = message.find('[') else {
        return vec![];
    };
    let end = message[start..].find(']').map(|e| start + e).unwrap_or(message.len());
    message[start + 1..end]
        .split(", ")
        .filter_map(|item| {
            let (reference, status) = item.split_once(" status: ")?;
            let status = status.trim_matches(|c| c == '\'' || c == ' ');
            let status = status.split('\'').next().unwrap_or(status);
            Some((reference.trim().to_string(), status.to_string()))
        })
        .collect()
}

/// The workload at fault in a stage: among `refs` (from a health-check message) when given, else
/// among all its Jobs and Deployments.
fn workload_problem(
    index: &Index,
    ks: &Kustomization,
    id: &str,
    refs: Option<&[(String, String)]>,
) -> Option<Resolution> {
    let (jobs, missing) = index.stage_jobs(ks);
    let deployments = index.stage_deployments(ks);
    let wanted = |kind: &str, ns: &str, name: &str| {
        refs.is_none_or(|refs| refs.iter().any(|(r, _)| r == &format!("{kind}/{ns}/{name}")))
    };
    let with_path = |cause: RootCause| {
        let hint = cause_hint(ks, &cause);
        Resolution { path: vec![id.to_string()], cause, hint }
    };
    for job in &jobs {
        let (ns, name) = (job.metadata.namespace.as_deref().unwrap_or(""), job.metadata.name.as_deref().unwrap_or(""));
        if wanted("Job", ns, name)
            && let Some(cause) = job_cause(index, job)
        {
            return Some(with_path(cause));
        }
    }
    // Jobs the health check still waits for although they are gone.
    let mut missing_refs =
        refs.into_iter().flatten().filter(|(r, status)| r.starts_with("Job/") && status == "NotFound");
    if let Some((reference, _)) = missing_refs.next() {
        let mut parts = reference.splitn(3, '/').skip(1);
        let (ns, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        return Some(with_path(missing_job_cause(index, ns, name, true)));
    }
    if refs.is_none()
        && let Some((ns, name)) = missing.first()
    {
        return Some(with_path(missing_job_cause(index, ns, name, false)));
    }
    for deploy in deployments {
        let (ns, name) =
            (deploy.metadata.namespace.as_deref().unwrap_or(""), deploy.metadata.name.as_deref().unwrap_or(""));
        if wanted("Deployment", ns, name)
            && let Some(cause) = deployment_cause(index, deploy)
        {
            return Some(with_path(cause));
        }
    }
    None
}

fn missing_job_message(index: &Index, ns: &str, name: &str) -> String {
    if index.job_completed_before(ns, name) {
        "in the inventory but gone from the cluster: deleted after it completed (ttlSecondsAfterFinished cleanup)"
            .into()
    } else {
        "in the inventory but gone from the cluster: deleted before it completed (not by the TTL controller)".into()
    }
}

fn missing_job_cause(index: &Index, ns: &str, name: &str, health_check_waits: bool) -> RootCause {
    let mut message = missing_job_message(index, ns, name);
    if health_check_waits {
        // Only Jobs whose manifest sets ttlSecondsAfterFinished count as healthy when NotFound
        // (fluxcd/pkg ssa ExtractJobsWithTTL, KC#1578); others are waited for until the timeout.
        message.push_str(
            "; the health check waits for it until the timeout because its manifest has no ttlSecondsAfterFinished",
        );
    }
    RootCause {
        kind: "Job".into(),
        namespace: ns.into(),
        name: name.into(),
        reason: "JobDeleted".into(),
        message,
        exit_code: None,
        container: None,
        via: vec![],
        events: index.warning_events(ns, "Job", name),
        logs: None,
    }
}

/// An immutable-field apply failure: `Job/apps/db-migration dry-run failed (Invalid): ... field is immutable`
/// (fluxcd/pkg ssa/errors DryRunErr). With `force` kustomize-controller would have recreated it.
fn immutable_field(ks: &Kustomization, message: &str) -> Option<Resolution> {
    let line = message.lines().find(|l| l.contains("dry-run failed") && l.contains("immutable"))?;
    let reference = line.split(" dry-run failed").next()?;
    let mut parts = reference.splitn(3, '/');
    let (kind, ns, name) = (parts.next()?, parts.next()?, parts.next()?);
    let hint = if ks.spec.force {
        "force is on but the object could not be recreated; see the stage's events".to_string()
    } else {
        format!(
            "set spec.force: true on Kustomization {} (or label the {kind} kustomize.toolkit.fluxcd.io/force: enabled) so Flux recreates it; or: kubectl fluxjobs rerun {}/{name} -n {ns}",
            ks.id(),
            kind.to_lowercase()
        )
    };
    Some(Resolution {
        path: vec![ks.id()],
        cause: RootCause {
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
            reason: "ImmutableField".into(),
            message: abbreviate_invalid_values(line.trim()),
            exit_code: None,
            container: None,
            via: vec![],
            events: vec![],
            logs: None,
        },
        hint,
    })
}

/// The API server's validation errors print the whole rejected value (`spec.template: Invalid
/// value: {"labels":...}: field is immutable`, k8s.io/apimachinery field.Invalid); a structured
/// value is shortened to `{…}` so the message fits a terminal. The stage's Ready message keeps it all.
fn abbreviate_invalid_values(message: &str) -> String {
    const MARK: &str = "Invalid value: ";
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        let start = at + MARK.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(open @ ('{' | '[')) = rest.chars().next() else {
            continue;
        };
        let close = if open == '{' { '}' } else { ']' };
        let (mut depth, mut in_string, mut escaped, mut end) = (0usize, false, false, None);
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '{' | '[' if !in_string => depth += 1,
                '}' | ']' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i + c.len_utf8());
                        break;
                    }
                }
                _ => {}
            }
        }
        match end {
            Some(end) => {
                out.push(open);
                out.push('…');
                out.push(close);
                rest = &rest[end..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// One actionable next step for a workload cause.
fn cause_hint(ks: &Kustomization, cause: &RootCause) -> String {
    let rerun = match cause.via.first().or(Some(&format!("{}/{}/{}", cause.kind, cause.namespace, cause.name))) {
        Some(r) if r.starts_with("Job/") => {
            let mut p = r.splitn(3, '/').skip(1);
            let (ns, name) = (p.next().unwrap_or(""), p.next().unwrap_or(""));
            format!("kubectl fluxjobs rerun job/{name} -n {ns}")
        }
        _ => format!("flux reconcile kustomization {} -n {}", ks.name(), ks.namespace()),
    };
    match cause.reason.as_str() {
        "Unschedulable" => {
            format!("lower the pod's resource requests or add capacity, then {rerun}")
        }
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" | "RegistryUnavailable" => {
            format!("check the image name and tag in the source and the pull secret, then {rerun}")
        }
        "CreateContainerConfigError" | "CreateContainerError" => {
            format!("create the Secret or ConfigMap the message names (or fix the reference), then {rerun}")
        }
        "OOMKilled" => format!("raise the container's memory limit, then {rerun}"),
        "CrashLoopBackOff" => {
            "read the container's logs; with restartPolicy OnFailure it restarts until backoffLimit".into()
        }
        "Evicted" => format!("the node ran out of a resource; {rerun}"),
        "DeadlineExceeded" => {
            format!("raise spec.activeDeadlineSeconds or make the Job faster, then {rerun}")
        }
        "JobSuspended" => format!(
            "kubectl patch job {} -n {} --type=merge -p '{{\"spec\":{{\"suspend\":false}}}}'",
            cause.name, cause.namespace
        ),
        "JobDeleted" => format!(
            "flux reconcile kustomization {} -n {} (kustomize-controller recreates the Job)",
            ks.name(),
            ks.namespace()
        ),
        "JobRunning" => "wait for the Job; the stage becomes Ready when it completes".into(),
        "ProgressDeadlineExceeded" | "ReplicasUnavailable" | "MinimumReplicasUnavailable" => {
            format!("kubectl rollout status deployment/{} -n {}", cause.name, cause.namespace)
        }
        _ if cause.exit_code.is_some() => {
            format!("fix what made the container fail (see its logs), then {rerun}")
        }
        _ => rerun,
    }
}

/// Pattern checks over one pipeline's shown stages (`stages` are that pipeline's, in order).
fn pipeline_warnings(index: &Index, pipeline: &[String], stages: &[StageReport]) -> Vec<String> {
    let mut warnings = Vec::new();
    // Deployment images by repository.
    let mut deployed: Vec<(String, String, String)> = Vec::new(); // (repo, tag, Deployment ref)
    for id in pipeline {
        let ks = index.kustomization(id).expect("shown");
        for d in index.stage_deployments(ks) {
            let containers = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|p| &p.containers);
            for c in containers.into_iter().flatten() {
                if let (repo, Some(tag)) = split_image(c.image.as_deref().unwrap_or_default()) {
                    let r = format!(
                        "Deployment {}/{}",
                        d.metadata.namespace.as_deref().unwrap_or(""),
                        d.metadata.name.as_deref().unwrap_or("")
                    );
                    deployed.push((repo.to_string(), tag.to_string(), r));
                }
            }
        }
    }
    let mut seen = HashSet::new();
    for stage in stages {
        for job in &stage.jobs {
            for image in &job.images {
                let (repo, Some(tag)) = split_image(image) else {
                    continue;
                };
                for (drepo, dtag, dref) in &deployed {
                    if drepo == repo && dtag != tag && seen.insert((job.name.clone(), dref.clone())) {
                        warnings.push(format!(
                            "Job {}/{} (stage {}) runs {repo}:{tag} but {dref} runs {repo}:{dtag}; the pre/post-deploy pattern relies on both using the same tag",
                            job.namespace, job.name, stage.id()
                        ));
                    }
                }
            }
            if job.state == JobState::Suspended && stage.state == StageState::Ready {
                warnings.push(format!(
                    "Job {}/{} is suspended: Flux's health check counts a suspended Job as healthy, so stage {} is Ready although the Job has not run",
                    job.namespace, job.name, stage.id()
                ));
            }
            if job.state == JobState::Missing
                && stage.state == StageState::Ready
                && index.job_completed_before(&job.namespace, &job.name)
            {
                warnings.push(format!(
                    "Job {}/{} of stage {} was removed by its ttlSecondsAfterFinished; kustomize-controller creates it again, and so runs it again, at the stage's next reconcile",
                    job.namespace, job.name, stage.id()
                ));
            }
        }
        for expr in &stage.ready_exprs {
            if let Some(error) = &expr.error {
                warnings.push(format!(
                    "the readyExpr of stage {} on {} could not be evaluated here ({error}); kustomize-controller's verdict is shown: `{}`",
                    stage.id(),
                    expr.dependency,
                    expr.expression
                ));
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviates_rejected_values_in_api_errors() {
        let message = r#"Job/shop/db-migration dry-run failed (Invalid): Job.batch "db-migration" is invalid: spec.template: Invalid value: {"labels":{"a":"b}"},"Spec":{"Containers":[{"Image":"x"}]}}: field is immutable"#;
        assert_eq!(
            abbreviate_invalid_values(message),
            r#"Job/shop/db-migration dry-run failed (Invalid): Job.batch "db-migration" is invalid: spec.template: Invalid value: {…}: field is immutable"#
        );
        let scalar = r#"spec.completions: Invalid value: 2: field is immutable"#;
        assert_eq!(abbreviate_invalid_values(scalar), scalar);
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("5m"), Some(SignedDuration::from_mins(5)));
        assert_eq!(parse_go_duration("1h30m"), Some(SignedDuration::from_mins(90)));
        assert_eq!(parse_go_duration("1.5s"), Some(SignedDuration::from_millis(1500)));
        assert_eq!(parse_go_duration("500ms"), Some(SignedDuration::from_millis(500)));
        assert_eq!(parse_go_duration("5 minutes"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn formats_human_durations() {
        assert_eq!(human(SignedDuration::from_secs(45)), "45s");
        assert_eq!(human(SignedDuration::from_secs(130)), "2m10s");
        assert_eq!(human(SignedDuration::from_secs(300)), "5m");
        assert_eq!(human(SignedDuration::from_secs(3 * 3600 + 300)), "3h5m");
        assert_eq!(human(SignedDuration::from_secs(-5)), "0s");
    }

    #[test]
    fn default_timeout_is_interval_minus_30s_at_least_30s() {
        let mut ks = Kustomization::default();
        ks.spec.interval = Some("60m".into());
        assert_eq!(stage_timeout(&ks), SignedDuration::from_secs(3570));
        ks.spec.interval = Some("45s".into());
        assert_eq!(stage_timeout(&ks), SignedDuration::from_secs(30));
        ks.spec.timeout = Some("5m".into());
        assert_eq!(stage_timeout(&ks), SignedDuration::from_mins(5));
    }

    #[test]
    fn parses_health_check_messages() {
        let m = "health check failed after 30.01s: failed early due to stalled resources: [Job/apps/db-migration status: 'Failed', Deployment/apps/web status: 'InProgress']";
        assert_eq!(
            health_check_refs(m),
            vec![
                ("Job/apps/db-migration".to_string(), "Failed".to_string()),
                ("Deployment/apps/web".to_string(), "InProgress".to_string())
            ]
        );
        let m = "timeout waiting for: [Job/ns/x status: 'NotFound': Resource not found]";
        assert_eq!(health_check_refs(m), vec![("Job/ns/x".to_string(), "NotFound".to_string())]);
    }
}
