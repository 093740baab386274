//! Assembling the [`Report`]: each shown stage's state, Jobs, source revision, and the resolution
//! of why it is not Ready.

use super::causes::missing_job_message;
use super::resolve::{Resolution, Resolver};
use super::state::own_state;
use super::warnings::pipeline_warnings;
use super::workload::job_report;
use super::{Graph, Index};
use crate::model::Kustomization;
use crate::refs::StageId;
use crate::report::{JobReport, JobState, ReadyCondition, ReadyExprReport, Report, StageReport};

pub(super) fn report(index: &Index, graph: &Graph, pipelines: &[Vec<StageId>]) -> Report {
    let mut resolver = Resolver::new(index, graph);
    let mut stages = Vec::new();
    let mut warnings = Vec::new();
    for pipeline in pipelines {
        let first = stages.len();
        for id in pipeline {
            let ks = index.kustomization(id).expect("pipelines hold snapshot stages");
            let resolution = resolver.resolve(id);
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
    for job in missing {
        jobs.push(JobReport {
            message: Some(missing_job_message(index, &job)),
            namespace: job.namespace,
            name: job.name,
            state: JobState::Missing,
            reason: Some("NotFound".into()),
            images: vec![],
            pods: vec![],
        });
    }
    let source = ks.source();
    let source_revision = index.source(&source).and_then(|s| s.artifact_revision()).map(str::to_string);
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
        attempted_revision: ks.status.as_ref().and_then(|s| s.last_attempted_revision.clone()),
        source,
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
