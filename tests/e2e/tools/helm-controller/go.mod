// Wrapper module that builds the Flux helm-controller for the end-to-end tests (HelmReleases).
// The Go module proxy here refuses github.com/fluxcd/helm-controller; build-tools.sh then replaces
// it with its unchanged source from $FLUXJOBS_GO_SOURCES (.ci/run sets it to ../shared/go-sources),
// on a temporary copy of this module. A machine whose proxy serves the module needs nothing.
module example.invalid/fluxjobs-e2e-helm-controller

go 1.26.0

require github.com/fluxcd/helm-controller v1.6.3

require (
	github.com/fluxcd/helm-controller/api v1.6.3 // indirect
	helm.sh/helm/v4 v4.2.4 // indirect
)

// helm-controller's own non-local replaces (a dependency's replaces are ignored). Its Helm fork
// github.com/fluxcd/helm/v4 v4.2.4-flux.1 is refused by the module proxy here; upstream Helm v4.2.4,
// which the fork is based on, is pinned instead.
replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20231025023718-d50d2fec9c98

replace (
	sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1
	sigs.k8s.io/kustomize/kyaml => sigs.k8s.io/kustomize/kyaml v0.21.1
)

