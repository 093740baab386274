//! What `wait` says on stderr as the rollout goes: a stage taking the revision up, its Jobs
//! starting and ending, a stage done or failed, each with the time since the wait began; and how
//! long each stage took to be done.

use std::collections::HashMap;
use std::time::Duration;

use crate::duration::took;
use crate::report::{JobState, Report};
use crate::terminal::Glyph;
use crate::verdict::{Outcome, Verdict};

/// What was last seen of one stage.
#[derive(Default)]
struct Seen {
    attempted: Option<String>,
    /// Each Job's state, and when it was first seen unfinished.
    jobs: HashMap<String, (JobState, Option<Duration>)>,
    outcome: Option<Outcome>,
    why: String,
}

/// The stages seen so far, by id.
#[derive(Default)]
pub(super) struct Timeline {
    seen: HashMap<String, Seen>,
    /// When each stage was first seen done.
    done_after: HashMap<String, Duration>,
}

impl Timeline {
    /// What changed since the last picture, `at` after the wait began, as lines for stderr.
    pub(super) fn observe(&mut self, report: &Report, verdict: &Verdict, at: Duration) -> Vec<(Glyph, String)> {
        let mut lines = Vec::new();
        for (stage, judged) in report.stages.iter().zip(&verdict.stages) {
            let id = judged.stage.to_string();
            let first = !self.seen.contains_key(&id);
            let seen = self.seen.entry(id.clone()).or_default();
            let mut say = |glyph: Glyph, what: String| lines.push((glyph, format!("[{}] {id}: {what}", took(at))));
            if let (Some(revision), false) =
                (&stage.attempted_revision, first || stage.attempted_revision == seen.attempted)
            {
                say(Glyph::Action, format!("took up {revision}"));
            }
            seen.attempted = stage.attempted_revision.clone();
            let hooks = stage.hooks.iter().flatten().map(|h| (&h.name, h.state));
            for (name, state) in stage.jobs.iter().map(|j| (&j.name, j.state)).chain(hooks) {
                let finished = matches!(state, JobState::Complete | JobState::Failed);
                let (before, started) = seen.jobs.get(name).copied().map_or((None, None), |(s, t)| (Some(s), t));
                // A Job recreated under its name (force) runs again from now.
                let rerun = before.is_some_and(|b| matches!(b, JobState::Complete | JobState::Failed));
                let started = match (finished, rerun) {
                    (true, _) => started,
                    (false, true) => Some(at),
                    (false, false) => started.or(Some(at)),
                };
                if before != Some(state) && !(first && state == JobState::Complete) {
                    let glyph = match state {
                        JobState::Complete => Glyph::Done,
                        JobState::Failed => Glyph::Failed,
                        _ => Glyph::Waiting,
                    };
                    let took_ = match (finished, started) {
                        (true, Some(since)) => format!(" after {}", took(at.saturating_sub(since))),
                        _ => String::new(),
                    };
                    say(glyph, format!("Job {name} {}{took_}", state.as_str()));
                }
                seen.jobs.insert(name.clone(), (state, started));
            }
            // What it waits for, said again when it changes, not when only a duration in it grows.
            let reworded = without_digits(&seen.why) != without_digits(&judged.why);
            if seen.outcome != Some(judged.outcome) || (judged.outcome == Outcome::Waiting && reworded) {
                let glyph = match judged.outcome {
                    Outcome::Done => Glyph::Done,
                    Outcome::Failed => Glyph::Failed,
                    Outcome::Waiting => Glyph::Waiting,
                };
                say(glyph, format!("{} ({})", judged.outcome.as_str(), judged.why));
            }
            if judged.outcome == Outcome::Done {
                self.done_after.entry(id).or_insert(at);
            }
            seen.outcome = Some(judged.outcome);
            seen.why = judged.why.clone();
        }
        lines
    }

    /// How long after the wait began the stage was first seen done.
    pub(super) fn done_after(&self, id: &str) -> Option<Duration> {
        self.done_after.get(id).copied()
    }
}

fn without_digits(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_digit()).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Timeline;
    use crate::verdict::verdict_tests::{NEW, OLD, condition, git, job, ks, ready_at, report};
    use crate::verdict::{Target, judge};

    #[test]
    fn says_what_changed_with_how_long_jobs_took_and_each_stage_once_done() {
        let mut timeline = Timeline::default();
        let mut observe = |objects, secs| {
            let report = report(objects);
            let verdict = judge(&report, &Target::default(), "2026-11-24T10:05:00Z".parse().unwrap());
            timeline
                .observe(&report, &verdict, Duration::from_secs(secs))
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
        };
        let running = condition("Ready", "Unknown", "Progressing", "Reconciliation in progress");
        let first = observe(
            vec![
                git(NEW),
                ks("app-pre-deploy", &[], ready_at(OLD), OLD, OLD, &["db-migration"]),
                job("db-migration", "Complete"),
            ],
            0,
        );
        assert_eq!(
            first,
            [
                "[0.0s] shop/app-pre-deploy: Waiting (Ready at main@sha1:1111111111111111111111111111111111111111; main@sha1:2222222222222222222222222222222222222222 not applied yet)"
            ]
        );
        let second = observe(
            vec![
                git(NEW),
                ks("app-pre-deploy", &[], running, NEW, OLD, &["db-migration"]),
                job("db-migration", "Running"),
            ],
            2,
        );
        assert_eq!(
            &second[..2],
            [
                "[2.0s] shop/app-pre-deploy: took up main@sha1:2222222222222222222222222222222222222222",
                "[2.0s] shop/app-pre-deploy: Job db-migration Running"
            ],
            "{second:#?}"
        );
        let third = observe(
            vec![
                git(NEW),
                ks("app-pre-deploy", &[], ready_at(NEW), NEW, NEW, &["db-migration"]),
                job("db-migration", "Complete"),
            ],
            7,
        );
        assert_eq!(third[0], "[7.0s] shop/app-pre-deploy: Job db-migration Complete after 5.0s");
        assert!(third[1].starts_with("[7.0s] shop/app-pre-deploy: Done (Ready at"), "{third:#?}");
        // Nothing changed: nothing said.
        let again = observe(
            vec![
                git(NEW),
                ks("app-pre-deploy", &[], ready_at(NEW), NEW, NEW, &["db-migration"]),
                job("db-migration", "Complete"),
            ],
            9,
        );
        assert!(again.is_empty(), "{again:#?}");
        assert_eq!(timeline.done_after("shop/app-pre-deploy"), Some(Duration::from_secs(7)));
    }
}
