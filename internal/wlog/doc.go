// Package wlog builds the workers' logger on log/slog. Workers start once
// per session, so they do not link zap (which brings net/http and
// crypto/tls, about 4 ms more per start measured here); their JSON lines
// use the same keys as the master's zap output ("level", "ts", "logger",
// "msg"), so master and workers write one consistent stream to the
// standard error they share.
package wlog
