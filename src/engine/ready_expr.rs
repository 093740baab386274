//! `dependsOn[].readyExpr`: a CEL expression over the dependent Kustomization (`self`) and its
//! dependency (`dep`), both whole unstructured objects (fluxcd/kustomize-controller
//! internal/controller/kustomization_controller.go checkDependencies,
//! `evalReadyExpr`). kustomize-controller evaluates it with cel-go; here the `cel` crate evaluates it
//! on the same objects, so `status` can say whether an unmet expression holds now. cel-go stays the
//! authority: an expression this evaluator cannot handle is reported as not evaluated.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};

/// Why a readyExpr could not be evaluated here; the text goes into the report.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadyExprError {
    #[error("does not compile: {0}")]
    Compile(String),
    #[error(transparent)]
    Object(#[from] serde_json::Error),
    #[error("gives {0}, not a bool")]
    NotBool(String),
    #[error(transparent)]
    Execution(#[from] cel::ExecutionError),
}

/// The value of `expr` with `self` and `dep` (objects as JSON text) bound, or why it could not be
/// evaluated.
pub(super) fn evaluate(expr: &str, this: &str, dep: &str) -> Result<bool, ReadyExprError> {
    let program =
        cel::Program::compile(expr).map_err(|e| ReadyExprError::Compile(first_line(&e.to_string()).to_string()))?;
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text);
    let mut context = cel::Context::default();
    context.add_variable_from_value("self", to_cel(&parse(this)?));
    context.add_variable_from_value("dep", to_cel(&parse(dep)?));
    match program.execute(&context)? {
        cel::Value::Bool(value) => Ok(value),
        other => Err(ReadyExprError::NotBool(format!("{other:?}"))),
    }
}

/// The value of `expr` over one object whose top-level fields are the variables (`status`,
/// `metadata`, ...): how flux-operator evaluates a ResourceSet's `dependsOn[].readyExpr` on the
/// dependency (github.com/controlplaneio-fluxcd/flux-operator internal/controller/
/// resourceset_controller.go `checkDependencies`, `EvaluateBoolean(ctx, depObj.UnstructuredContent())`).
pub(super) fn evaluate_on(expr: &str, object: &str) -> Result<bool, ReadyExprError> {
    let program =
        cel::Program::compile(expr).map_err(|e| ReadyExprError::Compile(first_line(&e.to_string()).to_string()))?;
    let mut context = cel::Context::default();
    if let serde_json::Value::Object(fields) = serde_json::from_str::<serde_json::Value>(object)? {
        for (name, value) in &fields {
            context.add_variable_from_value(name.as_str(), to_cel(value));
        }
    }
    match program.execute(&context)? {
        cel::Value::Bool(value) => Ok(value),
        other => Err(ReadyExprError::NotBool(format!("{other:?}"))),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// JSON as cel-go sees unstructured objects: whole numbers are `int` (int64), so that
/// `dep.metadata.generation == 2` compares int with int. (serde would make them `uint`.)
fn to_cel(value: &serde_json::Value) -> cel::Value {
    use serde_json::Value as Json;
    match value {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => cel::Value::String(Arc::new(s.clone())),
        Json::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Json::Object(fields) => {
            let map: HashMap<Key, cel::Value> =
                fields.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            cel::Value::Map(Map { map: Arc::new(map) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objects() -> (String, String) {
        let this = json!({"metadata": {"name": "app-deploy", "generation": 1},
                          "status": {"lastAttemptedRevision": "main@sha1:2"}});
        let dep = json!({"metadata": {"name": "app-pre-deploy", "generation": 3},
                         "status": {"observedGeneration": 3, "lastAppliedRevision": "main@sha1:1",
                                    "conditions": [{"type": "Ready", "status": "True"}]}});
        (this.to_string(), dep.to_string())
    }

    #[test]
    fn evaluates_over_both_objects_like_the_controller() {
        let (this, dep) = objects();
        let ready = "dep.status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'True') && dep.metadata.generation == dep.status.observedGeneration";
        assert_eq!(evaluate(ready, &this, &dep).ok(), Some(true));
        assert_eq!(evaluate("dep.metadata.generation == 3", &this, &dep).ok(), Some(true));
        let same_revision = "dep.status.lastAppliedRevision == self.status.lastAttemptedRevision";
        assert_eq!(evaluate(same_revision, &this, &dep).ok(), Some(false));
        assert_eq!(evaluate("has(dep.status.history)", &this, &dep).ok(), Some(false));
    }

    #[test]
    fn evaluates_over_one_object_like_flux_operator() {
        let (_, dep) = objects();
        let ready = "status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'True') && metadata.generation == status.observedGeneration";
        assert_eq!(evaluate_on(ready, &dep).ok(), Some(true));
        assert_eq!(evaluate_on("status.lastAppliedRevision == 'main@sha1:2'", &dep).ok(), Some(false));
        assert!(evaluate_on("dep.metadata.name == 'x'", &dep).is_err(), "no `dep` variable in flux-operator's binding");
    }

    #[test]
    fn says_why_it_cannot_evaluate() {
        let (this, dep) = objects();
        assert!(evaluate("dep.status.phase == 'Running'", &this, &dep).unwrap_err().to_string().contains("phase"));
        assert!(evaluate("dep.metadata.name +", &this, &dep).unwrap_err().to_string().starts_with("does not compile"));
        assert!(evaluate("dep.metadata.name", &this, &dep).unwrap_err().to_string().contains("not a bool"));
    }
}
