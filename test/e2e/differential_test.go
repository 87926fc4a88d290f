package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/test/testenv"
)

// Differential tests: every request goes to tftpd-hpa's in.tftpd and to
// fbtftp-master started with the same flags, and the replies must match
// packet for packet: the first reply (opcode; ERROR code and message; OACK
// option names and values in order; DATA block and payload), then, for a
// transfer that starts, the whole content read, or the file an upload left
// behind. The deliberate differences are listed in diffKnownDifferences and
// in docs/compatibility.md ("Known differences"); anything else that
// differs fails the test.

const (
	// diffReplyTimeout bounds the wait for every packet; "no reply" within
	// it is a result like any other.
	diffReplyTimeout = 2 * time.Second
	// diffMaxContent bounds what a download may bring (the largest test
	// file is a few KiB).
	diffMaxContent = 1 << 20
)

// diffCase is one request.
type diffCase struct {
	name string
	op   proto.Opcode // 0 means RRQ
	// file is the filename sent; "{root}" stands for the root directory of
	// the server it is sent to (non-secure mode).
	file string
	mode string // sent as is (the helpers fill in "octet")
	opts []proto.Option
	// data is what a WRQ uploads (as the DATA payloads, already in the
	// request's mode) when the server accepts it.
	data []byte
	// target is the file under the root whose state a WRQ leaves is
	// compared; "" means file (with "{root}" removed).
	target string
}

// diffGroup is one pair of servers, started with the same flags.
type diffGroup struct {
	name string
	// args are the flags of both servers; "{root}" is replaced by each
	// server's root, "{map}" by the map file.
	args []string
	// dirs are the directories (relative to the root) that hold the test
	// files; nil means the root itself.
	dirs []string
	// feature names the fbtftp-go feature the group needs, and probe the
	// row that shows whether fbtftp-go has it: when fbtftp-master refuses
	// the flags, or answers the probe otherwise than in.tftpd, every row of
	// the group is skipped with a message naming the feature, and the rows
	// run unchanged once it lands.
	feature, probe string
	cases          []diffCase
}

// diffKnown is a deliberate difference: the first replies of both
// servers, as diffReply.String prints them, and why.
type diffKnown struct {
	inTftpd, fbtftp string
	reason          string
}

// Reasons shared by several rows of diffKnownDifferences.
const (
	diffWhyLinksInRoot = "symbolic links are resolved inside the listed directory (openat2 RESOLVE_IN_ROOT: an absolute link is taken relative to it, nothing outside is reachable); without -s in.tftpd follows them on the host, anywhere"
	diffWhyDotdot      = `".." components are refused even with -s; in.tftpd resolves them inside the chroot (clamped at its root)`
	diffWhyNotRegular  = "only regular files are opened; in.tftpd opens a directory and fails on the first read or write (strerror text, code 0)"
	diffWhyEACCES      = "EACCES is an access violation, ERROR 2 (fs.ErrPermission -> 2, STYLE.md); in.tftpd sends errno+100 as ERROR 0 with strerror's text"
	diffWhyRange       = "an option value out of range is not acknowledged and the transfer goes on with the default (docs/protocol.md); in.tftpd refuses the request with ERROR 8"
	diffWhyMalformed   = "a request beyond the parser's bounds (empty filename, filename over 4096 bytes) is malformed and dropped unanswered, like any junk on the listening port (docs/protocol.md); in.tftpd answers it"
)

// diffKnownDifferences lists the requests (group/case) where fbtftp-go
// deliberately answers otherwise than in.tftpd 5.2. Both first replies are
// checked, so an entry that no longer holds fails loudly. The resulting
// file of an upload listed here is not compared. Keep docs/compatibility.md
// ("Known differences") in step.
var diffKnownDifferences = map[string]diffKnown{
	"secure/dotdot-leading":  {`DATA 1 len 512`, `ERROR 2 "Reverse path not allowed"`, diffWhyDotdot},
	"secure/dotdot-inner":    {`DATA 1 len 512`, `ERROR 2 "Reverse path not allowed"`, diffWhyDotdot},
	"secure/dotdot-absolute": {`DATA 1 len 512`, `ERROR 2 "Reverse path not allowed"`, diffWhyDotdot},
	"secure/dotdot-escape":   {`ERROR 1 "File not found"`, `ERROR 2 "Reverse path not allowed"`, diffWhyDotdot},
	"upload/dotdot":          {`ACK 0`, `ERROR 2 "Reverse path not allowed"`, diffWhyDotdot},
	"secure/directory":       {`ERROR 0 "Is a directory"`, `ERROR 2 "Not a regular file"`, diffWhyNotRegular},
	"upload/directory":       {`ERROR 0 "Is a directory"`, `ERROR 2 "Not a regular file"`, diffWhyNotRegular},
	"secure/fifo": {`no reply`, `ERROR 2 "Not a regular file"`,
		"a FIFO is never opened; in.tftpd blocks in open() until a writer comes and answers nothing meanwhile"},
	"secure/private-root":               {`ERROR 0 "Permission denied"`, `ERROR 2 "Permission denied"`, diffWhyEACCES},
	"permissive/private-root":           {`ERROR 0 "Permission denied"`, `ERROR 2 "Permission denied"`, diffWhyEACCES},
	"upload-create/new-in-readonly-dir": {`ERROR 0 "Permission denied"`, `ERROR 2 "Permission denied"`, diffWhyEACCES},
	"secure/too-long-name": {`ERROR 0 "File name too long"`, `ERROR 1 "File not found"`,
		"ENAMETOOLONG is answered as a missing file (internal/content MapOpenError); in.tftpd sends strerror's text with code 0"},
	"secure/too-long-path":       {`ERROR 0 "File name too long"`, `no reply`, diffWhyMalformed},
	"secure/empty-filename":      {`ERROR 4 "Missing mode"`, `no reply`, diffWhyMalformed},
	"options/blksize-7":          {`ERROR 8 "Unsupported option(s) requested"`, `DATA 1 len 512`, diffWhyRange},
	"options/timeout-0":          {`ERROR 8 "Unsupported option(s) requested"`, `DATA 1 len 512`, diffWhyRange},
	"options/timeout-256":        {`ERROR 8 "Unsupported option(s) requested"`, `DATA 1 len 512`, diffWhyRange},
	"options/utimeout-9999":      {`ERROR 8 "Unsupported option(s) requested"`, `DATA 1 len 512`, diffWhyRange},
	"options/utimeout-255000001": {`ERROR 8 "Unsupported option(s) requested"`, `DATA 1 len 512`, diffWhyRange},
	"options/rollover-2": {`OACK rollover=2`, `DATA 1 len 512`,
		"rollover is 0 or 1 (as in later tftp-hpa); in.tftpd 5.2 acknowledges any value up to 65535 and wraps to it"},
	"options/tsize-empty": {`OACK tsize=0`, `DATA 1 len 0`,
		"tsize is not acknowledged for an empty file: curl takes an OACK tsize of 0 as an error"},
	"options/tsize-netascii": {`ERROR 8 "Unsupported option(s) requested"`, "OACK tsize=" + strconv.Itoa(diffNetasciiSize(diffNetascii)),
		"tsize in netascii mode is acknowledged with the size after conversion; in.tftpd refuses the request"},
	"options/windowsize": {`DATA 1 len 512`, `OACK windowsize=4`,
		"windowsize (RFC 7440) is supported; in.tftpd 5.2 ignores it"},
	"options/duplicate-blksize": {`OACK blksize=1024 blksize=2048`, `OACK blksize=1024`,
		"a repeated option is acknowledged once, the first; in.tftpd acknowledges every copy (and uses the last), which RFC 2347 does not allow"},
	"blocksize-cap/blksize2-1468": {`OACK blksize2=1000`, `OACK blksize2=512`,
		"blksize2 is always a power of two, at most -B; in.tftpd skips the rounding when it caps the value at -B"},

	// Not verified yet: fbtftp-go's side is what docs/compatibility.md and
	// the package docs promise; the rows are skipped until the feature
	// lands.
	"non-secure/prefix-sibling": {`DATA 1 len 15`, `ERROR 2 "Forbidden directory"`,
		"directories are compared by whole path components; in.tftpd compares strings, so /srv/tftp lets /srv/tftpX/... through"},
	"non-secure/double-leading-slash": {`ERROR 2 "Forbidden directory"`, `DATA 1 len 512`,
		"empty path components are dropped before the directory comparison; in.tftpd compares the raw string"},
	"non-secure/trailing-dotdot": {`ERROR 0 "Is a directory"`, `ERROR 2 "Reverse path not allowed"`,
		`a trailing "/.." is refused too; in.tftpd only looks for "/../" and opens the parent directory`},
	"non-secure/directory":               {`ERROR 0 "Is a directory"`, `ERROR 2 "Not a regular file"`, diffWhyNotRegular},
	"non-secure/symlink-outside":         {`DATA 1 len 17`, `ERROR 1 "File not found"`, diffWhyLinksInRoot},
	"non-secure/symlink-absolute-inside": {`DATA 1 len 512`, `ERROR 1 "File not found"`, diffWhyLinksInRoot},
	"non-secure/upload-absolute": {`ACK 0`, `ERROR 2 "Permission denied"`,
		"an upload writes a temporary file next to the target and renames it (atomic, nothing half-written), so the -u user must be able to write the directory; in.tftpd writes the world-writable file in place"},
	"upload/readonly-root":            {`ERROR 0 "Permission denied"`, `ERROR 2 "Permission denied"`, diffWhyEACCES},
	"upload-create/existing-readonly": {`ERROR 0 "Permission denied"`, `ERROR 2 "Permission denied"`, diffWhyEACCES},
	"upload-create-umask/new-file": {`ERROR 2 "File must have global write permissions"`, `ERROR 2 "File must have global write permissions"`,
		"with -c -U 022 (no -p) a new file could not be world-writable: both refuse, but in.tftpd first creates it and leaves an empty file behind; fbtftp-go creates nothing"},
	"remap/inverse-abort": {`ERROR 2 "ad name"`, `ERROR 2 "Bad name"`,
		`an "a~" rule's message is sent as written; tftpd-hpa 5.2 builds it around an unset match and drops its first character (internal/remap)`},
}

// diffOpts builds an option list from name, value pairs.
func diffOpts(kv ...string) []proto.Option {
	var o []proto.Option
	for i := 0; i+1 < len(kv); i += 2 {
		o = append(o, proto.Option{Name: kv[i], Value: kv[i+1]})
	}
	return o
}

// The files every root holds (in each of diffGroup.dirs).
var (
	diffFileData   = pattern("file", 3000)
	diffNestedData = pattern("nested", 700)
	diffNetascii   = diffNetasciiText()
	diffLongName   = strings.Repeat("L", 255)
	diffOddName    = "odd\x01\x7f\xff name"
	diffUpload     = pattern("upload", 1300)
)

// diffNetasciiSize is the size of p on the wire in netascii mode (LF ->
// CR LF, CR -> CR NUL).
func diffNetasciiSize(p []byte) int {
	return len(p) + bytes.Count(p, []byte{'\n'}) + bytes.Count(p, []byte{'\r'})
}

func diffNetasciiText() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 2800; i++ {
		fmt.Fprintf(&b, "line %d\nwith crlf %d\r\nbare cr\r.\x00\n", i, i)
	}
	return b.Bytes()
}

// diffWritables is the number of world-writable files (writable-N) in
// each test directory: every upload row has its own.
const diffWritables = 10

// diffFiles are the regular files of a test directory (all 0644 at
// first; diffTree adjusts owners and modes).
func diffFiles() map[string][]byte {
	m := map[string][]byte{
		"file":             diffFileData,
		"empty":            nil,
		"exact512":         pattern("exact512", 512),
		"text":             diffNetascii,
		"dir/nested/file":  diffNestedData,
		"private":          []byte("root only\n"),
		"nobody-private":   []byte("nobody only\n"),
		"readonly":         []byte("read only\n"),
		"nobody-readonly":  []byte("nobody read only\n"),
		diffLongName:       []byte("long name\n"),
		"name with spaces": []byte("spaces\n"),
		diffOddName:        []byte("odd bytes\n"),
		"secret.txt":       []byte("secret\n"),
	}
	for i := 1; i <= diffWritables; i++ {
		m[fmt.Sprintf("writable-%d", i)] = []byte("old content\n")
	}
	return m
}

// diffIDs are user nobody's ids, which both servers run as.
type diffIDs struct{ uid, gid int }

func diffNobody(t *testing.T) diffIDs {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		testenv.Require(t, fmt.Sprintf("user nobody (%v)", err))
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return diffIDs{uid, gid}
}

// diffTree builds one server's root: the files of diffFiles in each of
// dirs, plus a directory, symbolic links in and out of the root, a FIFO,
// files only root or only nobody may read, world-writable files, and, in
// non-secure mode, "ab/file" (a sibling whose name has a listed directory
// as prefix).
func diffTree(t *testing.T, dirs []string, outside string, nobody diffIDs) string {
	t.Helper()
	if len(dirs) == 0 {
		dirs = []string{""}
	}
	files := map[string][]byte{}
	for _, d := range dirs {
		for name, data := range diffFiles() {
			files[path.Join(d, name)] = data
		}
	}
	if len(dirs) > 1 {
		files["ab/file"] = []byte("prefix sibling\n")
	}
	root := testenv.Root(t, files)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dirs {
		dir := filepath.Join(root, d)
		must(os.Chmod(filepath.Join(dir, "private"), 0o600))
		must(os.Chmod(filepath.Join(dir, "nobody-private"), 0o600))
		must(os.Chown(filepath.Join(dir, "nobody-private"), nobody.uid, nobody.gid))
		must(os.Chown(filepath.Join(dir, "nobody-readonly"), nobody.uid, nobody.gid))
		for i := 1; i <= diffWritables; i++ {
			must(os.Chmod(filepath.Join(dir, fmt.Sprintf("writable-%d", i)), 0o666))
		}
		must(os.Symlink("file", filepath.Join(dir, "link")))
		must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "outlink")))
		must(os.Symlink("/file", filepath.Join(dir, "abslink")))
		must(os.Symlink(filepath.Join(dir, "file"), filepath.Join(dir, "abslink-full")))
		must(os.Symlink("../../../../../../../../etc/passwd", filepath.Join(dir, "uplink")))
		must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	}
	return root
}

// diffMapFile is the -m map file: one rule of each kind the tests use.
const diffMapFile = `# fbtftp differential test map (tftpd-hpa 5.2 syntax)
rg	\\		/		# backslashes to slashes, repeatedly
ri	^UPPER/(.*)	dir/\1		# case-insensitive match
e	^file$				# "file" stops here ...
r	^file$		missing		# ... so this never applies
r	^alias$		file
r	^up-(.*)$	writable-\1	# uploads land on a world-writable file
r	^lower/(.*)$	\L\1		# lower-case the rest
a	^secret		Access\ to\ secrets\ denied
a~	^[A-Za-z0-9/._-]+$	Bad\ name	# refuse names with other bytes
`

func diffGroups() []diffGroup {
	rrq := func(name, file string, opts ...string) diffCase {
		return diffCase{name: name, file: file, mode: "octet", opts: diffOpts(opts...)}
	}
	mode := func(name, file, mode string, opts ...string) diffCase {
		return diffCase{name: name, file: file, mode: mode, opts: diffOpts(opts...)}
	}
	wrq := func(name, file string, data []byte, opts ...string) diffCase {
		return diffCase{name: name, op: proto.OpWRQ, file: file, mode: "octet", data: data, opts: diffOpts(opts...)}
	}
	return []diffGroup{
		{
			name: "secure",
			args: []string{"-s", "{root}"},
			cases: []diffCase{
				rrq("plain", "file"),
				rrq("leading-slash", "/file"),
				rrq("nested", "dir/nested/file"),
				rrq("nested-leading-slash", "/dir/nested/file"),
				rrq("double-slash", "dir//nested/file"),
				rrq("dot", "./file"),
				rrq("dotdot-leading", "../file"),
				rrq("dotdot-inner", "dir/../file"),
				rrq("dotdot-absolute", "/../file"),
				rrq("dotdot-escape", "../../../../etc/passwd"),
				rrq("missing", "missing"),
				rrq("missing-nested", "dir/missing"),
				rrq("not-a-directory", "file/sub"),
				rrq("directory", "dir"),
				rrq("private-root", "private"),
				rrq("private-nobody", "nobody-private"),
				rrq("symlink-inside", "link"),
				rrq("symlink-outside", "outlink"),
				rrq("symlink-absolute", "abslink"),
				rrq("symlink-absolute-full", "abslink-full"),
				rrq("symlink-relative-escape", "uplink"),
				rrq("long-name", diffLongName),
				rrq("too-long-name", diffLongName+"L"),
				rrq("too-long-path", strings.Repeat("d/", 2100)+"x"),
				rrq("spaces", "name with spaces"),
				rrq("odd-bytes", diffOddName),
				rrq("trailing-garbage", "file\xff"),
				rrq("empty-filename", ""),
				rrq("fifo", "fifo"),
				rrq("exact-block", "exact512"),
				rrq("empty-file", "empty"),
			},
		},
		{
			name: "modes",
			args: []string{"-s", "{root}"},
			cases: []diffCase{
				mode("octet", "file", "octet"),
				mode("netascii", "text", "netascii"),
				mode("netascii-upper", "text", "NETASCII"),
				mode("octet-mixed", "file", "OcTeT"),
				mode("mail", "file", "mail"),
				mode("garbage", "file", "garbage"),
				mode("empty", "file", ""),
				mode("netascii-blksize", "text", "netascii", "blksize", "1024"),
				mode("missing-file-bad-mode", "missing", "garbage"),
			},
		},
		{
			name: "options",
			args: []string{"-s", "{root}"},
			cases: []diffCase{
				rrq("blksize-8", "file", "blksize", "8"),
				rrq("blksize-512", "file", "blksize", "512"),
				rrq("blksize-1468", "file", "blksize", "1468"),
				rrq("blksize-65464", "file", "blksize", "65464"),
				rrq("blksize-65465", "file", "blksize", "65465"),
				rrq("blksize-7", "file", "blksize", "7"),
				rrq("blksize-abc", "file", "blksize", "abc"),
				rrq("blksize-empty", "file", "blksize", ""),
				rrq("blksize-upper-name", "file", "BLKSIZE", "1024"),
				rrq("blksize2-1000", "file", "blksize2", "1000"),
				rrq("blksize2-65464", "file", "blksize2", "65464"),
				rrq("tsize", "file", "tsize", "0"),
				rrq("tsize-empty", "empty", "tsize", "0"),
				mode("tsize-netascii", "text", "netascii", "tsize", "0"),
				rrq("timeout-0", "file", "timeout", "0"),
				rrq("timeout-1", "file", "timeout", "1"),
				rrq("timeout-255", "file", "timeout", "255"),
				rrq("timeout-256", "file", "timeout", "256"),
				rrq("utimeout-9999", "file", "utimeout", "9999"),
				rrq("utimeout-10000", "file", "utimeout", "10000"),
				rrq("utimeout-255000001", "file", "utimeout", "255000001"),
				rrq("windowsize", "file", "windowsize", "4"),
				rrq("rollover-0", "file", "rollover", "0"),
				rrq("rollover-1", "file", "rollover", "1"),
				rrq("rollover-2", "file", "rollover", "2"),
				rrq("unknown-text", "file", "foo", "bar"),
				rrq("unknown-number", "file", "foo", "1"),
				rrq("unknown-and-known", "file", "foo", "1", "blksize", "1024"),
				rrq("duplicate-blksize", "file", "blksize", "1024", "blksize", "2048"),
				rrq("several-in-order", "file", "tsize", "0", "timeout", "3", "blksize", "1024"),
				rrq("missing-file-bad-option", "missing", "blksize", "7"),
			},
		},
		{
			name: "blocksize-cap",
			args: []string{"-B", "1000", "-s", "{root}"},
			cases: []diffCase{
				rrq("blksize-1468", "file", "blksize", "1468"),
				rrq("blksize-1000", "file", "blksize", "1000"),
				rrq("blksize-8", "file", "blksize", "8"),
				rrq("blksize2-1468", "file", "blksize2", "1468"),
				rrq("blksize2-900", "file", "blksize2", "900"),
			},
		},
		{
			name: "refuse",
			args: []string{"-r", "blksize", "-r", "tsize", "-s", "{root}"},
			cases: []diffCase{
				rrq("blksize", "file", "blksize", "1024"),
				rrq("blksize-bad", "file", "blksize", "7"),
				rrq("tsize", "file", "tsize", "0"),
				rrq("blksize2-allowed", "file", "blksize2", "1024"),
				rrq("timeout-allowed", "file", "blksize", "1024", "timeout", "3", "tsize", "0"),
			},
		},
		{
			name: "permissive",
			args: []string{"-p", "-s", "{root}"},
			cases: []diffCase{
				rrq("private-nobody", "nobody-private"),
				rrq("private-root", "private"),
				rrq("plain", "file"),
				wrq("nobody-readonly", "nobody-readonly", diffUpload),
			},
		},
		{
			name:    "non-secure",
			args:    []string{"{root}/a", "{root}/b"},
			dirs:    []string{"a", "b"},
			feature: "non-secure mode (absolute filenames under the listed directories)",
			probe:   "first-dir",
			cases: []diffCase{
				rrq("first-dir", "{root}/a/file"),
				rrq("second-dir", "{root}/b/dir/nested/file"),
				rrq("relative", "file"),
				rrq("relative-dir", "a/file"),
				rrq("forbidden", "/etc/hostname"),
				rrq("root-itself", "{root}/file"),
				rrq("reverse", "{root}/a/../b/file"),
				rrq("reverse-escape", "{root}/a/../../../etc/passwd"),
				rrq("prefix-sibling", "{root}/ab/file"),
				rrq("double-leading-slash", "/{root}/a/file"),
				rrq("dot-component", "{root}/a/./file"),
				rrq("trailing-dotdot", "{root}/a/dir/.."),
				rrq("missing", "{root}/a/missing"),
				rrq("directory", "{root}/a/dir"),
				rrq("symlink-inside", "{root}/a/link"),
				rrq("symlink-outside", "{root}/a/outlink"),
				rrq("symlink-absolute-inside", "{root}/a/abslink-full"),
				rrq("private-nobody", "{root}/a/nobody-private"),
				wrq("upload-absolute", "{root}/b/writable-1", diffUpload),
				wrq("upload-relative", "writable-1", diffUpload),
				wrq("upload-forbidden", "/tmp/fbtftp-diff-forbidden", diffUpload),
			},
		},
		{
			name:    "remap",
			args:    []string{"-m", "{map}", "-s", "{root}"},
			feature: "remap rules (-m) applied by the worker",
			probe:   "replace",
			cases: []diffCase{
				rrq("untouched", "exact512"),
				rrq("backslashes", `dir\nested\file`),
				rrq("case-insensitive", "UpPeR/nested/file"),
				rrq("end-rule", "file"),
				rrq("replace", "alias"),
				rrq("lower-case", "lower/FILE"),
				rrq("abort-message", "secret.txt"),
				rrq("inverse-abort", "name with spaces"),
				rrq("mapped-to-missing", "UPPER/missing"),
				{name: "upload-mapped", op: proto.OpWRQ, file: "up-2", mode: "octet", data: diffUpload, target: "writable-2"},
			},
		},
		{
			name:    "upload",
			args:    []string{"-s", "{root}"},
			feature: "uploads",
			probe:   "world-writable",
			cases: []diffCase{
				wrq("world-writable", "writable-1", diffUpload),
				wrq("world-writable-blksize", "writable-2", diffUpload, "blksize", "1024"),
				wrq("tsize", "writable-3", diffUpload, "tsize", "1300"),
				wrq("tsize-0", "writable-4", diffUpload, "tsize", "0"),
				wrq("exact-block", "writable-5", pattern("up512", 512)),
				{name: "netascii", op: proto.OpWRQ, file: "writable-6", mode: "netascii", data: []byte("a\r\nb\r\x00c\r\n")},
				wrq("empty", "writable-7", nil),
				wrq("readonly-root", "readonly", diffUpload),
				wrq("readonly-nobody", "nobody-readonly", diffUpload),
				wrq("missing-no-create", "new-file", diffUpload),
				wrq("directory", "dir", diffUpload),
				wrq("dotdot", "dir/../writable-8", diffUpload),
				{name: "bad-mode", op: proto.OpWRQ, file: "writable-9", mode: "mail", data: diffUpload},
			},
		},
		{
			name:    "upload-create",
			args:    []string{"-c", "-s", "{root}"},
			feature: "uploads with -c",
			probe:   "new-file",
			cases: []diffCase{
				wrq("new-file", "new-file", diffUpload),
				wrq("new-file-options", "new-options", diffUpload, "blksize", "1024", "tsize", "1300"),
				wrq("new-in-readonly-dir", "dir/new", diffUpload),
				wrq("new-in-missing-dir", "nodir/new", diffUpload),
				wrq("existing-writable", "writable-1", diffUpload),
				wrq("existing-readonly", "readonly", diffUpload),
			},
		},
		{
			name:    "upload-create-umask",
			args:    []string{"-c", "-U", "022", "-s", "{root}"},
			feature: "uploads with -c -U",
			probe:   "existing-writable",
			cases: []diffCase{
				wrq("new-file", "new-file", diffUpload),
				wrq("existing-writable", "writable-1", diffUpload),
			},
		},
	}
}

// TestDifferential sends the same requests to in.tftpd and to
// fbtftp-master and compares the answers (see the top of this file).
func TestDifferential(t *testing.T) {
	testenv.InTftpd(t) // skips (fails under CI) without a working in.tftpd
	if os.Geteuid() != 0 {
		testenv.Require(t, "root privileges: in.tftpd drops to nobody and chroots, and the test roots need files owned by nobody")
	}
	nobody := diffNobody(t)
	outside := worldReadableDir(t)
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside the root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mapDir := worldReadableDir(t)
	mapFile := filepath.Join(mapDir, "tftpd.map")
	if err := os.WriteFile(mapFile, []byte(diffMapFile), 0o644); err != nil {
		t.Fatal(err)
	}

	groups := diffGroups()
	rows := map[string]bool{}
	for _, g := range groups {
		for _, c := range g.cases {
			key := g.name + "/" + c.name
			if rows[key] {
				t.Fatalf("duplicate row %s", key)
			}
			rows[key] = true
		}
	}
	for key := range diffKnownDifferences {
		if !rows[key] {
			t.Errorf("diffKnownDifferences lists %s, which is no row of the table", key)
		}
	}

	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			rootIn := diffTree(t, g.dirs, outside, nobody)
			rootFb := diffTree(t, g.dirs, outside, nobody)
			expand := func(root string) []string {
				var out []string
				for _, a := range g.args {
					a = strings.ReplaceAll(a, "{root}", root)
					out = append(out, strings.ReplaceAll(a, "{map}", mapFile))
				}
				return out
			}
			fb, err := startDiffMaster(t, expand(rootFb)...)
			if err != nil {
				if g.feature != "" {
					t.Skipf("skipping %d rows: fbtftp-master lacks %s: %v", len(g.cases), g.feature, err)
				}
				t.Fatal(err)
			}
			in := testenv.StartInTftpd(t, expand(rootIn)...)
			skip := ""
			if g.probe != "" {
				i := slices.IndexFunc(g.cases, func(c diffCase) bool { return c.name == g.probe })
				if i < 0 {
					t.Fatalf("probe %q is no row of the group", g.probe)
				}
				a := diffExchange(t, in, rootIn, g.cases[i]).reply.String()
				b := diffExchange(t, fb.addr, rootFb, g.cases[i]).reply.String()
				if a != b {
					skip = fmt.Sprintf("skipping: fbtftp-go lacks %s (probe %s: in.tftpd %s, fbtftp %s)", g.feature, g.probe, a, b)
				}
			}
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					if skip != "" {
						t.Skip(skip)
					}
					t.Parallel()
					a := diffExchange(t, in, rootIn, c)
					b := diffExchange(t, fb.addr, rootFb, c)
					diffCompare(t, g.name+"/"+c.name, c, a, b)
				})
			}
		})
	}
}

// startDiffMaster is startServer without the implied "-s root", for
// non-secure mode: fbtftp-master -L -a 127.0.0.1:0 args... It returns an
// error (with the log) when the master exits at startup, so that a group
// needing a missing feature can be skipped.
func startDiffMaster(t *testing.T, args ...string) (*server, error) {
	t.Helper()
	argv := append([]string{"-L", "-a", "127.0.0.1:0", "--log-format", "json", "--drain-timeout", "5s",
		"--worker", filepath.Join(bin, "fbtftp-worker")}, args...)
	s, err := startMaster(t, argv...)
	if err != nil {
		return nil, fmt.Errorf("fbtftp-master %s: %s", strings.Join(args, " "), diffFirstLine(err.Error()))
	}
	return s, nil
}

func diffFirstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			return l
		}
	}
	return "(no output)"
}

// diffReply is the first packet a server sent back, parsed.
type diffReply struct {
	op      proto.Opcode // 0: no reply
	code    proto.ErrorCode
	msg     string
	opts    []proto.Option
	block   uint16
	payload []byte
	raw     []byte // set when the packet did not parse
}

// String is the reply as the known-differences table writes it.
func (r diffReply) String() string {
	switch {
	case r.raw != nil:
		return fmt.Sprintf("malformed %q", r.raw)
	case r.op == 0:
		return "no reply"
	case r.op == proto.OpERROR:
		return fmt.Sprintf("ERROR %d %q", r.code, r.msg)
	case r.op == proto.OpOACK:
		var b strings.Builder
		b.WriteString("OACK")
		for _, o := range r.opts {
			fmt.Fprintf(&b, " %s=%s", o.Name, o.Value)
		}
		return b.String()
	case r.op == proto.OpDATA:
		return fmt.Sprintf("DATA %d len %d", r.block, len(r.payload))
	case r.op == proto.OpACK:
		return fmt.Sprintf("ACK %d", r.block)
	}
	return r.op.String()
}

// diffFileState is what a file looks like after an upload.
type diffFileState struct {
	exists  bool
	perm    fs.FileMode
	uid     uint32
	content []byte
}

func (f diffFileState) String() string {
	if !f.exists {
		return "absent"
	}
	return fmt.Sprintf("%v uid %d, %d bytes", f.perm, f.uid, len(f.content))
}

func (f diffFileState) equal(g diffFileState) bool {
	return f.exists == g.exists && f.perm == g.perm && f.uid == g.uid && bytes.Equal(f.content, g.content)
}

func diffStat(p string) diffFileState {
	fi, err := os.Lstat(p)
	if err != nil {
		return diffFileState{}
	}
	f := diffFileState{exists: true, perm: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.uid = st.Uid
	}
	if fi.Mode().IsRegular() {
		f.content, _ = os.ReadFile(p)
	}
	return f
}

// diffOutcome is what one server did with one request.
type diffOutcome struct {
	reply   diffReply
	content []byte        // RRQ: the bytes received when the transfer completed
	xferErr error         // the transfer after an accepting first reply failed
	before  diffFileState // WRQ: the target before the request
	file    diffFileState // WRQ: the target afterwards
}

// diffExchange sends c to addr, records the first reply and, when the
// server accepted, completes the transfer on the same session: a download
// is read to its end (ACKing every window), an upload sends c.data. A
// refused or failed transfer is aborted with ERROR 0 so no server keeps
// retransmitting. For a WRQ the target's state afterwards is recorded.
func diffExchange(t *testing.T, addr netip.AddrPort, root string, c diffCase) diffOutcome {
	t.Helper()
	op := cmp.Or(c.op, proto.OpRRQ)
	s, err := client.NewSession(addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out diffOutcome
	target := ""
	if op == proto.OpWRQ {
		target = cmp.Or(c.target, strings.TrimPrefix(c.file, "{root}"))
		if path.IsAbs(target) && !strings.HasPrefix(c.file, "{root}") {
			target = "" // outside every root: nothing to compare
		} else {
			target = filepath.Join(root, filepath.FromSlash(target))
			out.before = diffStat(target)
		}
	}
	if err := s.SendRequest(op, strings.ReplaceAll(c.file, "{root}", root), c.mode, c.opts); err != nil {
		t.Fatal(err)
	}
	p, err := s.RecvPacket(diffReplyTimeout)
	switch {
	case errors.Is(err, client.ErrTimeout):
		// no reply
	case err != nil && p.Raw == nil:
		t.Fatal(err)
	case err != nil:
		out.reply.raw = bytes.Clone(p.Raw)
	default:
		out.reply = diffReply{op: p.Op, code: p.Error.Code, msg: p.Error.Message,
			opts: slices.Clone(p.Options), block: p.Block, payload: bytes.Clone(p.Payload)}
	}
	tid := p.From
	x := diffXfer{s: s, tid: tid, blksize: proto.DefaultBlksize, window: 1}
	if out.reply.op == proto.OpOACK {
		x.params(out.reply.opts)
	}
	switch {
	case op == proto.OpRRQ && (out.reply.op == proto.OpOACK || out.reply.op == proto.OpDATA):
		out.content, out.xferErr = x.read(out.reply)
	case op == proto.OpWRQ && (out.reply.op == proto.OpOACK || out.reply.op == proto.OpACK && out.reply.block == 0):
		out.xferErr = x.write(c.data)
	}
	if out.xferErr != nil {
		s.SendError(tid, proto.ErrUndefined, "differential test: abort")
	}
	if target != "" {
		out.file = diffStat(target)
	}
	return out
}

// diffXfer completes a transfer a server accepted, on the request's
// session: lockstep, or windows when the OACK granted windowsize.
type diffXfer struct {
	s       *client.Session
	tid     netip.AddrPort
	blksize int
	window  int
}

func (x *diffXfer) params(opts []proto.Option) {
	for _, o := range opts {
		v, err := strconv.Atoi(o.Value)
		if err != nil {
			continue
		}
		switch strings.ToLower(o.Name) {
		case proto.OptBlksize, proto.OptBlksize2:
			x.blksize = v
		case proto.OptWindowsize:
			x.window = v
		}
	}
}

// recv returns the next packet from the transfer ID, skipping others.
func (x *diffXfer) recv() (client.Packet, error) {
	deadline := time.Now().Add(diffReplyTimeout)
	for {
		p, err := x.s.RecvPacket(time.Until(deadline))
		if err != nil {
			return p, err
		}
		if p.From != x.tid {
			continue
		}
		if p.Op == proto.OpERROR {
			return p, fmt.Errorf("server sent ERROR %d %q", p.Error.Code, p.Error.Message)
		}
		return p, nil
	}
}

// read receives the file. first is the reply to the RRQ (OACK or DATA 1).
func (x *diffXfer) read(first diffReply) ([]byte, error) {
	content := []byte{}
	next := uint16(1)
	ack := func(n uint16) error { return x.s.SendAck(x.tid, n) }
	block, payload := first.block, first.payload
	if first.op == proto.OpOACK {
		if err := ack(0); err != nil {
			return nil, err
		}
		block, payload = 0, nil
	}
	retries := 0
	for {
		if block == next && next != 0 {
			content = append(content, payload...)
			if len(content) > diffMaxContent {
				return nil, errors.New("download too large")
			}
			last := len(payload) < x.blksize
			if last || int(next)%x.window == 0 {
				if err := ack(next); err != nil {
					return nil, err
				}
			}
			if last {
				return content, nil
			}
			next++
		}
		p, err := x.recv()
		switch {
		case errors.Is(err, client.ErrTimeout) && retries < 2:
			retries++
			if err := ack(next - 1); err != nil {
				return nil, err
			}
			block = 0
			continue
		case err != nil:
			return nil, fmt.Errorf("after %d bytes: %w", len(content), err)
		case p.Op != proto.OpDATA:
			return nil, fmt.Errorf("after %d bytes: got %v, want DATA", len(content), p.Op)
		}
		retries = 0
		block, payload = p.Block, bytes.Clone(p.Payload)
	}
}

// write sends data in blksize blocks (a final short or empty one), a
// window at a time, and waits for the final ACK.
func (x *diffXfer) write(data []byte) error {
	var blocks [][]byte
	for off := 0; ; off += x.blksize {
		end := min(off+x.blksize, len(data))
		blocks = append(blocks, data[off:end])
		if end-off < x.blksize {
			break
		}
	}
	acked, retries := 0, 0
	for acked < len(blocks) {
		last := min(acked+x.window, len(blocks))
		for i := acked; i < last; i++ {
			if err := x.s.SendData(x.tid, uint16(i+1), blocks[i]); err != nil {
				return err
			}
		}
		for {
			p, err := x.recv()
			if errors.Is(err, client.ErrTimeout) && retries < 2 {
				retries++
				break // send the window again
			}
			if err != nil {
				return fmt.Errorf("after block %d: %w", acked, err)
			}
			if p.Op != proto.OpACK {
				return fmt.Errorf("after block %d: got %v, want ACK", acked, p.Op)
			}
			if n := int(p.Block); n > acked && n <= last {
				acked, retries = n, 0
				break
			}
		}
	}
	return nil
}

// diffCompare fails the test unless in.tftpd's outcome a and fbtftp's b
// match, or differ exactly as diffKnownDifferences says.
func diffCompare(t *testing.T, key string, c diffCase, a, b diffOutcome) {
	t.Helper()
	ra, rb := a.reply.String(), b.reply.String()
	t.Logf("ROW %s | in.tftpd: %s | fbtftp: %s", key, ra, rb)
	if k, ok := diffKnownDifferences[key]; ok {
		if ra != k.inTftpd || rb != k.fbtftp {
			t.Errorf("known difference (%s) changed:\n in.tftpd: %s (listed: %s)\n fbtftp:   %s (listed: %s)", k.reason, ra, k.inTftpd, rb, k.fbtftp)
		}
	} else {
		if ra != rb {
			t.Errorf("first reply differs:\n in.tftpd: %s\n fbtftp:   %s", ra, rb)
		}
		if a.reply.op == proto.OpDATA && b.reply.op == proto.OpDATA && !bytes.Equal(a.reply.payload, b.reply.payload) {
			t.Errorf("DATA 1 payload differs:\n in.tftpd: %q\n fbtftp:   %q", diffHead(a.reply.payload), diffHead(b.reply.payload))
		}
	}
	if (a.xferErr != nil) != (b.xferErr != nil) {
		t.Errorf("transfer after the first reply:\n in.tftpd: %v\n fbtftp:   %v", a.xferErr, b.xferErr)
	}
	if a.xferErr == nil && b.xferErr == nil && a.content != nil && b.content != nil && !bytes.Equal(a.content, b.content) {
		t.Errorf("content differs: in.tftpd %d bytes %q..., fbtftp %d bytes %q...", len(a.content), diffHead(a.content), len(b.content), diffHead(b.content))
	}
	if (a.content == nil) != (b.content == nil) && a.xferErr == nil && b.xferErr == nil {
		if _, ok := diffKnownDifferences[key]; !ok {
			t.Errorf("only one server sent the file: in.tftpd %d bytes, fbtftp %d bytes", len(a.content), len(b.content))
		}
	}
	if _, known := diffKnownDifferences[key]; c.op == proto.OpWRQ && !known {
		fa, fb := a.file, b.file
		if a.before.exists && b.before.exists {
			// Not compared: an upload is written to a temporary file
			// renamed over the target (internal/content/upload.go), a new
			// inode owned by the -u user; in.tftpd truncates and rewrites
			// it in place, keeping its owner.
			fb.uid = fa.uid
		}
		if !fa.equal(fb) {
			t.Errorf("file after the upload differs:\n in.tftpd: %v %q\n fbtftp:   %v %q", a.file, diffHead(a.file.content), b.file, diffHead(b.file.content))
		}
	}
}

func diffHead(b []byte) []byte { return b[:min(len(b), 40)] }
