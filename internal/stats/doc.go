// Package stats gives the session vocabulary of package tftp (Outcome,
// Source, SessionStats) the lists and mappings the worker and the master
// need. It never imports Prometheus, so the worker binary stays lean.
package stats
