//! Assembling the [`Report`]: each shown stage's state, Jobs, source revision, and the resolution
//! of why it is not Ready; what only one kind reports comes from the kind ([`StageRules::complete_report`]).

use super::causes::missing_job_report;
use super::graph::Graph;
use super::index::{Index, StageJobs};
use super::remote::{self, Site};
use super::resolution::Resolution;
use super::resolve::Resolver;
use super::rules::{StageRules, Walk};
use super::waiting;
use super::warnings::pipeline_warnings;
use super::workload::job_report;
use crate::model::Condition;
use crate::refs::StageId;
use crate::report::{JobReport, ReadyCondition, Report, StageReport, StageState};
use crate::vocabulary::ConditionType;

pub(super) fn report(index: &Index, graph: &Graph, pipelines: &[Vec<StageId>]) -> Report {
    let mut resolver = Resolver::new(index, graph);
    let mut stages = Vec::new();
    let mut warnings = Vec::new();
    for pipeline in pipelines {
        let first = stages.len();
        for id in pipeline {
            let stage = index.stage(id).expect("pipelines hold snapshot stages");
            let resolution = resolver.resolve(id);
            let ready_exprs = resolver.ready_exprs(stage);
            let waiting = resolution
                .as_ref()
                .filter(|_| stage.own_state(index) == StageState::Blocked)
                .and_then(|r| waiting::waiting_for(index, r, stage.namespace()));
            // A stage applying to another cluster: its objects are looked up there.
            let site = remote::site(index, stage);
            let mut report = stage_report(site.index(index), stage, resolution, waiting);
            report.ready_exprs = ready_exprs;
            if let Site::Unread(_) = site {
                // Its objects were not read: none is "missing".
                report.jobs.clear();
            }
            report.remote = site.report();
            stage.complete_report(site.index(index), &mut report, &mut warnings);
            stages.push(report);
        }
        warnings.extend(pipeline_warnings(index, pipeline, &stages[first..]));
    }
    Report { contexts: vec![], pipelines: pipelines.to_vec(), stages, warnings }
}

/// What every stage kind reports.
fn stage_report(
    index: &Index,
    stage: &dyn StageRules,
    resolution: Option<Resolution>,
    waiting: Option<String>,
) -> StageReport {
    let source = stage.source();
    let source_revision =
        source.as_ref().and_then(|s| index.source(s)).and_then(|s| s.artifact_revision()).map(str::to_string);
    let jobs = index.stage_jobs(stage);
    let (path, root_cause, hint) = match resolution {
        Some(r) if waiting.is_some() => (r.path, Some(r.cause), Some(waiting::skip_the_wait(&stage.id()))),
        Some(r) => (r.path, Some(r.cause), Some(r.hint)),
        None => (vec![], None, None),
    };
    StageReport {
        context: None,
        qualified: false,
        kind: stage.stage_kind(),
        namespace: stage.namespace().to_string(),
        name: stage.name().to_string(),
        state: waiting::shown_state(stage.own_state(index), waiting.as_ref()),
        depends_on: stage.dependency_ids(),
        suspended: stage.suspended(),
        generation: stage.meta().generation,
        revision: stage.last_applied_revision().map(str::to_string),
        attempted_revision: stage.last_attempted_revision().map(str::to_string),
        source,
        source_revision,
        source_inputs: vec![],
        ready: stage.condition(ConditionType::Ready).map(ready_condition),
        jobs: jobs_report(index, &jobs),
        leftover_jobs: jobs.leftovers.iter().map(|j| job_report(index, j)).collect(),
        root_cause: root_cause.map(super::catalog::with_failures),
        waiting_for: waiting,
        path,
        hint,
        created: stage.meta().creation_timestamp.as_ref().map(|t| t.0.to_string()),
        history: stage.history(),
        ready_exprs: vec![],
        steps: None,
        hooks: None,
        remote: None,
    }
}

fn ready_condition(c: &Condition) -> ReadyCondition {
    ReadyCondition {
        status: c.status.to_string(),
        reason: c.reason.to_string(),
        message: c.message.clone(),
        last_transition_time: c.last_transition_time.map(|t| t.to_string()),
        observed_generation: c.observed_generation,
    }
}

/// Live Jobs, then the inventory Jobs that are gone.
fn jobs_report(index: &Index, jobs: &StageJobs) -> Vec<JobReport> {
    let mut report: Vec<JobReport> = jobs.live.iter().map(|j| job_report(index, j)).collect();
    report.extend(jobs.missing.iter().map(|job| missing_job_report(index, job)));
    report
}
