// Package metrics holds the master's Prometheus metrics. Only the master
// imports it: the worker binary never links Prometheus (workers report a
// stats.SessionStats over IPC and the master accounts for it here).
//
// Everything is registered on an explicit registry passed to New, never on
// prometheus.DefaultRegisterer. Every label has a closed value set (see
// docs/metrics.md); nothing is labelled by peer, file or session.
package metrics
