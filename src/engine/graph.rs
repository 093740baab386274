//! The `dependsOn` graph: dependency order, pipelines (connected groups), cycles, and the part of
//! it a [`Filter`] selects.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::index::Index;

use crate::model::Snapshot;
use crate::refs::{StageId, StageKind};
use crate::selector::LabelSelector;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EngineError {
    #[error("stage {0:?} not found{1}")]
    UnknownStage(String, String),
}

/// Which stages to show.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    /// Only stages in this namespace (and what they depend on); `None` for all.
    pub namespace: Option<String>,
    /// Only these stages (`name` or `ns/name`) and everything upstream of them; all when empty.
    pub stages: Vec<String>,
    /// Label selector on stages, for snapshots and watches; live LISTs apply it server-side.
    pub selector: Option<LabelSelector>,
}

/// Levenshtein distance: insertions, deletions and substitutions (a transposition counts two).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

pub(crate) struct Graph {
    /// Stage -> the stages it depends on, in `spec.dependsOn` order (namespaces defaulted).
    deps: BTreeMap<StageId, Vec<StageId>>,
    /// Stage -> the cycle it is part of, as `a -> b -> a`.
    cycles: HashMap<StageId, String>,
    /// Stage -> the stage that applies it (a Kustomization applying a HelmRelease), from the owner
    /// labels its controller stamps on what it applies; only stages in the snapshot. `reconcile`
    /// walks it before the stage it applies (its spec comes from there).
    appliers: HashMap<StageId, StageId>,
}

impl Graph {
    /// Over every stage, of every kind (a ResourceSet's `dependsOn` may name any kind).
    pub(crate) fn new(snapshot: &Snapshot) -> Self {
        let deps: BTreeMap<StageId, Vec<StageId>> = snapshot.stages().map(|s| (s.id(), s.dependency_ids())).collect();
        let cycles = find_cycles(&deps);
        let appliers = snapshot
            .stages()
            .filter_map(|s| Some((s.id(), super::owner_of(s.meta())?)))
            .filter(|(id, applier)| id != applier && deps.contains_key(applier))
            .collect();
        Graph { deps, cycles, appliers }
    }

    /// What must be reconciled before `id`: its dependencies and, with `appliers`, the stage that
    /// applies it.
    fn before(&self, id: &StageId, appliers: bool) -> impl Iterator<Item = &StageId> {
        let applier = self.appliers.get(id).filter(|_| appliers);
        self.dependencies(id).iter().chain(applier)
    }

    pub(crate) fn dependencies(&self, id: &StageId) -> &[StageId] {
        self.deps.get(id).map(Vec::as_slice).unwrap_or_default()
    }

    pub(crate) fn contains(&self, id: &StageId) -> bool {
        self.deps.contains_key(id)
    }

    /// The cycle `id` is part of, formatted like fluxcd/pkg runtime/dependency/sort.go's
    /// `circular dependency detected: a -> b -> a` (without that prefix).
    pub(crate) fn cycle(&self, id: &StageId) -> Option<&str> {
        self.cycles.get(id).map(String::as_str)
    }

    /// `id` and every stage upstream of it.
    fn upstream(&self, id: &StageId, out: &mut BTreeSet<StageId>, appliers: bool) {
        if !out.insert(id.clone()) {
            return;
        }
        for dep in self.before(id, appliers) {
            if self.contains(dep) {
                self.upstream(dep, out, appliers);
            }
        }
    }

    /// The namespace written into a stage name the user typed (`ns/name`, `Kind/ns/name`); `None`
    /// for `name` and `KIND/name`, which are looked up in the current namespace.
    pub(crate) fn named_namespace(stage: &str) -> Option<String> {
        match stage.split_once('/') {
            Some((kind, name)) if !name.contains('/') && StageKind::parse_user(kind).is_some() => None,
            _ => stage.parse::<StageId>().ok().map(|id| id.namespace),
        }
    }

    /// The id of the stage a user named: `name` (looked up in `namespace` when given, any kind),
    /// `KIND/name` as kubectl takes it (`rset/app`, `ks/app`, `kustomization/app`), `ns/name` (a
    /// Kustomization) or `Kind/ns/name`.
    pub(crate) fn resolve_stage(&self, stage: &str, namespace: Option<&str>) -> Result<StageId, EngineError> {
        let (kind, name, named) = match stage.split_once('/') {
            Some((kind, name)) if !name.contains('/') && StageKind::parse_user(kind).is_some() => {
                (StageKind::parse_user(kind), name, None)
            }
            Some(_) => (None, stage, stage.parse::<StageId>().ok()),
            None => (None, stage, None),
        };
        let matches: Vec<&StageId> = self
            .deps
            .keys()
            .filter(|id| match &named {
                Some(named) => *id == named,
                None => {
                    id.name == name
                        && kind.is_none_or(|k| id.kind == k)
                        && namespace.is_none_or(|ns| id.namespace == ns)
                }
            })
            .collect();
        match matches.len() {
            0 => {
                let scope = match namespace {
                    Some(ns) if named.is_none() => format!(" in namespace {ns:?}"),
                    _ => String::new(),
                };
                let suggestion = self.closest(name, namespace.filter(|_| named.is_none()));
                let hint = suggestion.map(|s| format!("; did you mean {s:?}?")).unwrap_or_default();
                Err(EngineError::UnknownStage(stage.to_string(), format!("{scope}{hint}")))
            }
            1 => Ok(matches[0].clone()),
            _ => {
                let names = matches.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
                Err(EngineError::UnknownStage(
                    stage.to_string(),
                    format!(" uniquely: several stages match ({names}); use NAMESPACE/NAME, rset/NAME or ks/NAME"),
                ))
            }
        }
    }

    /// The stage name closest to a mistyped one (in `namespace` when given), when it is close
    /// enough to be a typo: at most two edits, and fewer than half the name.
    fn closest(&self, name: &str, namespace: Option<&str>) -> Option<String> {
        let candidates = self.deps.keys().filter(|id| namespace.is_none_or(|ns| id.namespace == ns));
        let scored = candidates.map(|id| (edit_distance(&id.name, name), &id.name));
        let (distance, best) = scored.min()?;
        (distance > 0 && distance <= 2 && distance * 2 < name.chars().count()).then(|| best.clone())
    }

    /// What `reconcile` walks: the stage and everything upstream of it, the stages that apply them
    /// included (with `downstream`, also every stage that depends on it, directly or not), in
    /// dependency order.
    pub(crate) fn plan(&self, id: &StageId, downstream: bool) -> Vec<StageId> {
        let mut set = BTreeSet::new();
        self.upstream(id, &mut set, true);
        if downstream {
            let mut frontier = vec![id.clone()];
            while let Some(current) = frontier.pop() {
                for (other, deps) in &self.deps {
                    if deps.contains(&current) && set.insert(other.clone()) {
                        frontier.push(other.clone());
                    }
                }
            }
        }
        self.order(set.into_iter().collect(), true)
    }

    /// The stages to show, grouped in pipelines, each in dependency order.
    pub(crate) fn select(&self, index: &Index, filter: &Filter) -> Result<Vec<Vec<StageId>>, EngineError> {
        let mut roots: Vec<StageId> = Vec::new();
        if !filter.stages.is_empty() {
            for stage in &filter.stages {
                roots.push(self.resolve_stage(stage, filter.namespace.as_deref())?);
            }
        } else {
            for id in self.deps.keys() {
                let meta = index.stage(id).expect("graph nodes come from the snapshot").meta();
                let in_ns = filter.namespace.as_ref().is_none_or(|ns| &id.namespace == ns);
                let labelled = filter.selector.as_ref().is_none_or(|sel| sel.matches(meta.labels.as_ref()));
                if in_ns && labelled {
                    roots.push(id.clone());
                }
            }
        }
        let mut shown = BTreeSet::new();
        for root in &roots {
            self.upstream(root, &mut shown, false);
        }
        Ok(self.pipelines(&shown))
    }

    /// Connected groups of `shown`, each in dependency order (ties by id), groups by their first id.
    fn pipelines(&self, shown: &BTreeSet<StageId>) -> Vec<Vec<StageId>> {
        // Union-find over dependsOn edges inside `shown`.
        let ids: Vec<&StageId> = shown.iter().collect();
        let pos: HashMap<&StageId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut parent: Vec<usize> = (0..ids.len()).collect();
        fn find(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for (i, id) in ids.iter().enumerate() {
            for dep in self.dependencies(id) {
                if let Some(&j) = pos.get(dep) {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    parent[a] = b;
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<StageId>> = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            let root = find(&mut parent, i);
            groups.entry(root).or_default().push((*id).clone());
        }
        let mut pipelines: Vec<Vec<StageId>> = groups.into_values().map(|g| self.order(g, false)).collect();
        pipelines.sort();
        pipelines
    }

    /// Kahn's algorithm with a sorted frontier, so the order is stable; stages in a cycle come last.
    fn order(&self, group: Vec<StageId>, appliers: bool) -> Vec<StageId> {
        let members: BTreeSet<&StageId> = group.iter().collect();
        let mut pending: BTreeMap<&StageId, usize> = BTreeMap::new();
        let mut dependents: HashMap<&StageId, Vec<&StageId>> = HashMap::new();
        for id in &members {
            let inside: Vec<&StageId> = self.before(id, appliers).filter(|d| members.contains(d)).collect();
            pending.insert(id, inside.len());
            for d in inside {
                dependents.entry(d).or_default().push(id);
            }
        }
        let mut ready: BTreeSet<&StageId> = pending.iter().filter(|(_, n)| **n == 0).map(|(id, _)| *id).collect();
        let mut out = Vec::new();
        while let Some(id) = ready.pop_first() {
            out.push(id.clone());
            for d in dependents.get(id).into_iter().flatten() {
                let n = pending.get_mut(d).expect("member");
                *n -= 1;
                if *n == 0 {
                    ready.insert(d);
                }
            }
        }
        for id in members {
            if !out.contains(id) {
                out.push(id.clone());
            }
        }
        out
    }
}

/// Tarjan's strongly connected components; every stage in a component of two or more (or with a
/// self edge) is in a cycle.
fn find_cycles(deps: &BTreeMap<StageId, Vec<StageId>>) -> HashMap<StageId, String> {
    struct State<'a> {
        deps: &'a BTreeMap<StageId, Vec<StageId>>,
        index: HashMap<&'a StageId, usize>,
        low: HashMap<&'a StageId, usize>,
        stack: Vec<&'a StageId>,
        on_stack: BTreeSet<&'a StageId>,
        next: usize,
        out: HashMap<StageId, String>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a StageId) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.deps.get(v).into_iter().flatten() {
            if !s.deps.contains_key(w) {
                continue;
            }
            let w = s.deps.get_key_value(w).expect("checked").0;
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            let self_loop = s.deps.get(v).is_some_and(|d| d.iter().any(|x| x == v));
            if component.len() > 1 || self_loop {
                let members: BTreeSet<&StageId> = component.iter().copied().collect();
                for m in &members {
                    s.out.insert((*m).clone(), cycle_path(s.deps, m, &members));
                }
            }
        }
    }
    let mut s = State {
        deps,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: HashMap::new(),
    };
    for v in deps.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// A cycle through `start` inside one strongly connected component: `a -> b -> a`.
fn cycle_path(deps: &BTreeMap<StageId, Vec<StageId>>, start: &StageId, members: &BTreeSet<&StageId>) -> String {
    // Breadth-first search back to `start`, so the shortest cycle is shown.
    let mut prev: HashMap<&StageId, &StageId> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in deps.get(v).into_iter().flatten() {
            if w == start {
                let mut path = vec![start.to_string()];
                let mut cur = v;
                let mut back = vec![];
                while cur != start {
                    back.push(cur.to_string());
                    cur = prev[cur];
                }
                back.reverse();
                path.extend(back);
                path.push(start.to_string());
                return path.join(" -> ");
            }
            if members.contains(w) && !prev.contains_key(w) && w != start {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    start.to_string()
}
