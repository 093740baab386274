// The flux CLI: the benchmark's side-by-side comparison (`flux get kustomizations`), and the
// end-to-end test of `flux plugin install` (RFC-0013's plugin catalog) with our manifest.
// build-tools.sh copies this module's source out of the module cache and builds it there, because
// flux2's go.mod has a replace directive and its cmd/flux embeds release manifests that are not in
// the module zip (they are only used by `flux install`/`bootstrap`).
module example.invalid/fluxjobs-bench-flux

go 1.26.0

require github.com/fluxcd/flux2/v2 v2.9.5
