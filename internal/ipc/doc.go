// Package ipc is the protocol between the master and a worker: messages over
// an AF_UNIX SOCK_SEQPACKET socketpair, with the session's UDP socket passed
// by SCM_RIGHTS.
//
// # Conversation
//
// The master creates the pair with Socketpair and execs the worker with its
// end as descriptor WorkerFD (exec.Cmd.ExtraFiles[0]), and the sealed
// WorkerConfig of the current configuration (map rules, template data) as
// ConfigFD (ExtraFiles[1]), which the worker reads and closes first. The worker opens it
// with FromFD, which returns an error wrapping ErrNotStartedByMaster when
// run by hand. Then:
//
//	worker                                   master
//	  | -- Hello (version, pid) ------------>  |  started and sandboxed: ready
//	  | <-- Handoff + session socket fd -----  |  one session (warm pool: later)
//	  | -- Progress (0 or more) ------------>  |  while the transfer runs
//	  | -- Stats ---------------------------->  |  session over
//	  | -- OriginStats (optional, once) ----->  |  origin work after the session
//	  | -- Ready (only with Handoff.Reuse) -->  |  idle again: back to Handoff
//	  | close / exit ----------------------->  |  EOF
//
// The master refuses a worker whose Hello carries another Version. EOF on
// the socket means the peer is gone: the worker learns that the master died.
// The master does not rely on EOF to learn that a worker exited (a child of
// the worker may hold its end open): it waits for the process itself.
//
// A worker says nothing between its Hello and the Handoff (the master checks
// with Conn.Pending before it sends one, and does not use a worker that
// did). After it, it sends Progress messages while the transfer runs (the
// stock engine: at most one per 500 ms, never blocking: TrySendProgress
// drops a report the master's queue has no room for), then exactly one
// Stats, carrying the Handoff's session id, then at most one OriginStats.
// Progress or Stats naming another session, Progress after the Stats or
// faster than the master allows, any other message, or one that does not
// decode, make the master kill the worker. The master takes the identity
// fields of Stats from its Handoff and bounds the others, Progress and
// OriginStats included; it reads every message after the Handoff with
// RecvReport.
//
// Reuse (fbtftp-master --sessions-per-worker): a Handoff with Reuse set
// asks the worker, once its session is over (Stats, the optional
// OriginStats, its background work done, the session's descriptors
// closed), to send Ready and wait for the next Handoff instead of exiting.
// The master reads nothing after a Ready until it hands the worker another
// session: between the two the worker must again say nothing (the same
// Pending check as after Hello). A Ready before the Stats, a Ready after a
// Handoff without Reuse, or a second one, is a violation. A worker that
// gets a Handoff without Reuse serves it and exits as above; a worker
// whose master closes its end while it waits (EOF) exits.
//
// # Wire format
//
// Each message is one SEQPACKET datagram of at most MaxMessageSize bytes;
// its first byte is the message type. Decoding is strict: an unknown type,
// a truncated field, trailing bytes, a list or string over its bound, a
// non-minimal varint, an invalid address or enum value are all errors
// wrapping ErrMalformed, and no input makes a decoder panic. Because of this
// every message has exactly one encoding.
//
// Field encodings:
//
//	u8, u16, i32    fixed size, big-endian
//	uvarint         encoding/binary unsigned varint, minimal
//	varint          encoding/binary zig-zag signed varint, minimal
//	string          uvarint length (<= MaxStringLen) + bytes
//	list(T)         uvarint count (bounded) + count × T
//	options         list of (string name, string value); names non-empty; <= MaxOptions
//	duration        uvarint nanoseconds (never negative)
//	time            varint Unix seconds (years 1 to 9999) + uvarint nanoseconds (< 1e9);
//	                the zero time.Time encodes as year 1 and decodes back to it
//	opcode          u8: 1 RRQ or 2 WRQ
//	mode            u8: 0 octet or 1 netascii
//	addr            u8 tag, then by tag:
//	                  0  none (the zero netip.AddrPort; not allowed in Handoff)
//	                  4  4 address bytes, u16 port
//	                  6  16 address bytes, string zone (<= 64 bytes), u16 port
//	                IPv4-mapped IPv6 addresses are sent as IPv4 and refused as tag 6.
//
// Hello, worker -> master (type 1). Its layout never changes, so the
// version check works across versions:
//
//	u8 type=1 | u16 version | i32 pid (> 0)          exactly 7 bytes in version 1
//
// Handoff, master -> worker (type 2), with exactly one descriptor attached:
//
//	u8       type=2
//	string   session id
//	opcode   op
//	string   filename
//	string   raw mode
//	mode     mode
//	options  options, in the client's order
//	addr     peer                (required)
//	addr     local               (required)
//	time     received
//	duration timeout
//	uvarint  retries             (<= 2^31-1, like every int field below)
//	uvarint  max blksize
//	uvarint  max windowsize
//	list     refuse              (strings, <= MaxRefuse)
//	duration session deadline
//	uvarint  flags               (only the Flag* bits)
//	uvarint  umask               (<= 0777)
//	varint   max upload
//	list     roots               (strings, <= MaxRoots)
//	varint   verbosity           (int32 range)
//	string   log format          ("", "json" or "console")
//	list     extra               (string key, string value; <= MaxExtra;
//	                              keys non-empty, strictly ascending)
//	u8       reuse               (0, or 1: send Ready after the session)
//
// Stats, worker -> master (type 3), no descriptor:
//
//	u8       type=3
//	string   session id
//	addr     peer
//	addr     local
//	string   filename
//	opcode   op
//	mode     mode
//	uvarint  worker pid
//	options  options requested
//	options  options acked
//	uvarint  blksize
//	uvarint  windowsize
//	varint   tsize               (-1 when none)
//	uvarint  packets sent
//	uvarint  packets received
//	uvarint  bytes
//	uvarint  retransmits
//	string   outcome             (one of stats.Outcomes)
//	string   source              (one of stats.Sources, or empty)
//	uvarint  error code          (<= 65535)
//	string   error message
//	time     start
//	duration duration
//	origin   the session's origin work (below)
//	duration rtt                 (smoothed round trip, 0 when none)
//
// OriginStats, worker -> master (type 4), no descriptor, optional, at most
// once, after Stats: the origin work the worker did after its session (a
// cache fill a UEFI size probe started, the eviction after it):
//
//	u8       type=4
//	origin
//
// Progress, worker -> master (type 5), no descriptor, zero or more times
// between the Handoff and the Stats: the session so far, for live metrics
// and the master's session list:
//
//	u8       type=5
//	string   session id
//	uvarint  bytes               (acknowledged or written so far)
//	uvarint  packets sent
//	uvarint  packets received
//	uvarint  retransmits
//	varint   size                (-1 unknown, else <= MaxProgressSize)
//	uvarint  blksize
//	uvarint  windowsize
//	string   source              ("" or one of stats.Sources)
//	uvarint  rtt                 (smoothed, nanoseconds; 0 not measured yet)
//
// Ready, worker -> master (type 6), no descriptor, only after the Stats of
// a Handoff with Reuse set, and after the OriginStats if any:
//
//	u8       type=6              exactly 1 byte
//
// where origin is:
//
//	uvarint  requests sent to origins
//	list     latencies           (durations, <= stats.MaxOriginLatencies,
//	                              and no more than requests)
//	uvarint  errors, one per class of stats.OriginErrorLabels, in order
//	uvarint  cache fills published
//	uvarint  cache fills aborted
//	uvarint  cache evictions
//	uvarint  evicted bytes
//
// # Descriptors
//
// All descriptors are close-on-exec in both processes. The master owns its
// Conn and, until cmd.Start returns, the worker's end; the worker's Conn owns
// WorkerFD. SendHandoff attaches the session socket without taking it over:
// the master closes its copy afterwards. RecvHandoff receives with
// MSG_CMSG_CLOEXEC and hands the one descriptor to the caller; any other
// descriptor received is closed. The master never installs descriptors a
// worker attaches to Hello or Stats (it offers no control buffer) and
// rejects such messages.
//
// Receives park goroutines in the netpoller, honour read deadlines and
// Close, and allocate only once a message has arrived.
package ipc
