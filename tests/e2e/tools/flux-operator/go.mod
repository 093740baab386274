// Flux Operator (ResourceSet steps), for the end-to-end suite of issue 13. build-tools.sh copies this
// module's source out of the module cache and builds ./cmd/operator there: its web/embed.go embeds
// web/dist, which the module zip does not contain, and one dependency version it pins is not served
// by the Go module proxy here (see the replace in build_flux_operator). It needs Go 1.27, which
// GOTOOLCHAIN=go1.27.3 (the approved version) fetches from the module proxy.
module example.invalid/fluxjobs-e2e-flux-operator

go 1.27.0

require github.com/controlplaneio-fluxcd/flux-operator v0.59.0
