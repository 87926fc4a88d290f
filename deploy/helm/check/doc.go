// Package check tests the Helm chart in ../fbtftp: helm's own lint and
// rendering code at a pinned version (helm.sh/helm/v4, see go.mod: the
// same functions `helm lint` and `helm template` run), strict decoding of
// every rendered object into the Kubernetes API types, the rendered
// command line against the real fbtftp-master option parser, and the
// values table of the chart's README against values.yaml and the
// templates.
//
// It is a module of its own so that none of this reaches the server's
// go.mod. `make test` runs it (make helm-check); by hand:
//
//	cd deploy/helm/check && go test -count=1 ./...
//
// The helm command line itself, at the same version:
//
//	cd deploy/helm/check && go tool helm template ../fbtftp --kube-version 1.33
package check
