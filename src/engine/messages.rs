//! The messages controllers write, parsed or written again exactly as they are: one function per
//! message, each citing where the controller builds it.

use crate::refs::{ObjectRef, StageId};
use crate::vocabulary::KStatus;

/// The Reconciling message while health checks run: `Running health checks for revision %s with a
/// timeout of %s` (fluxcd/kustomize-controller internal/controller/kustomization_controller.go,
/// checkHealth).
pub(crate) fn is_health_check_progress(message: &str) -> bool {
    message.starts_with("Running health checks")
}

/// kustomize-controller's Ready message when a dependency does not exist (checkDependencies).
pub(crate) fn dependency_not_found(dependency: &StageId) -> String {
    format!("dependency '{dependency}' not found")
}

/// kustomize-controller's Ready message when a dependency is not Ready (checkDependencies).
pub(crate) fn dependency_not_ready(dependency: &StageId) -> String {
    format!("dependency '{dependency}' is not ready")
}

/// kustomize-controller's Ready message when a dependency's `readyExpr` is false
/// (checkDependencies; the expression follows it).
pub(crate) fn ready_expr_unmet(dependency: &StageId) -> String {
    format!("dependency '{dependency}' is not ready according to readyExpr eval")
}

/// kustomize-controller's Ready message when a dependency on the same source has not applied the
/// source's revision (checkDependencies: `dependency '%s' revision is not up to date`), followed
/// here by what each side has.
pub(crate) fn revision_not_up_to_date(dependency: &StageId, applied: Option<&str>, wanted: &str) -> String {
    format!(
        "dependency '{dependency}' revision is not up to date: applied {}, source has {wanted}",
        applied.unwrap_or("nothing")
    )
}

/// `Kind/ns/name` and kstatus status of each object a health-check message names:
/// `... [Job/apps/db-migration status: 'Failed', Deployment/apps/app status: 'InProgress']`
/// (fluxcd/pkg ssa/manager_wait.go).
pub(crate) fn health_check_refs(message: &str) -> Vec<(ObjectRef, KStatus)> {
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
            Some((reference.trim().parse().ok()?, KStatus::from(status)))
        })
        .collect()
}

/// Each object Helm's wait names as not ready when it gives up, one per line: `resource
/// Deployment/shop/app not ready. status: InProgress, message: ...` (helm.sh/helm/v4
/// pkg/kube/statuswait.go `waitForResources`), as `Kind/ns/name` and its kstatus status.
pub(crate) fn not_ready_refs(message: &str) -> Vec<(ObjectRef, KStatus)> {
    message
        .split("resource ")
        .skip(1)
        .filter_map(|rest| {
            let (reference, rest) = rest.split_once(" not ready. status: ")?;
            let status = rest.split(',').next()?.trim();
            Some((reference.trim().parse().ok()?, KStatus::from(status)))
        })
        .collect()
}

/// flux-operator's Reconciling message before a step's health check: `Applying step %d/%d %q`
/// (github.com/controlplaneio-fluxcd/flux-operator internal/controller/resourceset_controller.go,
/// `apply`). Returns the 1-based step number and the name.
pub(crate) fn applying_step(message: &str) -> Option<(usize, &str)> {
    let rest = message.strip_prefix("Applying step ")?;
    let (number, rest) = rest.split_once('/')?;
    let (_, name) = rest.split_once(' ')?;
    Some((number.parse().ok()?, name.strip_prefix('"')?.strip_suffix('"')?))
}

/// What flux-operator was doing when a step failed (`stepError` in
/// internal/controller/resourceset_controller.go).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepAction {
    JobRecreation,
    Apply,
    HealthCheck,
}

/// flux-operator's Ready message after a failed step: `reconciliation failed: step %q <action>: <err>`
/// with action `job recreation failed`, `apply failed` or `health check failed` (`stepError` and
/// `reconcile` in internal/controller/resourceset_controller.go). Returns the step, the action
/// and the error.
pub(crate) fn failed_step(message: &str) -> Option<(&str, StepAction, &str)> {
    let rest = message.strip_prefix("reconciliation failed: step \"")?;
    let (name, rest) = rest.split_once("\" ")?;
    let actions = [
        ("job recreation failed: ", StepAction::JobRecreation),
        ("apply failed: ", StepAction::Apply),
        ("health check failed: ", StepAction::HealthCheck),
    ];
    actions.into_iter().find_map(|(prefix, action)| Some((name, action, rest.strip_prefix(prefix)?)))
}

/// flux-operator's Ready message while a dependency check fails: `Retrying dependency check:
/// dependency <apiVersion>/<Kind/ns/name> not ready` or `... not found: <err>`, with
/// `: expression '<expr>'` for a readyExpr (`checkDependencies` in
/// internal/controller/resourceset_controller.go). Whether it names `dependency` (as
/// [`crate::model::ResourceSetDependency::display`] prints it) with a false readyExpr.
pub(crate) fn operator_ready_expr_unmet(message: &str, dependency: &str) -> bool {
    message.contains(&format!("dependency {dependency} not ready: expression '"))
}

/// The object and line of an immutable-field apply failure:
/// `Job/apps/db-migration dry-run failed (Invalid): ... field is immutable` (fluxcd/pkg ssa/errors.go
/// DryRunErr).
pub(crate) fn immutable_field(message: &str) -> Option<(ObjectRef, &str)> {
    let line = message.lines().find(|l| l.contains("dry-run failed") && l.contains("immutable"))?;
    let object = line.split(" dry-run failed").next()?.parse().ok()?;
    Some((object, line.trim()))
}

/// The API server's validation errors print the whole rejected value (`spec.template: Invalid
/// value: {"labels":...}: field is immutable`, k8s.io/apimachinery pkg/util/validation/field
/// errors.go Invalid); a structured value is shortened to `{…}` so the message fits a terminal.
/// The stage's Ready message keeps it all.
pub(crate) fn abbreviate_invalid_values(message: &str) -> String {
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

/// The API server's error in a `FailedCreate` event: `Error creating: <error>` (kubernetes
/// pkg/controller/controller_utils.go, RealPodControl.createPods). What refused it (quota,
/// LimitRange, Pod Security, ServiceAccount, a policy) is a row of the failure catalog.
pub(crate) fn pod_creation_error(event_message: &str) -> &str {
    let message = event_message.trim();
    message.strip_prefix("Error creating: ").unwrap_or(message)
}

/// The first line of a multi-line controller message (build and apply errors carry whole outputs).
pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_objects_helm_waited_for_in_vain() {
        let message = "Helm upgrade failed for release shop/my-app with chart my-app@1.3.0+0f3e: resource Deployment/shop/my-app not ready. status: InProgress, message: Available: 0/1\nresource Job/shop/seed not ready. status: InProgress, message: Job in progress\ncontext deadline exceeded";
        let refs = not_ready_refs(message);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0], (ObjectRef::new("Deployment", "shop", "my-app"), KStatus::InProgress));
        assert_eq!(refs[1].0, ObjectRef::new("Job", "shop", "seed"));
        assert!(not_ready_refs("the resource is fine").is_empty());
    }

    #[test]
    fn parses_the_operator_step_messages() {
        assert_eq!(applying_step("Applying step 2/3 \"deploy\""), Some((2, "deploy")));
        assert_eq!(applying_step("Reconciliation in progress"), None);
        let failed = "reconciliation failed: step \"pre-deploy\" health check failed: failed early due to stalled resources: [Job/rs-shop/db-migration status: 'Failed']\n";
        let (name, action, error) = failed_step(failed).unwrap();
        assert_eq!((name, action), ("pre-deploy", StepAction::HealthCheck));
        assert_eq!(health_check_refs(error)[0].0, ObjectRef::new("Job", "rs-shop", "db-migration"));
        assert_eq!(
            failed_step("reconciliation failed: step \"a\" apply failed: Job/x/y dry-run failed"),
            Some(("a", StepAction::Apply, "Job/x/y dry-run failed"))
        );
        assert_eq!(failed_step("reconciliation failed: build failed: x"), None);
        assert!(operator_ready_expr_unmet(
            "Retrying dependency check: dependency kustomize.toolkit.fluxcd.io/v1/Kustomization/shop/infra not ready: expression 'x'",
            "kustomize.toolkit.fluxcd.io/v1/Kustomization/shop/infra"
        ));
    }

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
    fn parses_health_check_messages() {
        let m = "health check failed after 30.01s: failed early due to stalled resources: [Job/apps/db-migration status: 'Failed', Deployment/apps/web status: 'InProgress']";
        assert_eq!(
            health_check_refs(m),
            vec![
                (ObjectRef::new("Job", "apps", "db-migration"), KStatus::Failed),
                (ObjectRef::new("Deployment", "apps", "web"), KStatus::InProgress)
            ]
        );
        let m = "timeout waiting for: [Job/ns/x status: 'NotFound': Resource not found]";
        assert_eq!(health_check_refs(m), vec![(ObjectRef::new("Job", "ns", "x"), KStatus::NotFound)]);
    }

    #[test]
    fn finds_the_object_of_an_immutable_field_error() {
        let m = "Job/shop/db-migration dry-run failed (Invalid): Job.batch \"db-migration\" is invalid: spec.template: Invalid value: 1: field is immutable\n";
        let (object, line) = immutable_field(m).unwrap();
        assert_eq!(object, ObjectRef::new("Job", "shop", "db-migration"));
        assert!(line.ends_with("field is immutable"));
        assert_eq!(immutable_field("Service/shop/x configured"), None);
    }
}
