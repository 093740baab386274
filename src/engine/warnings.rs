//! Pattern checks over one pipeline: findings that block nothing but break what the pre/post-deploy
//! pattern relies on.

use std::collections::HashSet;

use super::index::Index;
use super::workload::split_image;
use crate::refs::{NamespacedName, StageId};
use crate::report::{JobState, StageReport, StageState};

/// Warnings for one pipeline's shown stages (`stages` are that pipeline's, in order).
pub(super) fn pipeline_warnings(index: &Index, pipeline: &[StageId], stages: &[StageReport]) -> Vec<String> {
    let mut warnings = Vec::new();
    // Deployment images by repository: (repository, tag, `Deployment ns/name`).
    let mut deployed: Vec<(String, String, String)> = Vec::new();
    for id in pipeline {
        let Some(stage) = index.stage(id) else {
            continue;
        };
        for d in index.stage_deployments(stage) {
            let containers = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|p| &p.containers);
            for c in containers.into_iter().flatten() {
                if let (repo, Some(tag)) = split_image(c.image.as_deref().unwrap_or_default()) {
                    let deployment = format!("Deployment {}", NamespacedName::of(&d.metadata));
                    deployed.push((repo.to_string(), tag.to_string(), deployment));
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
                && index.job_completed_before(&NamespacedName::new(&job.namespace, &job.name))
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
                    "the readyExpr of stage {} on {} could not be evaluated here ({error}); {}'s verdict is shown: `{}`",
                    stage.id(),
                    expr.dependency,
                    stage.kind.controller(),
                    expr.expression
                ));
            }
        }
    }
    warnings
}
