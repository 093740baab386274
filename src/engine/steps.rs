//! A ResourceSet's steps: which objects each step applies (from `spec.steps`, with `<< inputs.x >>`
//! rendered from the static inputs), and how far the last reconcile got, from the conditions
//! flux-operator writes (github.com/controlplaneio-fluxcd/flux-operator
//! internal/controller/resourceset_controller.go `apply`, internal/builder/resourceset.go).

use serde_json::Value;

use super::messages;
use crate::model::StageObject;
use crate::model::{OPERATOR_RECONCILE_ANNOTATION, ResourceSet, ResourceSetStep};
use crate::refs::NamespacedName;
use crate::report::StepState;
use crate::vocabulary::{ConditionReason, ConditionStatus, ConditionType};

/// The Jobs one step applies.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct StepJobs {
    pub jobs: Vec<NamespacedName>,
    /// Some of the step's objects could not be rendered here (names templated from input
    /// providers or with template functions), so `jobs` may be short.
    pub unrendered: bool,
}

/// The Jobs of each step, in step order.
pub(super) fn step_jobs(rset: &ResourceSet) -> Vec<StepJobs> {
    // No inputs (and no providers): flux-operator renders each resource once with no input set.
    let no_inputs = [Default::default()];
    let input_sets = if rset.spec.inputs.is_empty() { &no_inputs[..] } else { &rset.spec.inputs[..] };
    rset.spec.steps.iter().map(|step| jobs_of_step(rset, step, input_sets)).collect()
}

fn jobs_of_step(
    rset: &ResourceSet,
    step: &ResourceSetStep,
    input_sets: &[std::collections::BTreeMap<String, Value>],
) -> StepJobs {
    let mut out = StepJobs { unrendered: step.resources_template.is_some(), ..Default::default() };
    for resource in &step.resources {
        let is_job = resource["apiVersion"] == "batch/v1" && resource["kind"] == "Job";
        // Objects annotated reconcile: disabled are left out of the step (BuildResourceSet).
        let disabled = resource["metadata"]["annotations"][OPERATOR_RECONCILE_ANNOTATION] == "disabled";
        if !is_job || disabled {
            continue;
        }
        for inputs in input_sets {
            let name = resource["metadata"]["name"].as_str().and_then(|n| render(n, inputs));
            let namespace = match resource["metadata"]["namespace"].as_str() {
                Some(ns) => render(ns, inputs),
                None => Some(rset.namespace().to_string()),
            };
            match (namespace, name) {
                (Some(ns), Some(name)) => {
                    let id = NamespacedName::new(ns, name);
                    if !out.jobs.contains(&id) {
                        out.jobs.push(id);
                    }
                }
                _ => out.unrendered = true,
            }
        }
    }
    if !rset.spec.inputs_from.is_empty() && out.jobs.is_empty() {
        out.unrendered = true;
    }
    out
}

/// `text` with every `<< inputs.a.b >>` replaced by that input (flux-operator's Go templates use
/// `<<`/`>>` delimiters and an `inputs` function, internal/builder/resourceset.go `newTemplate`);
/// `None` when it uses anything else (functions, pipelines, provider inputs not in the object).
pub(super) fn render(text: &str, inputs: &std::collections::BTreeMap<String, Value>) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find(">>")?;
        let action = after[..end].trim_start_matches('-').trim_end_matches('-').trim();
        let path = action.strip_prefix("inputs.")?;
        let mut keys = path.split('.');
        let mut value = inputs.get(keys.next()?)?;
        for key in keys {
            value = value.get(key)?;
        }
        match value {
            Value::String(s) => out.push_str(s),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(&b.to_string()),
            _ => return None,
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// How far the ResourceSet's current (or last) reconcile got, step by step.
pub(super) fn step_states(rset: &ResourceSet, steps_done: impl Fn(usize) -> bool) -> Vec<StepState> {
    let total = rset.spec.steps.len();
    let position = |name: &str| rset.spec.steps.iter().position(|s| s.name == name);
    let mut states = vec![StepState::NotReached; total];
    let ready = rset.condition(ConditionType::Ready);
    let reconciling = rset.condition(ConditionType::Reconciling).filter(|c| c.status == ConditionStatus::True);
    let mark = |states: &mut Vec<StepState>, at: usize, state: StepState| {
        states[..at].fill(StepState::Done);
        states[at] = state;
    };
    if total == 0 {
        return states;
    }
    // Waiting on a dependency: no step runs (RSC checks dependencies before reconciling).
    if ready.is_some_and(|c| c.reason == ConditionReason::DependencyNotReady) {
        return states;
    }
    // A failed step stays failed while RSC retries it (Reconciling stays True meanwhile).
    if let Some(c) =
        ready.filter(|c| c.status == ConditionStatus::False && c.reason == ConditionReason::ReconciliationFailed)
        && let Some(at) = messages::failed_step(&c.message).and_then(|(name, _, _)| position(name))
    {
        mark(&mut states, at, StepState::Failed);
        return states;
    }
    if let Some(c) = reconciling {
        // A reconcile is running: `Applying step i/n "name"` is written before step i's health check;
        // the final step writes none (its health check runs after garbage collection), so while the
        // status still names step n-1 and that step is done, the final step is the one applying.
        let at = match messages::applying_step(&c.message) {
            Some((i, _)) if i >= 1 && i <= total => {
                let at = i - 1;
                if at + 2 == total && steps_done(at) { at + 1 } else { at }
            }
            // `Reconciliation in progress`: the first step is being applied.
            _ => 0,
        };
        mark(&mut states, at, StepState::Applying);
        return states;
    }
    if ready.is_some_and(|c| c.status == ConditionStatus::True) {
        states.fill(StepState::Done);
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rset(spec: Value, conditions: Value) -> ResourceSet {
        serde_json::from_value(json!({
            "metadata": {"name": "app", "namespace": "shop", "generation": 1},
            "spec": spec,
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    fn job(name: &str) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}})
    }

    fn three_steps() -> Value {
        json!({"steps": [
            {"name": "pre-deploy", "resources": [job("db-migration-<< inputs.tag >>")]},
            {"name": "deploy", "resources": [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"}}]},
            {"name": "post-deploy", "resources": [job("cache-refresh")]},
        ], "inputs": [{"tag": "v2"}]})
    }

    #[test]
    fn renders_inputs_and_refuses_what_it_cannot() {
        let inputs = serde_json::from_value(json!({"tag": "v2", "db": {"name": "orders"}, "n": 3})).unwrap();
        assert_eq!(render("m-<< inputs.tag >>", &inputs).as_deref(), Some("m-v2"));
        assert_eq!(render("<<- inputs.db.name ->>-<< inputs.n >>", &inputs).as_deref(), Some("orders-3"));
        assert_eq!(render("plain", &inputs).as_deref(), Some("plain"));
        assert_eq!(render("<< inputs.tag | slugify >>", &inputs), None);
        assert_eq!(render("<< inputs.missing >>", &inputs), None);
        assert_eq!(render("<< inputs.tag", &inputs), None);
    }

    #[test]
    fn maps_jobs_to_steps_in_the_resource_set_namespace() {
        let steps = step_jobs(&rset(three_steps(), json!([])));
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].jobs, [NamespacedName::new("shop", "db-migration-v2")]);
        assert!(steps[1].jobs.is_empty() && !steps[1].unrendered);
        assert_eq!(steps[2].jobs, [NamespacedName::new("shop", "cache-refresh")]);
        let mut from_providers = three_steps();
        from_providers["inputsFrom"] = json!([{"name": "tags"}]);
        from_providers["inputs"] = json!([]);
        let steps = step_jobs(&rset(from_providers, json!([])));
        assert!(steps[0].unrendered && steps[0].jobs.is_empty(), "{steps:?}");
    }

    #[test]
    fn step_states_follow_the_operator_conditions() {
        use StepState::*;
        let states = |conditions: Value, done: bool| step_states(&rset(three_steps(), conditions), |_| done);
        let applying = |i: usize| {
            json!([{"type": "Reconciling", "status": "True", "reason": "Progressing",
            "message": format!("Applying step {i}/3 \"x\"")}])
        };
        assert_eq!(states(applying(1), false), [Applying, NotReached, NotReached]);
        assert_eq!(states(applying(2), false), [Done, Applying, NotReached]);
        // The final step writes no progress: step 2 done means step 3 runs.
        assert_eq!(states(applying(2), true), [Done, Done, Applying]);
        let failed = json!([{"type": "Ready", "status": "False", "reason": "ReconciliationFailed",
            "message": "reconciliation failed: step \"deploy\" health check failed: timeout waiting for: [Deployment/shop/app status: 'InProgress']\n"}]);
        assert_eq!(states(failed.clone(), false), [Done, Failed, NotReached]);
        // Retried with backoff: Reconciling names the step again, Ready keeps the failure.
        let mut retried = failed.as_array().unwrap().clone();
        retried.extend(applying(2).as_array().unwrap().clone());
        assert_eq!(states(Value::Array(retried), false), [Done, Failed, NotReached]);
        let ready = json!([{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}]);
        assert_eq!(states(ready, false), [Done, Done, Done]);
        let blocked = json!([{"type": "Ready", "status": "False", "reason": "DependencyNotReady"},
            {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Reconciliation in progress"}]);
        assert_eq!(states(blocked, false), [NotReached, NotReached, NotReached]);
    }
}
