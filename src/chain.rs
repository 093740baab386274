//! An error with its chain of causes as one line, for every message the plugin prints: a leaf
//! room, so the I/O layer and the crate's error both use it.

/// An error and its causes on one line, `error: cause: cause`: each cause is added unless the text
/// already says it, and each keeps only its first line (parsers append multi-line snippets).
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    with_sources(first_line(e), e)
}

fn first_line(e: &dyn std::error::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().trim().to_string()
}

pub(crate) fn with_sources(mut out: String, e: &(dyn std::error::Error + 'static)) -> String {
    let mut source = e.source();
    while let Some(s) = source {
        let text = first_line(s);
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
