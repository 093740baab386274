//! The walk from a stage that is not Ready to the stage at fault, memoised per stage. Each stage's
//! kind says how it waits for its dependencies ([`StageRules::blocked`]); the walk itself never
//! looks at a stage's kind.

use std::collections::HashMap;

use super::graph::Graph;
use super::hints;
use super::index::Index;
use super::remote;
use super::resolution::{Resolution, stage_cause};
use super::rules::{StageRules, Walk};
use crate::refs::StageId;
use crate::report::{ReadyExprReport, Reason, StageState};

pub(super) struct Resolver<'i, 'a> {
    index: &'i Index<'a>,
    graph: &'i Graph,
    memo: HashMap<StageId, Option<Resolution>>,
    /// Each stage's readyExprs, evaluated once (CEL compile and both objects parsed) for the
    /// root cause and the report alike.
    ready_exprs: HashMap<StageId, Vec<ReadyExprReport>>,
}

impl<'i, 'a> Resolver<'i, 'a> {
    pub(super) fn new(index: &'i Index<'a>, graph: &'i Graph) -> Self {
        Resolver { index, graph, memo: HashMap::new(), ready_exprs: HashMap::new() }
    }

    /// Why stage `id` is not Ready; `None` when it is.
    pub(super) fn resolve(&mut self, id: &StageId) -> Option<Resolution> {
        self.resolve_visiting(id, &mut Vec::new())
    }

    fn resolve_uncached(&mut self, id: &StageId, visiting: &mut Vec<StageId>) -> Option<Resolution> {
        let stage = self.index.stage(id)?;
        if let Some(cycle) = self.graph.cycle(id) {
            let message = format!("circular dependency detected: {cycle}");
            let cause = stage_cause(stage, Reason::DependencyCycle, message);
            return Some(Resolution::at(id, cause, hints::break_cycle()));
        }
        match stage.own_state(self.index) {
            StageState::Ready => None,
            StageState::Blocked => {
                visiting.push(id.clone());
                let r = stage.blocked(self, visiting);
                visiting.pop();
                Some(r)
            }
            state => {
                let site = remote::site(self.index, stage);
                let at_stage = remote::explain(stage, &site, stage.cause(site.index(self.index), state));
                Some(self.continue_into_named_stage(id, at_stage, visiting))
            }
        }
    }

    /// A cause that is itself a stage (a HelmRelease a Kustomization's health check names): the
    /// walk goes on into it, so the path reaches the object at fault there. Cycle-safe.
    fn continue_into_named_stage(
        &mut self,
        id: &StageId,
        at_stage: Resolution,
        visiting: &mut Vec<StageId>,
    ) -> Resolution {
        let next = at_stage.cause.object().as_stage();
        let Some(next) = next.filter(|n| n != id && !visiting.contains(n) && self.index.stage(n).is_some()) else {
            return at_stage;
        };
        visiting.push(id.clone());
        let deeper = self.resolve_visiting(&next, visiting);
        visiting.pop();
        match deeper {
            Some(mut deeper) => {
                deeper.path.splice(0..0, at_stage.path);
                deeper
            }
            None => at_stage,
        }
    }
}

impl Walk for Resolver<'_, '_> {
    fn index(&self) -> &Index<'_> {
        self.index
    }

    fn resolve_visiting(&mut self, id: &StageId, visiting: &mut Vec<StageId>) -> Option<Resolution> {
        if let Some(done) = self.memo.get(id) {
            return done.clone();
        }
        let result = self.resolve_uncached(id, visiting);
        self.memo.insert(id.clone(), result.clone());
        result
    }

    fn ready_exprs(&mut self, stage: &dyn StageRules) -> Vec<ReadyExprReport> {
        let index = self.index;
        self.ready_exprs.entry(stage.id()).or_insert_with(|| stage.ready_exprs(index)).clone()
    }
}
