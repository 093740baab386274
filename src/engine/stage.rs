//! Assembling the [`Report`]: each shown stage's state, Jobs, source revision, and the resolution
//! of why it is not Ready.

use super::causes::missing_job_report;
use super::resolve::{Resolution, Resolver};
use super::state::own_state;
use super::steps::{StepJobs, step_jobs};
use super::warnings::pipeline_warnings;
use super::workload::job_report;
use super::{Graph, Index};
use k8s_openapi::api::batch::v1::Job;

use super::resource_set;
use crate::model::{Condition, Kustomization, ResourceSet};
use crate::refs::{NamespacedName, StageId, StageKind};
use crate::report::{JobReport, ReadyCondition, ReadyExprReport, Report, RootCause, StageReport};

pub(super) fn report(index: &Index, graph: &Graph, pipelines: &[Vec<StageId>]) -> Report {
    let mut resolver = Resolver::new(index, graph);
    let mut stages = Vec::new();
    let mut warnings = Vec::new();
    for pipeline in pipelines {
        let first = stages.len();
        for id in pipeline {
            let resolution = resolver.resolve(id);
            if let Some(rset) = index.resource_set(id) {
                let steps = step_jobs(rset);
                stages.push(rset_report(index, rset, &steps, resolution, resolver.rset_ready_exprs(rset)));
                warnings.extend(resource_set::unmapped_jobs(index, rset, &steps).into_iter().map(|job| {
                    format!("{job} of {id} is not mapped to a step: its step names objects with templates rendered from input providers or functions")
                }));
                continue;
            }
            let ks = index.kustomization(id).expect("pipelines hold snapshot stages");
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
    let jobs = jobs_report(index, index.stage_jobs(ks));
    let source = ks.source();
    let source_revision = index.source(&source).and_then(|s| s.artifact_revision()).map(str::to_string);
    let (path, root_cause, hint) = split(resolution);
    StageReport {
        kind: StageKind::Kustomization,
        namespace: ks.namespace().to_string(),
        name: ks.name().to_string(),
        state: own_state(index, ks),
        depends_on: ks.dependency_ids(),
        suspended: ks.spec.suspend,
        revision: ks.status.as_ref().and_then(|s| s.last_applied_revision.clone()),
        attempted_revision: ks.status.as_ref().and_then(|s| s.last_attempted_revision.clone()),
        source: Some(source),
        source_revision,
        ready: ks.condition("Ready").map(ready_condition),
        jobs,
        root_cause,
        path,
        hint,
        created: ks.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
        ready_exprs,
        steps: None,
    }
}

fn split(resolution: Option<Resolution>) -> (Vec<StageId>, Option<RootCause>, Option<String>) {
    match resolution {
        Some(r) => (r.path, Some(r.cause), Some(r.hint)),
        None => (vec![], None, None),
    }
}

fn ready_condition(c: &Condition) -> ReadyCondition {
    ReadyCondition {
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_transition_time: c.last_transition_time.map(|t| t.to_string()),
    }
}

/// Live Jobs, then the inventory Jobs that are gone.
fn jobs_report(index: &Index, (live, missing): (Vec<&Job>, Vec<NamespacedName>)) -> Vec<JobReport> {
    let mut jobs: Vec<JobReport> = live.into_iter().map(|j| job_report(index, j)).collect();
    jobs.extend(missing.iter().map(|job| missing_job_report(index, job)));
    jobs
}

/// A ResourceSet: no source; its steps, with the root cause on the step it names.
fn rset_report(
    index: &Index,
    rset: &ResourceSet,
    steps: &[StepJobs],
    resolution: Option<Resolution>,
    ready_exprs: Vec<ReadyExprReport>,
) -> StageReport {
    let (path, root_cause, hint) = split(resolution);
    let status = rset.status.as_ref();
    StageReport {
        kind: StageKind::ResourceSet,
        namespace: rset.namespace().to_string(),
        name: rset.name().to_string(),
        state: resource_set::own_state(rset),
        depends_on: rset.dependency_ids(),
        suspended: rset.disabled(),
        revision: status.and_then(|s| s.last_applied_revision.clone()),
        attempted_revision: None,
        source: None,
        source_revision: None,
        ready: rset.condition("Ready").map(ready_condition),
        jobs: jobs_report(index, index.rset_jobs(rset)),
        steps: Some(resource_set::step_reports(index, rset, steps, root_cause.as_ref())),
        root_cause,
        path,
        hint,
        created: rset.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
        ready_exprs,
    }
}
