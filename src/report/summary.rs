//! `status --summary`: one line per context, for a fleet of a hundred.

use serde::Serialize;

use super::{ContextRead, Report, StageReport, StageState};
use crate::refs::StageId;

/// `status --summary`: one line per context.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContextSummary {
    #[serde(flatten)]
    pub read: ContextRead,
    /// Omitted for a context that could not be read.
    #[serde(flatten)]
    pub counts: Option<PipelineCounts>,
    /// The root cause that matters most: of a Failed stage before a Blocked one before a
    /// Progressing one, then of the one in that state the longest.
    pub worst: Option<WorstCause>,
}

/// A context's pipelines by state: Failed when a stage of it failed, else Blocked when one is
/// Blocked or Suspended, else Progressing when one is Progressing or Unknown, else Waiting when one
/// waits (behind a stage of another pipeline), else Ready.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PipelineCounts {
    pub pipelines: usize,
    pub ready: usize,
    pub progressing: usize,
    pub waiting: usize,
    pub blocked: usize,
    pub failed: usize,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorstCause {
    pub stage: StageId,
    pub state: StageState,
    /// The table's MESSAGE for that stage.
    pub diagnosis: String,
    /// Since when the stage is in that state (its Ready condition's lastTransitionTime).
    pub since: Option<String>,
}

/// The summary's document for `-o json|yaml`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Summary {
    pub contexts: Vec<ContextSummary>,
}

impl Report {
    /// One line per context read, in order.
    pub(crate) fn summary(&self) -> Summary {
        let by_id: std::collections::HashMap<StageId, &StageReport> = self.stages.iter().map(|s| (s.id(), s)).collect();
        let contexts = self
            .contexts
            .iter()
            .map(|read| {
                let mine = |s: &&StageReport| s.context == read.name;
                if read.error.is_some() {
                    return ContextSummary { read: read.clone(), counts: None, worst: None };
                }
                let mut counts = PipelineCounts::default();
                for pipeline in &self.pipelines {
                    let stages: Vec<&StageReport> = pipeline.iter().filter_map(|id| by_id.get(id).copied()).collect();
                    if !stages.first().is_some_and(mine) {
                        continue;
                    }
                    counts.pipelines += 1;
                    let any = |states: &[StageState]| stages.iter().any(|s| states.contains(&s.state));
                    let slot = if any(&[StageState::Failed]) {
                        &mut counts.failed
                    } else if any(&[StageState::Blocked, StageState::Suspended]) {
                        &mut counts.blocked
                    } else if any(&[StageState::Progressing, StageState::Unknown]) {
                        &mut counts.progressing
                    } else if any(&[StageState::Waiting]) {
                        &mut counts.waiting
                    } else {
                        &mut counts.ready
                    };
                    *slot += 1;
                }
                let rank = |state: StageState| match state {
                    StageState::Failed => Some(0),
                    StageState::Blocked => Some(1),
                    StageState::Progressing | StageState::Unknown => Some(2),
                    StageState::Waiting => Some(3),
                    _ => None,
                };
                let since = |s: &StageReport| {
                    s.ready
                        .as_ref()
                        .and_then(|r| r.last_transition_time.as_deref()?.parse::<k8s_openapi::jiff::Timestamp>().ok())
                };
                let worst = self
                    .stages
                    .iter()
                    .filter(mine)
                    .filter(|s| s.root_cause.is_some())
                    .filter_map(|s| rank(s.state).map(|r| (r, since(s).is_none(), since(s), s)))
                    .min_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))
                    .map(|(_, _, _, s)| WorstCause {
                        stage: s.id(),
                        state: s.state,
                        diagnosis: s.diagnosis(&s.namespace).unwrap_or_default(),
                        since: s.ready.as_ref().and_then(|r| r.last_transition_time.clone()),
                    });
                ContextSummary { read: read.clone(), counts: Some(counts), worst }
            })
            .collect();
        Summary { contexts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refs::{ObjectRef, StageKind};
    use crate::report::{ReadyCondition, Reason, RootCause};

    fn stage(name: &str, state: StageState, since: &str) -> StageReport {
        StageReport {
            context: Some("prod".into()),
            qualified: true,
            kind: StageKind::Kustomization,
            namespace: "shop".into(),
            name: name.into(),
            state,
            depends_on: vec![],
            suspended: false,
            generation: None,
            revision: None,
            attempted_revision: None,
            source: None,
            source_revision: None,
            source_inputs: vec![],
            ready: Some(ReadyCondition {
                status: "False".into(),
                reason: "R".into(),
                message: String::new(),
                last_transition_time: Some(since.into()),
                observed_generation: None,
            }),
            jobs: vec![],
            leftover_jobs: vec![],
            waiting_for: None,
            root_cause: (state != StageState::Ready)
                .then(|| RootCause::new(ObjectRef::new("Pod", "shop", name), Reason::from("Error"), "")),
            path: vec![],
            hint: None,
            created: None,
            history: None,
            ready_exprs: vec![],
            steps: None,
            hooks: None,
            remote: None,
        }
    }

    #[test]
    fn the_summary_counts_pipelines_by_their_worst_stage_and_names_the_worst_cause() {
        let stages = vec![
            stage("a", StageState::Progressing, "2026-12-01T09:00:00Z"),
            stage("b", StageState::Blocked, "2026-12-01T08:00:00Z"),
            stage("c", StageState::Failed, "2026-12-01T10:00:00Z"),
            stage("d", StageState::Failed, "2026-12-01T07:00:00Z"),
            stage("e", StageState::Ready, "2026-12-01T07:00:00Z"),
        ];
        let pipelines = stages.iter().map(|s| vec![s.id()]).collect();
        let read = ContextRead { name: Some("prod".into()), ..ContextRead::default() };
        let down =
            ContextRead { name: Some("down".into()), error: Some("cannot reach".into()), ..ContextRead::default() };
        let report = Report { contexts: vec![read, down], pipelines, stages, warnings: vec![] };
        let summary = report.summary();
        let prod = &summary.contexts[0];
        let counts = PipelineCounts { pipelines: 5, ready: 1, progressing: 1, waiting: 0, blocked: 1, failed: 2 };
        assert_eq!(prod.counts.as_ref(), Some(&counts));
        let worst = prod.worst.as_ref().unwrap();
        assert_eq!(
            (worst.stage.name.as_str(), worst.state),
            ("d", StageState::Failed),
            "Failed first, then the oldest"
        );
        assert!(summary.contexts[1].counts.is_none() && summary.contexts[1].worst.is_none());
    }
}
