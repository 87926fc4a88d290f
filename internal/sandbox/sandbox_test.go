package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestEnvRoundTrip(t *testing.T) {
	for _, s := range []Spec{
		{},
		{Chroot: "/srv/tftp"},
		{Chroot: "/srv/tftp", Drop: true, UID: 65534, GID: 65534},
		{Drop: true, UID: 100, GID: 101, Groups: []int{5, 6}},
	} {
		env := map[string]string{}
		for _, kv := range s.Env() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		got, err := FromEnv(func(k string) string { return env[k] })
		if err != nil || !reflect.DeepEqual(got, s) {
			t.Errorf("round trip %+v -> %+v %v", s, got, err)
		}
	}
	for _, bad := range []map[string]string{
		{EnvUID: "x", EnvGID: "1"},
		{EnvUID: "-1", EnvGID: "1"},
		{EnvUID: "1", EnvGID: "1", EnvGroups: "a"},
	} {
		if _, err := FromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

func TestForUser(t *testing.T) {
	s, ok, err := ForUser("nobody", "/x")
	if os.Geteuid() != 0 {
		if ok || err != nil {
			t.Fatalf("unprivileged: %+v %v %v", s, ok, err)
		}
		return
	}
	if err != nil || !ok || !s.Drop || s.UID != 65534 || s.Chroot != "/x" {
		t.Fatalf("%+v %v %v", s, ok, err)
	}
	if s2, _, err := ForUser("65534", ""); err != nil || s2.UID != 65534 {
		t.Fatalf("numeric: %+v %v", s2, err)
	}
	if _, _, err := ForUser("no-such-user-fbtftp", ""); err == nil {
		t.Fatal("unknown user accepted")
	}
}

// TestApply runs this test binary as a helper process that confines itself
// and waits; the test reads the helper's /proc entry.
func TestApply(t *testing.T) {
	if os.Getenv("FBTFTP_SANDBOX_HELPER") == "1" {
		// no_new_privs is a per-thread flag. Release binaries (no cgo)
		// set it on every thread; a test binary built with cgo (-race)
		// sets it on the calling thread only: report that thread.
		runtime.LockOSThread()
		s, err := FromEnv(os.Getenv)
		if err == nil {
			_, err = Apply(s)
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("ready %d\n", syscall.Gettid())
		io.Copy(io.Discard, os.Stdin) // wait for the parent
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot and drop privileges")
	}
	root := t.TempDir()
	spec := Spec{Chroot: root, Drop: true, UID: 65534, GID: 65533, Groups: []int{65532}}
	cmd := exec.Command(os.Args[0], "-test.run=^TestApply$")
	cmd.Env = append(os.Environ(), append(spec.Env(), "FBTFTP_SANDBOX_HELPER=1")...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	var tid int
	if _, err := fmt.Sscanf(line, "ready %d\n", &tid); err != nil {
		t.Fatalf("helper said %q", line)
	}
	proc := filepath.Join("/proc", fmt.Sprint(cmd.Process.Pid))
	link, err := os.Readlink(filepath.Join(proc, "root"))
	if err != nil || link != root {
		t.Errorf("root link %q %v, want %q", link, err, root)
	}
	status, err := os.ReadFile(filepath.Join(proc, "task", fmt.Sprint(tid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65533\t65533\t65533\t65533", "Groups:\t65532", "NoNewPrivs:\t1"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
}

func TestForExec(t *testing.T) {
	for _, c := range []struct {
		name        string
		in          Spec
		ok          bool
		read, write []string
	}{
		{"nothing to apply", Spec{Landlock: true, FSRead: []string{"/srv/tftp"}}, false, nil, nil},
		{"chroot: paths in its view", Spec{Chroot: "/srv/tftp", Drop: true, Landlock: true,
			FSRead: []string{"/srv/tftp"}, FSWrite: []string{"/srv/tftp/up"}}, true, []string{"/"}, []string{"/up"}},
		{"a path outside the root", Spec{Chroot: "/srv/tftp", Drop: true, Landlock: true,
			FSRead: []string{"/srv/tftp"}, FSWrite: []string{"/var/cache/x"}}, false, nil, nil},
		{"a sibling with the root's prefix", Spec{Chroot: "/srv/tftp", Landlock: true,
			FSRead: []string{"/srv/tftp2"}}, false, nil, nil},
		{"user only: paths unchanged", Spec{Drop: true, UID: 65534, Landlock: true,
			FSRead: []string{"/a", "/b"}}, true, []string{"/a", "/b"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.in.ForExec()
			if ok != c.ok {
				t.Fatalf("ok %v, want %v", ok, c.ok)
			}
			if !ok {
				if got.AtExec {
					t.Fatal("AtExec set on a refused spec")
				}
				return
			}
			if !got.AtExec || !slices.Equal(got.FSRead, c.read) || !slices.Equal(got.FSWrite, c.write) {
				t.Fatalf("got %+v", got)
			}
			// It travels to the worker.
			env := map[string]string{}
			for _, kv := range got.Env() {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			back, err := FromEnv(func(k string) string { return env[k] })
			if err != nil || !back.AtExec || !slices.Equal(back.FSRead, c.read) {
				t.Fatalf("from env: %+v %v", back, err)
			}
		})
	}
}
