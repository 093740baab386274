//! What the walk answers for a stage that is not Ready.

use crate::model::StageObject;
use crate::refs::{ObjectRef, StageId};
use crate::report::{Reason, RootCause};

/// Why a stage is not Ready: the stages from it to the stage at fault, the object at fault, and the
/// next step.
#[derive(Clone, Debug)]
pub(crate) struct Resolution {
    pub path: Vec<StageId>,
    pub cause: RootCause,
    pub hint: String,
}

impl Resolution {
    /// A cause inside the stage `id` itself.
    pub(crate) fn at(id: &StageId, cause: RootCause, hint: String) -> Self {
        Resolution { path: vec![id.clone()], cause, hint }
    }
}

/// A cause that is the stage itself.
pub(super) fn stage_cause(stage: &dyn StageObject, reason: Reason, message: impl Into<String>) -> RootCause {
    RootCause::new(ObjectRef::stage(&stage.id()), reason, message)
}
