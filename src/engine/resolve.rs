//! The walk from a stage that is not Ready to the stage at fault: through its source, or through
//! `dependsOn` in the order kustomize-controller checks it (fluxcd/kustomize-controller
//! internal/controller/kustomization_controller.go checkDependencies), memoised per stage.

use std::collections::HashMap;

use super::causes::{self, source_problem};
use super::state::{dependency_ready, own_state};
use super::{Graph, Index, hints, messages, ready_expr, resource_set};
use crate::model::{Condition, DependencyReference, Kustomization, ResourceSet};
use crate::refs::{ObjectRef, StageId};
use crate::report::{ReadyExprReport, Reason, RootCause, StageState};

/// Why a stage is not Ready: the stages from it to the stage at fault, the object at fault, and the
/// next step.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub path: Vec<StageId>,
    pub cause: RootCause,
    pub hint: String,
}

impl Resolution {
    /// A cause inside the stage `id` itself.
    pub fn at(id: &StageId, cause: RootCause, hint: String) -> Self {
        Resolution { path: vec![id.clone()], cause, hint }
    }
}

/// A cause that is the Kustomization itself.
pub fn stage_cause(ks: &Kustomization, reason: Reason, message: impl Into<String>) -> RootCause {
    RootCause::new(ObjectRef::stage(&ks.id()), reason, message)
}

/// Why a dependency does not satisfy checkDependencies, in the order it checks.
enum DependencyCheck {
    Ok,
    NotFound,
    ReadyExprUnmet(String),
    NotReady,
    RevisionNotUpToDate { applied: Option<String>, wanted: String },
}

pub struct Resolver<'i, 'a> {
    index: &'i Index<'a>,
    graph: &'i Graph,
    memo: HashMap<StageId, Option<Resolution>>,
    /// Each stage's readyExprs, evaluated once (CEL compile and both objects parsed) for the
    /// root cause and the report alike.
    ready_exprs: HashMap<StageId, Vec<ReadyExprReport>>,
}

impl<'i, 'a> Resolver<'i, 'a> {
    pub fn new(index: &'i Index<'a>, graph: &'i Graph) -> Self {
        Resolver { index, graph, memo: HashMap::new(), ready_exprs: HashMap::new() }
    }

    /// Every `readyExpr` of the stage, evaluated on the snapshot (once per stage).
    pub fn ready_exprs(&mut self, ks: &Kustomization) -> &[ReadyExprReport] {
        let index = self.index;
        self.ready_exprs.entry(ks.id()).or_insert_with(|| {
            let with_expr = ks.spec.depends_on.iter().filter_map(|d| d.ready_expr.as_ref().map(|e| (d, e)));
            with_expr
                .map(|(dep_ref, expr)| {
                    let dependency = ks.dependency_id(dep_ref);
                    let (value, error) = match index.kustomization(&dependency) {
                        Some(dep) => match ready_expr::evaluate(expr, &ks.object, &dep.object) {
                            Ok(value) => (Some(value), None),
                            Err(e) => (None, Some(e.to_string())),
                        },
                        None => (None, None),
                    };
                    ReadyExprReport { dependency, expression: expr.clone(), value, error }
                })
                .collect()
        })
    }

    /// A ResourceSet's readyExprs (on dependencies with `ready: true`), evaluated the way
    /// flux-operator binds them: the dependency's fields as variables. Only a Kustomization
    /// dependency is kept whole here; others are reported as not evaluated.
    pub fn rset_ready_exprs(&self, rset: &ResourceSet) -> Vec<ReadyExprReport> {
        let with_expr = rset.spec.depends_on.iter().filter(|d| d.ready);
        with_expr
            .filter_map(|dep| {
                let expression = dep.ready_expr.clone()?;
                let dependency = dep.stage()?;
                let (value, error) = match self.index.kustomization(&dependency) {
                    Some(ks) => match ready_expr::evaluate_on(&expression, &ks.object) {
                        Ok(value) => (Some(value), None),
                        Err(e) => (None, Some(e.to_string())),
                    },
                    None if self.index.has_stage(&dependency) => {
                        (None, Some("only Kustomization dependencies are evaluated here".to_string()))
                    }
                    None => (None, None),
                };
                Some(ReadyExprReport { dependency, expression, value, error })
            })
            .collect()
    }

    /// Why stage `id` is not Ready; `None` when it is.
    pub fn resolve(&mut self, id: &StageId) -> Option<Resolution> {
        self.resolve_visiting(id, &mut Vec::new())
    }

    fn resolve_visiting(&mut self, id: &StageId, visiting: &mut Vec<StageId>) -> Option<Resolution> {
        if let Some(done) = self.memo.get(id) {
            return done.clone();
        }
        let result = self.resolve_uncached(id, visiting);
        self.memo.insert(id.clone(), result.clone());
        result
    }

    fn resolve_uncached(&mut self, id: &StageId, visiting: &mut Vec<StageId>) -> Option<Resolution> {
        if let Some(rset) = self.index.resource_set(id) {
            return self.resolve_resource_set(rset, visiting);
        }
        let ks = self.index.kustomization(id)?;
        if let Some(cycle) = self.graph.cycle(id) {
            let message = format!("circular dependency detected: {cycle}");
            return Some(Resolution::at(id, stage_cause(ks, Reason::DependencyCycle, message), hints::break_cycle()));
        }
        match own_state(self.index, ks) {
            StageState::Ready => None,
            StageState::Suspended => Some(causes::suspended(ks)),
            StageState::Blocked => {
                visiting.push(id.clone());
                let r = self.blocked(ks, visiting);
                visiting.pop();
                Some(r)
            }
            StageState::Unknown => Some(causes::not_reconciled(self.index, ks)),
            StageState::Progressing => Some(causes::progressing(self.index, ks)),
            StageState::Failed => Some(causes::failed(self.index, ks)),
        }
    }

    /// A stage waiting on something upstream: its source, or its first unready dependency.
    fn blocked(&mut self, ks: &Kustomization, visiting: &mut Vec<StageId>) -> Resolution {
        let id = ks.id();
        let ready = ks.condition("Ready").cloned().unwrap_or_default();
        if ready.reason == "ArtifactFailed"
            && let Some((cause, hint)) = source_problem(self.index, ks)
        {
            return Resolution::at(&id, cause, hint);
        }
        // kustomize-controller reports only the first failing dependency, in spec order; do the same walk but name the
        // object at the end of the chain.
        for dep_ref in &ks.spec.depends_on {
            let dep_id = ks.dependency_id(dep_ref);
            let check = check_dependency(self.index, ks, dep_ref, &dep_id, &ready);
            let at_dependency = |cause, hint| Resolution { path: vec![id.clone(), dep_id.clone()], cause, hint };
            match check {
                DependencyCheck::Ok => continue,
                DependencyCheck::NotFound => {
                    let cause = RootCause::new(
                        ObjectRef::stage(&dep_id),
                        Reason::DependencyNotFound,
                        messages::dependency_not_found(&dep_id),
                    );
                    return at_dependency(cause, hints::create_dependency(&dep_id, &id));
                }
                DependencyCheck::ReadyExprUnmet(expr) => {
                    let (cause, hint) = self.ready_expr_unmet(ks, &dep_id, &expr);
                    return at_dependency(cause, hint);
                }
                check @ (DependencyCheck::NotReady | DependencyCheck::RevisionNotUpToDate { .. }) => {
                    if visiting.contains(&dep_id) {
                        continue; // a cycle; reported on the stages in it
                    }
                    let upstream = self.resolve_visiting(&dep_id, visiting);
                    let dep = self.index.kustomization(&dep_id).expect("checked");
                    let mut r = upstream.unwrap_or_else(|| dependency_itself(dep, &check));
                    if let DependencyCheck::RevisionNotUpToDate { wanted, .. } = &check
                        && r.cause.reason == Reason::Suspended
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
        let message = format!(
            "{}; its dependencies are ready now, kustomize-controller re-checks them every --requeue-dependency (30s by default)",
            ready.message
        );
        Resolution::at(&id, stage_cause(ks, Reason::DependencyNotReady, message), hints::reconcile_stage(&id))
    }

    fn resolve_resource_set(&mut self, rset: &ResourceSet, visiting: &mut Vec<StageId>) -> Option<Resolution> {
        let id = rset.id();
        if let Some(cycle) = self.graph.cycle(&id) {
            let message = format!("circular dependency detected: {cycle}");
            let cause = resource_set::rset_cause(rset, Reason::DependencyCycle, message);
            return Some(Resolution::at(&id, cause, hints::break_cycle()));
        }
        match resource_set::own_state(rset) {
            StageState::Ready => None,
            StageState::Blocked => {
                visiting.push(id.clone());
                let r = self.rset_blocked(rset, visiting);
                visiting.pop();
                Some(r)
            }
            state => Some(resource_set::cause(self.index, rset, state)),
        }
    }

    /// A ResourceSet waiting on a dependency: the first one that fails flux-operator's check, in
    /// spec order (`checkDependencies` in github.com/controlplaneio-fluxcd/flux-operator
    /// internal/controller/resourceset_controller.go): existence always; with `ready`, its
    /// readyExpr, else Ready for its generation (kstatus for other kinds).
    fn rset_blocked(&mut self, rset: &ResourceSet, visiting: &mut Vec<StageId>) -> Resolution {
        let id = rset.id();
        let ready = rset.condition("Ready").cloned().unwrap_or_default();
        for dep in &rset.spec.depends_on {
            let display = dep.display();
            let Some(dep_id) = dep.stage() else {
                // Another kind: not read by this plugin, so the controller's message is the evidence.
                if ready.message.contains(&format!("dependency {display} ")) {
                    let object = ObjectRef::new(&dep.kind, dep.namespace.as_deref().unwrap_or_default(), &dep.name);
                    let message = ready.message.trim_start_matches("Retrying dependency check: ").to_string();
                    let hint =
                        format!("kubectl get {} {} -n {} -o yaml", dep.kind.to_lowercase(), dep.name, object.namespace);
                    return Resolution {
                        path: vec![id.clone()],
                        cause: RootCause::new(object, Reason::DependencyNotReady, message),
                        hint,
                    };
                }
                continue;
            };
            let at_dependency = |cause, hint| Resolution { path: vec![id.clone(), dep_id.clone()], cause, hint };
            if !self.index.has_stage(&dep_id) {
                let message = format!("dependency {display} not found");
                let cause = RootCause::new(ObjectRef::stage(&dep_id), Reason::DependencyNotFound, message);
                return at_dependency(cause, hints::create_dependency(&dep_id, &id));
            }
            if !dep.ready {
                continue; // existence is all flux-operator checks
            }
            if let Some(expr) = &dep.ready_expr {
                if messages::operator_ready_expr_unmet(&ready.message, &display) {
                    let evaluated = self.rset_ready_exprs(rset).into_iter().find(|e| e.dependency == dep_id);
                    let now = match evaluated.map(|e| (e.value, e.error)) {
                        Some((Some(false), _)) => "false here too".to_string(),
                        Some((Some(true), _)) => "true on these objects now".to_string(),
                        Some((None, error)) => format!("not evaluated here: {}", error.unwrap_or_default()),
                        None => "not evaluated here".to_string(),
                    };
                    let message = format!("dependency {display} not ready: expression '{expr}' ({now})");
                    let cause = RootCause::new(ObjectRef::stage(&dep_id), Reason::ReadyExprNotMet, message);
                    return at_dependency(cause, hints::ready_expr_false(&id, &dep_id));
                }
                continue;
            }
            let dep_ready = match self.index.resource_set(&dep_id) {
                Some(dep_rset) => dep_rset.healthy(),
                None => self.index.kustomization(&dep_id).is_some_and(dependency_ready),
            };
            if dep_ready || visiting.contains(&dep_id) {
                continue;
            }
            let mut r = self.resolve_visiting(&dep_id, visiting).unwrap_or_else(|| {
                let message = format!("dependency {display} not ready");
                let cause = RootCause::new(ObjectRef::stage(&dep_id), Reason::DependencyNotReady, message);
                Resolution::at(&dep_id, cause, hints::reconcile_stage(&dep_id))
            });
            r.path.insert(0, id.clone());
            return r;
        }
        let message = format!(
            "{}; its dependencies are ready now, flux-operator re-checks them every --requeue-dependency (5s by default)",
            ready.message
        );
        let cause = resource_set::rset_cause(rset, Reason::DependencyNotReady, message);
        Resolution::at(&id, cause, hints::reconcile_stage(&id))
    }

    /// A `readyExpr` the controller found false; the snapshot may be newer than its last attempt,
    /// so the expression is evaluated again and the hint follows what it says now.
    fn ready_expr_unmet(&mut self, ks: &Kustomization, dep_id: &StageId, expr: &str) -> (RootCause, String) {
        let dep = self.index.kustomization(dep_id).expect("checked");
        let evaluated = self.ready_exprs(ks).iter().find(|e| &e.dependency == dep_id);
        let (value, error) = evaluated.map(|e| (e.value, e.error.clone())).unwrap_or_default();
        let unmet_hint = hints::ready_expr_false(&ks.id(), dep_id);
        let (now, hint) = match (value, error) {
            (Some(false), _) => ("false here too".to_string(), unmet_hint),
            (Some(true), _) => ("true on these objects now".to_string(), hints::ready_expr_holds_now(ks)),
            (None, e) => (format!("not evaluated here: {}", e.unwrap_or_default()), unmet_hint),
        };
        let message = format!("{}: {expr} ({now})", messages::ready_expr_unmet(dep_id));
        (stage_cause(dep, Reason::ReadyExprNotMet, message), hint)
    }
}

/// The dependency is the stage at fault although nothing inside it is wrong.
fn dependency_itself(dep: &Kustomization, check: &DependencyCheck) -> Resolution {
    let dep_id = dep.id();
    match check {
        DependencyCheck::RevisionNotUpToDate { applied, wanted } => {
            let message = messages::revision_not_up_to_date(&dep_id, applied.as_deref(), wanted);
            let hint = hints::wait_for_revision(&dep_id, wanted);
            Resolution::at(&dep_id, stage_cause(dep, Reason::RevisionNotUpToDate, message), hint)
        }
        _ => {
            let message = messages::dependency_not_ready(&dep_id);
            Resolution::at(
                &dep_id,
                stage_cause(dep, Reason::DependencyNotReady, message),
                hints::reconcile_stage(&dep_id),
            )
        }
    }
}

/// The checks of checkDependencies, in its order.
fn check_dependency(
    index: &Index,
    ks: &Kustomization,
    dep_ref: &DependencyReference,
    dep_id: &StageId,
    ready: &Condition,
) -> DependencyCheck {
    let Some(dep) = index.kustomization(dep_id) else {
        return DependencyCheck::NotFound;
    };
    if let Some(expr) = &dep_ref.ready_expr {
        // readyExpr replaces the built-in check (unless the AdditiveCELDependencyCheck gate is on).
        // The controller's own verdict in the Ready message decides; `ready_exprs` evaluates it again.
        return if ready.message.contains(&messages::ready_expr_unmet(dep_id)) {
            DependencyCheck::ReadyExprUnmet(expr.clone())
        } else {
            DependencyCheck::Ok
        };
    }
    if !dependency_ready(dep) {
        return DependencyCheck::NotReady;
    }
    // Only a dependency on the same source must have applied that source's current revision.
    if dep.source() == ks.source()
        && let Some(wanted) = index.source(&ks.source()).and_then(|s| s.artifact_revision())
    {
        let applied = dep.status.as_ref().and_then(|s| s.last_applied_revision.clone());
        if applied.as_deref() != Some(wanted) {
            return DependencyCheck::RevisionNotUpToDate { applied, wanted: wanted.to_string() };
        }
    }
    DependencyCheck::Ok
}
