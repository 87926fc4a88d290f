// Package origin streams TFTP downloads from HTTP(S) origins, optionally
// through an on-disk cache shared by all worker processes.
//
// # Fetching
//
// Client.Open sends one GET (http and https only, with Accept-Encoding:
// identity so the bytes and Content-Length are the origin's) and returns
// once the headers have arrived. The answer maps to TFTP as follows:
//
//	200               the content; tsize from Content-Length (none when chunked)
//	404, 410          ERROR 1 "File not found"
//	401, 403          ERROR 2 "Access violation"
//	anything else     ERROR 0 "origin error"
//	network error     ERROR 0 "origin error"
//	timeout           ERROR 0 "origin error"
//
// The wire message never carries the status, the URL or the network error;
// they are in the error text, for the session log. Redirects are followed
// (at most 10, net/http's default). URLs are logged with passwords
// redacted.
//
// Timeouts are bounded by default: ConnectTimeout 5 s (TCP connect, TLS
// handshake), HeaderTimeout 10 s (request sent to headers received),
// IdleTimeout 30 s (one read waiting for body bytes; a stall aborts the
// download with ERROR 0). The proxy comes from HTTP_PROXY, HTTPS_PROXY
// and NO_PROXY. MaxSize optionally refuses larger objects.
//
// Memory is bounded whatever the object's size: without a cache the body
// is a plain stream (*Body) that the TFTP engine reads once, in order,
// keeping only the current window in its ring buffer, so retransmissions
// never refetch; a cache fill copies through one 64 KiB buffer.
//
// # Cache
//
// With Client.Cache set, objects are kept in Cache.Dir, up to
// Cache.MaxBytes (1 GiB by default) and Cache.MaxEntries (10000), least
// recently used evicted first. Both bounds hold at every moment, fills in
// progress included: a fill reserves its bytes before writing them (see
// budget.go).
// The directory is opened once (Cache.OpenDir, or the first Open) and
// then used through that descriptor (an *os.Root), every file by its name
// in it, never by a path. Each entry is named by the SHA-256 of its URL:
//
//	<key>.lock    the entry's lock (flock, exclusive); only while in use:
//	              the holder removes it when it unlocks
//	<key>.data    the complete object
//	<key>.meta    JSON: url, etag, last_modified, size, validated; or a
//	              note (oversize, no data) that a chunked body outgrew
//	              the cache, which streams the URL for OversizeTTL
//	<key>.*.part  an object being fetched (removed or renamed to .data)
//	<key>.*.mtmp  metadata being written (renamed to .meta)
//	<key>.fill    JSON: url, part (the .part file's name), size; while a
//	              fill of known size runs (follow.go)
//
// The protocol, for every Open of a URL:
//
//  1. In one process, concurrent Opens of a URL form a flight: the first
//     (the leader) does the work below, the others wait for it and share
//     its outcome (singleflight).
//  2. The leader takes the entry lock: open(O_CREAT) + flock(LOCK_EX |
//     LOCK_NB), polling (1 ms doubling to 50 ms) while another process (or
//     Client) holds it, at most Cache.LockWait (60 s); then it checks that
//     <key>.lock still names the locked file, since eviction deletes lock
//     files under their lock. Past LockWait, it streams from the origin
//     itself, uncached. While it waits, if the holder announced a fill of
//     this URL in <key>.fill, it stops waiting and reads that fill's .part
//     file along as it grows (a *followReader, see 5).
//  3. Holding the lock, it reads .meta and checks .data has that size.
//     An entry validated after this Open began (a fetch or revalidation
//     that another process finished while this one waited), or less than
//     Cache.MaxAge ago, is served as is: no request.
//  4. Otherwise it sends the GET, with If-None-Match and
//     If-Modified-Since from .meta when there is an entry. 304: .meta's
//     validated time is updated and .data served. 404/410: the entry is
//     deleted. 401/403: refused. Any other failure with an entry: the
//     stale entry is served (stale-if-error). 200: a fill starts.
//  5. A fill reserves its bytes (all of Content-Length, or a step at a
//     time for a chunked body) under the cache-wide lock (flock on Dir),
//     evicting least recently used entries whose lock is free until the
//     objects and the new bytes fit MaxBytes and the entries MaxEntries;
//     when no room can be made, the object is streamed uncached. It
//     copies the body at the origin's pace into <key>.*.part, still
//     holding the lock; the leader and its in-process joiners read that
//     file along as it grows (ReadAt waits for missing bytes). When the
//     body is complete and its length matches Content-Length, the file is
//     fsynced, .meta removed, the file renamed to .data and a new .meta
//     written (temp + rename); then the lock is released. A fill that
//     fails removes its marker at once; its temporary file (still counted)
//     and its lock stay until its last reader is done, then the file and
//     the outdated entry are deleted; readers get ERROR 0 once they reach
//     the missing bytes. A chunked body that would pass MaxBytes stops
//     the fill: the reader that reaches the end of the file takes the
//     rest of the body over and streams it (the client gets the whole
//     object, the disk holds MaxBytes at most), and a note makes later
//     Opens stream the URL without filling. A fill ignores the end of
//     the session that started it; only IdleTimeout, MaxSize, the budget,
//     Client.Abort (a worker's fill time limit) or the process's exit stop
//     it. Readers in other processes (followers) poll the .part file's
//     size; the marker and the lock are the fill's signs of life: once
//     the marker no longer names the file, or the lock is free, with
//     bytes still missing, their read fails (ERROR 0) at once.
//  6. A cached entry is served as an *os.File (*File), read with ReadAt.
//     Its modification time is set on each use: it is the LRU clock.
//
// So a boot storm of N concurrent downloads of one object costs the origin
// one request, whether the downloads are goroutines or worker processes:
// the first process fetches, the others read its fill along, or, when
// the size is unknown (chunked), wait on the lock and then find an entry
// validated after they began. So a TFTP client's first block waits for the
// origin's first bytes, not for the whole object. A fill outlives the
// download that started it (a UEFI size probe ends its session at once);
// Client.Wait lets a worker finish it before exiting, and Client.Abort
// stops it when the worker's time for it is up. A killed process releases
// its locks with its file descriptors; its temporary files and lock files
// are deleted by the next reservation (any entry's).
//
// Objects whose Content-Length exceeds MaxBytes, and answers a shared
// cache must not store (Cache-Control no-store or private, or a Vary on
// any request header but Accept-Encoding; see WithHeader), are streamed
// uncached (as a *Body, ending with the session), and concurrent Opens of
// them each fetch; an older entry of the URL is deleted. A chunked object
// that turns out larger than MaxBytes is served (its end streamed) but
// not published. MaxBytes counts the objects' bytes, published and being
// filled; the metadata (a few hundred bytes, a block on disk, per entry)
// is bounded by MaxEntries. An entry evicted while a session reads it
// frees its space when that session ends. Cache.Counters reports what the
// cache did in the process (fills, aborts by cause, evictions, bytes).
//
// The worker runs chrooted as an unprivileged user. It calls
// Cache.OpenDir before the chroot, so Dir may lie outside the TFTP root
// (say /var/cache/fbtftp), where TFTP clients cannot read it; it must be
// writable by the user the worker runs as. Without that call, the first
// Open opens Dir, which must then be a path inside the chroot. The
// entries are created mode 0600 and Dir 0700. Cross-process locking needs
// flock(2) (Linux); elsewhere only the goroutines of one process share
// fetches.
package origin
