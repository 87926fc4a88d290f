package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/lossnet"
	"github.com/fbtftp-go/fbtftp/internal/proto"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		tmpl string
		want []string
		fail bool
	}{
		{"/bin/srv -L -a 127.0.0.1:{port} -s {root}", []string{"/bin/srv", "-L", "-a", "127.0.0.1:6969", "-s", "/r oot"}, false},
		{"/bin/srv -a {addr}:{port}", []string{"/bin/srv", "-a", "127.0.0.9:6969"}, false},
		{"srv  --prefork 8\t-a '127.0.0.1:{port}'", []string{"srv", "--prefork", "8", "-a", "127.0.0.1:6969"}, false},
		{`srv "--root={root}" a\ b '' "x\"y\\z" 'it''s'`, []string{"srv", "--root=/r oot", "a b", "", `x"y\z`, "its"}, false},
		{`srv "a\n"`, []string{"srv", `a\n`}, false},
		{"srv {port}{port}", []string{"srv", "69696969"}, false},
		{"srv 'open", nil, true},
		{`srv \`, nil, true},
		{"   ", nil, true},
	} {
		got, err := expand(tc.tmpl, netip.MustParseAddr("127.0.0.9"), 6969, "/r oot")
		if tc.fail {
			if err == nil {
				t.Errorf("%q: no error, got %q", tc.tmpl, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func TestParseServerSpec(t *testing.T) {
	s, err := parseServerSpec(" fbtftp = ./bin/fbtftp-master -a 127.0.0.1:{port} -s {root} ")
	if err != nil || s.Name != "fbtftp" || s.Template != "./bin/fbtftp-master -a 127.0.0.1:{port} -s {root}" {
		t.Fatalf("got %+v, %v", s, err)
	}
	for _, bad := range []string{"noequals", "=cmd {port}", "name=", "na me=cmd {port}"} {
		if _, err := parseServerSpec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMedianPercentile(t *testing.T) {
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing")
	}
	xs := []float64{5, 1, 3}
	if median(xs) != 3 || median([]float64{4, 1, 3, 2}) != 2.5 || median([]float64{7}) != 7 {
		t.Error("median")
	}
	if xs[0] != 5 {
		t.Error("median sorted its input")
	}
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 100 * time.Millisecond}, {99, 198 * time.Millisecond}, {100, 200 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 || percentile(d[:1], 99) != time.Millisecond {
		t.Error("percentile edge cases")
	}
	if ms(1500*time.Microsecond) != 1.5 {
		t.Error("ms")
	}
}

const smapsRollup = `5581a4e1e000-7ffc0a5f9000 ---p 00000000 00:00 0                          [rollup]
Rss:                3660 kB
Pss:                 612 kB
Pss_Dirty:           332 kB
Pss_Anon:            332 kB
Pss_File:            280 kB
Pss_Shmem:             0 kB
Shared_Clean:       3084 kB
Private_Dirty:       332 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
`

func TestParsePSS(t *testing.T) {
	if v, err := parsePSS([]byte(smapsRollup)); err != nil || v != 612 {
		t.Fatalf("got %d, %v", v, err)
	}
	two := smapsRollup + "Pss:                  10 kB\n"
	if v, err := parsePSS([]byte(two)); err != nil || v != 622 {
		t.Fatalf("summed: got %d, %v", v, err)
	}
	for _, bad := range []string{"", "Rss: 1 kB\n", "Pss: x kB\n", "Pss: 12 MB\n", "Pss:\n"} {
		if _, err := parsePSS([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// Fields 14..17: utime stime cutime cstime.
	line := "1234 (in.tftpd) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 20 10 20 0 1 0 5 1000 200"
	if got, err := parseStatCPU([]byte(line)); err != nil || got != 40 {
		t.Errorf("got %d, %v; want 40", got, err)
	}
	for _, bad := range []string{"no paren", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a 3 20 10"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseCPUStat(t *testing.T) {
	if d, err := parseCPUStat([]byte("usage_usec 1234567\nuser_usec 1\nsystem_usec 2\n")); err != nil || d != 1234567*time.Microsecond {
		t.Errorf("got %v, %v", d, err)
	}
	for _, bad := range []string{"", "user_usec 1\n", "usage_usec x\n"} {
		if _, err := parseCPUStat([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCPUGroup(t *testing.T) {
	g, err := newCPUGroup("test")
	if err != nil {
		t.Skipf("no cgroup v2 group here: %v (the harness falls back to /proc)", err)
	}
	defer g.remove()
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	g.start(cmd)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if u, err := g.usage(); err != nil || u <= 0 {
		t.Errorf("usage %v, %v: the child's CPU time was not accounted", u, err)
	}
	if n := g.procs(); n != 0 {
		t.Errorf("%d processes left", n)
	}
}

func TestTreeCPUSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	before, n, err := treeCPU(os.Getpid())
	if err != nil || n < 1 {
		t.Fatalf("%v %d %v", before, n, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ {
		if after, _, _ := treeCPU(os.Getpid()); after > before {
			return
		}
		for i := range 1_000_000 {
			x ^= i
		}
	}
	t.Error("the process's CPU time did not grow while it spun")
}

func TestParseStatPPID(t *testing.T) {
	for line, want := range map[string]int{
		"1234 (in.tftpd) S 1 1234 1234 0 -1 4194560": 1,
		"99 (a) b) (c) R 4321 99 99 0":               4321,
	} {
		if got, err := parseStatPPID([]byte(line)); err != nil || got != want {
			t.Errorf("%q: got %d, %v", line, got, err)
		}
	}
	for _, bad := range []string{"no paren", "1 (x)", "1 (x) S zz"} {
		if _, err := parseStatPPID([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseStatThreads(t *testing.T) {
	for line, want := range map[string]int{
		"1234 (in.tftpd) S 1 1234 1234 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 1234": 1,
		"99 (a) b) (c) R 4321 99 99 0 -1 0 0 0 0 0 5 6 7 8 20 0 6 0 99":             6,
	} {
		if got, err := parseStatThreads([]byte(line)); err != nil || got != want {
			t.Errorf("%q: got %d, %v", line, got, err)
		}
	}
	for _, bad := range []string{"no paren", "1 (x) S 1", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 zz"} {
		if _, err := parseStatThreads([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	bin, err := buildEmpty(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := measureFloor(context.Background(), bin, 5)
	if err != nil {
		t.Fatal(err)
	}
	if f.Execs != 5 || f.CPUMedian <= 0 || f.WallMed <= 0 || f.Bytes <= 0 {
		t.Fatalf("%+v", f)
	}
}

func TestDescendants(t *testing.T) {
	ppid := map[int]int{10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
	got := descendants(10, ppid)
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12, 13}) {
		t.Fatalf("got %v", got)
	}
}

func TestTreePSSSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	kib, n, threads, err := treePSS(os.Getpid())
	if err != nil || kib <= 0 || n < 1 || threads < 1 {
		t.Fatalf("got %d KiB over %d processes, %d threads, %v", kib, n, threads, err)
	}
	stop := make(chan struct{})
	close(stop)
	if p := samplePSS(os.Getpid(), time.Millisecond, stop); p.KiB <= 0 || p.Threads < 1 {
		t.Fatalf("sample %+v", p)
	}
}

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	for _, sc := range allScenarios {
		if sc.Name == name {
			return sc
		}
	}
	t.Fatalf("no scenario %s", name)
	return scenario{}
}

func TestSelectScenarios(t *testing.T) {
	if s, err := selectScenarios("all"); err != nil || len(s) != len(allScenarios)-5 || slices.ContainsFunc(s, func(sc scenario) bool { return sc.Kind == kindLossy || sc.Kind == kindStorm }) {
		t.Fatal("all: every scenario but the lossy and storm ones")
	}
	if s, err := selectScenarios("storm"); err != nil || len(s) != 3 || s[0].Kind != kindStorm {
		t.Fatalf("storm: %+v", s)
	}
	if s, err := selectScenarios("lossy,all,storm"); err != nil || len(s) != len(allScenarios) || s[0].Name != allScenarios[0].Name {
		t.Fatal("lossy,all: every scenario, in order")
	}
	if s, err := selectScenarios("lossy"); err != nil || len(s) != 2 || s[0].Loss != 0.01 {
		t.Fatalf("lossy: %+v", s)
	}
	s, err := selectScenarios("small-4K-c1, concurrent-1M-c200")
	if err != nil || len(s) != 2 || s[1].Concurrency != 200 {
		t.Fatalf("got %+v, %v", s, err)
	}
	if _, err := selectScenarios("nope"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
}

func TestSummarize(t *testing.T) {
	lock, win := scenarioNamed(t, "single-100M-b1468"), scenarioNamed(t, "single-100M-b1468-w16")
	cfg := compareConfig{
		Servers:   []serverSpec{{Name: "base"}, {Name: "new", NoWindow: false}},
		Baseline:  "base",
		scenarios: []scenario{lock, win},
	}
	var runs []runRecord
	for rep, v := range []float64{10, 30, 20} {
		runs = append(runs,
			runRecord{Scenario: lock.Name, Server: "base", Rep: rep, Metrics: map[string]float64{mMBPS: v, mCPU: 10}, Load: &loadResult{}},
			runRecord{Scenario: lock.Name, Server: "new", Rep: rep, Metrics: map[string]float64{mMBPS: 2 * v, mCPU: 7}, Load: &loadResult{Failures: 1}},
			runRecord{Scenario: win.Name, Server: "base", Rep: rep, Skipped: "no windowsize support"},
			runRecord{Scenario: win.Name, Server: "new", Rep: rep, Metrics: map[string]float64{mMBPS: v}, Load: &loadResult{}})
	}
	rows := summarize(runs, cfg)
	if len(rows) != 4 {
		t.Fatalf("rows %+v", rows)
	}
	if r := rows[0]; r.Medians["base"] != 20 || r.Medians["new"] != 40 || r.Ratios["new"] != 2 || r.Failures["new"] != 3 {
		t.Fatalf("row %+v", r)
	}
	if r := rows[1]; r.Metric != mCPU || r.Higher || r.Ratios["new"] != 0.7 {
		t.Fatalf("row %+v", r)
	}
	if r := rows[2]; !r.Skipped["base"] || len(r.Ratios) != 0 || r.Medians["new"] != 20 {
		t.Fatalf("row %+v", r)
	}
	var out bytes.Buffer
	printTable(&out, &report{Config: cfg, Summary: rows})
	for _, want := range []string{"new/base", "2.00x", "40 (3 failed)", "n/a"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// The test binary doubles as a tiny lockstep TFTP server (no options, a
// retransmit timer from 20 ms, doubling) for the harness test:
// FBTFTP_BENCH_HELPER=1 test-binary [ADDR] PORT ROOT, or with "inetd" for
// PORT, on the socket of its standard input.
func TestMain(m *testing.M) {
	if os.Getenv("FBTFTP_BENCH_HELPER") == "1" {
		n := len(os.Args)
		addr := "127.0.0.1"
		if a, err := netip.ParseAddr(os.Args[n-3]); err == nil {
			addr = a.String()
		}
		helperServerOn(addr, os.Args[n-2], os.Args[n-1])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperServer(port, root string) { helperServerOn("127.0.0.1", port, root) }

func helperServerOn(addr, port, root string) {
	var l *net.UDPConn
	if port == "inetd" {
		c, err := net.FilePacketConn(os.Stdin)
		if err != nil {
			os.Exit(3)
		}
		l = c.(*net.UDPConn)
	} else {
		p, _ := strconv.Atoi(port)
		var err error
		if l, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr), Port: p}); err != nil {
			os.Exit(3)
		}
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := l.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req, err := proto.ParseRequest(buf[:n])
		if err != nil {
			continue
		}
		go helperSession(req.Filename, root, from)
	}
}

func helperSession(file, root string, peer netip.AddrPort) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if !peer.Addr().IsLoopback() {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{})
	}
	if err != nil {
		return
	}
	defer c.Close()
	data, err := os.ReadFile(filepath.Join(root, filepath.Base(file)))
	if err != nil {
		c.WriteToUDPAddrPort(proto.AppendError(nil, proto.ErrNotFound, ""), peer)
		return
	}
	ack := make([]byte, 16)
	for block := 1; (block-1)*512 <= len(data); block++ {
		lo := (block - 1) * 512
		pkt := proto.AppendData(nil, uint16(block), data[lo:min(lo+512, len(data))])
		for try := 0; ; try++ {
			if try == 10 {
				return
			}
			c.WriteToUDPAddrPort(pkt, peer)
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond << try))
			n, _, err := c.ReadFromUDPAddrPort(ack)
			if err == nil {
				if b, err := proto.ParseAck(ack[:n]); err == nil && b == uint16(block) {
					break
				}
			}
		}
	}
}

func TestCompareWithHelperServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	t.Setenv("FBTFTP_BENCH_HELPER", "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	root := filepath.Join(t.TempDir(), "root")
	var stdout, stderr bytes.Buffer
	args := []string{
		"-server", "one='" + exe + "' {port} {root}",
		"-server", "two='" + exe + "' inetd {root}", // the socket on standard input
		"-baseline", "one", "-nowindow", "one,two", "-reps", "1", "-quick", "-root", root,
		"-scenarios", "small-4K-c1,small-4K-c16,single-100M-b1468-w16",
		"-small-duration", "200ms", "-json", jsonPath, "-floor-execs", "3",
	}
	if err := compareCmd(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	t.Logf("%s", stdout.String())
	var rep report
	b, err := os.ReadFile(jsonPath)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("json: %v", err)
	}
	// Six scenario runs and the floor; four metrics for each small-*
	// scenario, two for the single one.
	if len(rep.Runs) != 7 || len(rep.Summary) != 10 {
		t.Fatalf("%d runs, %d summary rows", len(rep.Runs), len(rep.Summary))
	}
	if rep.Floor == nil || *rep.Floor <= 0 || !strings.Contains(stdout.String(), "floor: ") {
		t.Fatalf("no floor: %v\n%s", rep.Floor, stdout.String())
	}
	for _, r := range rep.Runs {
		if r.Scenario == "small-4K-c1" && (r.Load == nil || r.Load.Sessions == 0 || r.Load.Failures != 0) {
			t.Fatalf("run %+v", r)
		}
	}
	if !strings.Contains(stdout.String(), "two/one") {
		t.Fatalf("table:\n%s", stdout.String())
	}
	// The root with its files stays (given with -root) and is reused.
	if fi, err := os.Stat(filepath.Join(root, fileSmall)); err != nil || fi.Size() != 4096 {
		t.Fatalf("root: %v", err)
	}
}

func TestCompareLossy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	if err := lossnet.Available(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("lossnet unavailable under CI=true: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("skipping: no busybox in PATH")
	}
	t.Setenv("FBTFTP_BENCH_HELPER", "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	args := []string{
		"-server", "one='" + exe + "' {addr} {port} {root}",
		"-reps", "1", "-quick", "-scenarios", "lossy1-20M-b1468-busybox", "-busybox", bb, "-json", jsonPath,
	}
	if err := compareCmd(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	t.Logf("%s", stdout.String())
	var rep report
	b, err := os.ReadFile(jsonPath)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("json: %v", err)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Load == nil || rep.Runs[0].Load.Failures != 0 || rep.Runs[0].Load.Bytes != 1<<20 {
		t.Fatalf("runs %+v", rep.Runs)
	}
	if m := rep.Runs[0].Metrics; !(m[mSeconds] > 0) || !(m[mLost] > 0) {
		t.Errorf("metrics %v: a 1%% lossy link lost nothing?", m)
	}
	// A server that cannot listen on the link's address is refused.
	args = []string{"-server", "one='" + exe + "' {port} {root}", "-reps", "1", "-quick", "-scenarios", "lossy1-20M-b1468-busybox"}
	if err := compareCmd(context.Background(), args, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "{addr}") {
		t.Errorf("no {addr}: %v", err)
	}
}

func TestCompareErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-server", "bad"},
		{"-server", "a=x {port}", "-server", "a=y {port}"},
		{"-server", "a=x {port}", "-baseline", "b"},
		{"-server", "a=x {port}", "-nowindow", "b"},
		{"-server", "a=x {port}", "-scenarios", "nope"},
		{"-server", "a=x {port}", "-reps", "0"},
		{"-server", "a=/nonexistent/server {port}", "-scenarios", "small-4K-c1", "-root", t.TempDir()},
	} {
		var out, errb bytes.Buffer
		if err := compareCmd(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestLoadCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f"), bytes.Repeat([]byte("x"), 3000), 0o644)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	go helperServer(strconv.Itoa(port), root)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var out, errb bytes.Buffer
	// sha256 of 3000 'x'.
	args := []string{"-server", addr, "-file", "f", "-n", "20", "-c", "4", "-size", "3000"}
	if code := run(context.Background(), append([]string{"load"}, args...), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res loadResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Sessions != 20 || res.Failures != 0 || res.Bytes != 60000 {
		t.Fatalf("result %s, %v", out.String(), err)
	}
	out.Reset()
	bad := []string{"load", "-server", addr, "-file", "f", "-n", "2", "-sha256", strings.Repeat("00", 32)}
	if code := run(context.Background(), bad, &out, &errb); code != 1 || !strings.Contains(out.String(), "sha256 mismatch") {
		t.Fatalf("sha256 mismatch: exit %d, %s", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"load", "-server", addr, "-file", "missing", "-n", "1"}, &out, &errb); code != 1 {
		t.Fatalf("missing file: exit %d", code)
	}
	for _, a := range [][]string{{"load"}, {"load", "-server", "x", "-file", "f"}, {"load", "-server", addr, "-file", "f", "-sha256", "zz"}, {"nope"}, {}} {
		if code := run(context.Background(), a, &out, &errb); code == 0 {
			t.Errorf("%q: exit 0", a)
		}
	}
	if code := run(context.Background(), []string{"help"}, &out, &errb); code != 0 {
		t.Error("help")
	}
	if key := errorKey(errors.New("boom")); key != "boom" {
		t.Error(key)
	}
}
