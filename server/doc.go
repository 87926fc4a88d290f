// Package server is the master side of fbtftp-go: it listens, hands each
// session to a worker process, and reports statistics through two
// callbacks, as fbtftp's BaseServer and its session and server stats
// callbacks do. fbtftp-master is a command line around a Server; a Go
// program can run one with its own configuration and callbacks.
//
// It lives apart from package fbtftp so that workers, which import fbtftp
// and start once per session, do not link the master, zap and net/http.
package server
