// Package master is fbtftp-master's core: it reads requests on the listening
// sockets, answers what needs no file system (malformed, uploads disabled,
// busy), creates each session's socket bound to the address the client
// talked to, and hands it to a worker process over a socketpair. It keeps a
// warm pool of started workers, bounds their number, reaps every one, turns
// their Stats into accounting, and drains on shutdown.
package master
