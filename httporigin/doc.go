// Package httporigin serves TFTP downloads from HTTP(S) origins: kernels and
// initrds kept in an HTTP repository, with no copy in the TFTP root. It is
// what fbtftp-worker-http runs (fbtftp-master --http-origin, or map rules
// whose result is a URL), and a Handler for custom workers.
//
// A request goes to the origin when the map rules routed it to a URL (see
// fbtftp.Request.Route: a name the client sent is never one), or, with
// Config.Origin set, when the next handler (usually the stock file server, fileserver.New)
// does not have the file: Origin + the name, one escaped segment per
// component. The object is streamed while it is sent: no whole-file
// buffering, tsize from Content-Length, retransmissions inside the window
// served from the engine's buffer, never refetched.
//
//	200               the content (tsize not acknowledged when chunked)
//	404, 410          ERROR 1 "File not found"
//	401, 403          ERROR 2 "Access violation"
//	anything else     ERROR 0 "origin error", the status in the log only
//	timeouts          ERROR 0 "origin error"
//
// Only URLs under a prefix the operator wrote are fetched: Config.Origin,
// the Config.Origins list and the literal start of the map file's
// replacements (remap.Rules.URLPrefixes). A route elsewhere, one with user
// info the prefix lacks, a dot segment (plain or percent-encoded), an
// encoded separator, or a query the prefix does not end in, gets ERROR 2
// before any connection: a rule's \1 cannot carry a client out of its
// prefix. Config.Networks further restricts the addresses dialled.
//
// With Config.CacheDir, complete objects are kept on disk and shared by all
// worker processes: a boot storm of 500 machines asking for one initrd costs
// the origin one fetch. See docs/http-origin.md.
package httporigin
