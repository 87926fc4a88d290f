package origin

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The helper process: a stand-in for a worker that downloads one object
// through the shared cache. It prints "waiting" when it finds the entry
// locked by another process, then "done <bytes> <sha256>".
const (
	helperURL = "FBTFTP_ORIGIN_HELPER_URL"
	helperDir = "FBTFTP_ORIGIN_HELPER_DIR"
)

func TestHelperProcess(t *testing.T) {
	url := os.Getenv(helperURL)
	if url == "" {
		t.Skip("helper process for TestCacheProcesses")
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	c := &Client{Cache: &Cache{Dir: os.Getenv(helperDir)}}
	c.Cache.onWait = func() { say("waiting") }
	body, err := c.Open(t.Context(), url)
	if err != nil {
		say("error %v", err)
		os.Exit(1)
	}
	h := sha256.New()
	n, err := io.Copy(h, body)
	body.Close()
	if err != nil {
		say("error %v", err)
		os.Exit(1)
	}
	c.Wait(t.Context())
	say("done %d %s", n, hex.EncodeToString(h.Sum(nil)))
	os.Exit(0)
}

// TestCacheProcesses runs several worker-like processes that open one
// object at once through one cache directory: the origin sees one request.
func TestCacheProcesses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("cross-process locking needs flock (Linux)")
	}
	const procs = 6
	data := payload(3 << 20)
	sum := sha256.Sum256(data)
	want := fmt.Sprintf("done %d %s", len(data), hex.EncodeToString(sum[:]))

	waiting := make(chan struct{}, procs)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		// Hold the answer until every other process waits on the lock.
		for range procs - 1 {
			select {
			case <-waiting:
			case <-time.After(30 * time.Second):
				t.Error("the other processes did not wait for the lock")
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range procs {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperURL+"="+o.URL+"/initrd", helperDir+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			var last string
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				switch line := sc.Text(); {
				case line == "waiting":
					waiting <- struct{}{}
				case strings.HasPrefix(line, "done "), strings.HasPrefix(line, "error "):
					last = line
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("process %d: %v (%s)", i, err, last)
			}
			if last != want {
				t.Errorf("process %d: %q, want %q", i, last, want)
			}
		})
	}
	wg.Wait()
	if got := o.requests.Load(); got != 1 {
		t.Errorf("%d origin requests for %d processes, want 1", got, procs)
	}
}
