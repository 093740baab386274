//! What `wait` says on stderr as the rollout goes: a stage taking the revision up, its Jobs
//! starting and ending, a stage done or failed, each with the time since the wait began; and how
//! long each stage took to be done.

use std::collections::HashMap;
use std::time::Duration;

use crate::duration::took;
use crate::report::{JobState, Report};
use crate::terminal::{self, Glyph};
use crate::verdict::{Outcome, Verdict};

/// What was last seen of one stage.
#[derive(Default)]
struct Seen {
    attempted: Option<String>,
    jobs: HashMap<String, JobState>,
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
    /// Says what changed since the last picture, `at` after the wait began.
    pub(super) fn observe(&mut self, report: &Report, verdict: &Verdict, at: Duration) {
        for (stage, judged) in report.stages.iter().zip(&verdict.stages) {
            let id = judged.stage.to_string();
            let first = !self.seen.contains_key(&id);
            let seen = self.seen.entry(id.clone()).or_default();
            let say = |glyph: Glyph, what: String| terminal::step(glyph, &format!("[{}] {id}: {what}", took(at)));
            if let (Some(revision), false) =
                (&stage.attempted_revision, first || stage.attempted_revision == seen.attempted)
            {
                say(Glyph::Action, format!("took up {revision}"));
            }
            seen.attempted = stage.attempted_revision.clone();
            let hooks = stage.hooks.iter().flatten().map(|h| (&h.name, h.state));
            for (name, state) in stage.jobs.iter().map(|j| (&j.name, j.state)).chain(hooks) {
                if seen.jobs.get(name) != Some(&state) && !(first && state == JobState::Complete) {
                    let glyph = match state {
                        JobState::Complete => Glyph::Done,
                        JobState::Failed => Glyph::Failed,
                        _ => Glyph::Waiting,
                    };
                    say(glyph, format!("Job {name} {}", state.as_str()));
                }
                seen.jobs.insert(name.clone(), state);
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
    }

    /// How long after the wait began the stage was first seen done.
    pub(super) fn done_after(&self, id: &str) -> Option<Duration> {
        self.done_after.get(id).copied()
    }
}

fn without_digits(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_digit()).collect()
}
