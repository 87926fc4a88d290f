// Package workermain is the main function of the stock workers
// (fbtftp-worker and fbtftp-worker-http): signals, Connect, the handler,
// Serve, exit codes.
package workermain
