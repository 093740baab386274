//! The revision `wait --revision` waits for, parsed once, and how it matches the revisions Flux
//! writes: a source's `status.artifact.revision` (`main@sha1:<sha>`, `v1.2.3@sha1:<sha>`,
//! `latest@sha256:<digest>`, a chart's `1.2.0` or `1.2.0@sha256:<digest>`; fluxcd/pkg
//! apis/meta/artifact.go and source-controller's `TransformLegacyRevision`, which also reads the
//! older `main/<sha>` form) and a HelmRelease's `status.lastAttemptedRevision` (the chart version,
//! helm-controller api/v2 helmrelease_types.go).

use std::fmt;
use std::str::FromStr;

/// What a user may name a revision by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Revision {
    /// A revision as Flux writes it, with its digest: `main@sha1:0123abc...`.
    Full(String),
    /// A prefix of a commit sha or artifact digest, at least [`MIN_PREFIX`] hex characters
    /// (`sha1:`/`sha256:` in front allowed).
    Digest(String),
    /// A chart version (`1.2.0`, `v2.0.0-rc.1`): what a HelmRelease attempts.
    Version(String),
}

/// The shortest sha prefix taken, as git's default abbreviation.
const MIN_PREFIX: usize = 7;

/// Why a `--revision` is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a revision: give one as Flux writes it (main@sha1:<sha>, v1.2.3@sha1:<sha>, latest@sha256:<digest>), a sha or digest prefix of at least 7 hex characters, or a chart version (1.2.0)"
)]
pub(crate) struct NotARevision(String);

impl FromStr for Revision {
    type Err = NotARevision;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let refused = || NotARevision(text.to_string());
        let hex = |s: &str| s.len() >= MIN_PREFIX && s.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some((_, digest)) = text.split_once('@') {
            return match digest.split_once(':') {
                Some((_, hexits)) if !hexits.is_empty() => Ok(Revision::Full(text.to_string())),
                _ => Err(refused()),
            };
        }
        let bare = text.strip_prefix("sha1:").or_else(|| text.strip_prefix("sha256:")).unwrap_or(text);
        if hex(bare) {
            return Ok(Revision::Digest(bare.to_ascii_lowercase()));
        }
        let version = text.strip_prefix('v').unwrap_or(text);
        if version.starts_with(|c: char| c.is_ascii_digit())
            && version.contains('.')
            && !text.contains(char::is_whitespace)
        {
            return Ok(Revision::Version(text.to_string()));
        }
        Err(refused())
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revision::Full(r) | Revision::Digest(r) | Revision::Version(r) => f.write_str(r),
        }
    }
}

impl Revision {
    /// Whether a source's artifact revision is this one.
    pub(crate) fn matches(&self, artifact: &str) -> bool {
        match self {
            Revision::Full(r) => artifact == r || digest_of(artifact) == digest_of(r) && digest_of(r).is_some(),
            Revision::Digest(prefix) => digest_of(artifact).is_some_and(|d| d.to_ascii_lowercase().starts_with(prefix)),
            Revision::Version(v) => version_of(artifact) == v,
        }
    }

    /// Whether an input provider's exported value names this revision: a commit sha, a tag or a
    /// digest, as the provider types export them (`sha`, `tag`, `digest` in flux-operator
    /// internal/gitprovider and internal/registry; any key of an ExternalService's or a Static one's).
    pub(crate) fn is_named_by(&self, value: &str) -> bool {
        let bare = value.strip_prefix("sha1:").or_else(|| value.strip_prefix("sha256:")).unwrap_or(value);
        let hex = !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_hexdigit());
        match self {
            Revision::Full(r) => value == r || hex && digest_of(r).is_some_and(|d| d.eq_ignore_ascii_case(bare)),
            Revision::Digest(prefix) => hex && bare.to_ascii_lowercase().starts_with(prefix),
            Revision::Version(v) => value == v,
        }
    }
}

/// The commit sha or digest in a revision: after `@sha1:`/`@sha256:`, or after the `/` of the
/// legacy `main/<sha>` form, or the whole of a bare `sha256:<digest>`.
pub(crate) fn digest_of(revision: &str) -> Option<&str> {
    if let Some((_, digest)) = revision.rsplit_once('@') {
        return digest.split_once(':').map(|(_, hexits)| hexits);
    }
    if let Some((_, hexits)) = revision.split_once(':') {
        return Some(hexits);
    }
    let (_, sha) = revision.rsplit_once('/')?;
    sha.bytes().all(|b| b.is_ascii_hexdigit()).then_some(sha)
}

/// The chart version of a chart artifact's revision (`1.2.0@sha256:...` -> `1.2.0`; a chart built
/// from Git, `1.2.0+<sha>`, -> `1.2.0`).
pub(crate) fn version_of(revision: &str) -> &str {
    let version = revision.split('@').next().unwrap_or(revision);
    version.split('+').next().unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn parses_the_forms_a_user_gives() {
        let full = format!("main@sha1:{SHA}");
        assert_eq!(full.parse(), Ok(Revision::Full(full.clone())));
        assert_eq!("0123ABC".parse(), Ok(Revision::Digest("0123abc".into())));
        assert_eq!("sha256:0123abcd".parse(), Ok(Revision::Digest("0123abcd".into())));
        assert_eq!("1.2.0".parse(), Ok(Revision::Version("1.2.0".into())));
        assert_eq!("v2.0.0-rc.1".parse(), Ok(Revision::Version("v2.0.0-rc.1".into())));
        for refused in ["", "main", "0123ab", "main@", "main@sha1:", "latest tag"] {
            assert!(refused.parse::<Revision>().is_err(), "{refused:?}");
        }
    }

    #[test]
    fn matches_artifact_revisions_by_whole_digest_prefix_or_chart_version() {
        let git = format!("main@sha1:{SHA}");
        assert!(Revision::Full(git.clone()).matches(&git));
        // The same commit on a tag: the commit is the revision.
        assert!(Revision::Full(git.clone()).matches(&format!("v1.0.0@sha1:{SHA}")));
        assert!(!Revision::Full(git.clone()).matches("main@sha1:ffffffffffffffffffffffffffffffffffffffff"));
        assert!(Revision::Digest("0123456".into()).matches(&git));
        assert!(Revision::Digest("0123456".into()).matches(&format!("main/{SHA}")));
        assert!(!Revision::Digest("1234567".into()).matches(&git));
        assert!(Revision::Version("1.2.0".into()).matches("1.2.0"));
        assert!(Revision::Version("1.2.0".into()).matches("1.2.0@sha256:abcdef0123"));
        assert!(Revision::Version("1.2.0".into()).matches("1.2.0+0123456"));
        assert!(!Revision::Version("1.2.0".into()).matches("1.2.01"));
    }

    #[test]
    fn an_input_providers_values_name_a_sha_a_digest_or_a_tag() {
        assert!(Revision::Digest("0123456".into()).is_named_by(SHA));
        assert!(Revision::Digest("abcdef0".into()).is_named_by("sha256:ABCDEF0123"));
        assert!(!Revision::Digest("0123456".into()).is_named_by("release-0123456"));
        assert!(Revision::Full(format!("main@sha1:{SHA}")).is_named_by(SHA));
        assert!(Revision::Version("v1.2.0".into()).is_named_by("v1.2.0"));
        assert!(!Revision::Version("1.2.0".into()).is_named_by("1.2.01"));
    }
}
