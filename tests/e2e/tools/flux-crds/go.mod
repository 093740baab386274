// Pins the source-controller module whose CRDs (GitRepository, OCIRepository, Bucket,
// ExternalArtifact) the end-to-end cluster installs. Nothing is built from it: kustomize-controller
// only needs the CRDs to exist, and the tests write source status themselves.
module example.invalid/fluxjobs-e2e-flux-crds

go 1.26.0

require github.com/fluxcd/source-controller v1.9.6
