package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// envReadyFD tells a process started by daemonize which descriptor to
// report readiness on. It is removed from the environment at once.
const envReadyFD = "FBTFTP_DAEMON_READY_FD"

// daemonize is -l: in.tftpd calls daemon(3) once its sockets are bound. Go
// cannot fork, so the process starts itself again, detached (new session,
// standard input and output on /dev/null), and waits on a pipe: the
// child writes one byte once it serves (sockets bound, pid file written),
// and this process exits 0. If the child exits first, its status is
// returned: its error went to the standard error both share until then.
func daemonize(args []string) int {
	exe, err := selfPath()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot daemonize: %v\n", filepath.Base(os.Args[0]), err)
		return exOSErr
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot daemonize: %v\n", filepath.Base(os.Args[0]), err)
		return exOSErr
	}
	defer pr.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		pw.Close()
		fmt.Fprintf(os.Stderr, "%s: cannot daemonize: %v\n", filepath.Base(os.Args[0]), err)
		return exOSErr
	}
	defer null.Close()
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = os.Args[0] // the same name in logs and /proc
	cmd.Env = append(os.Environ(), envReadyFD+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, os.Stderr
	cmd.ExtraFiles = []*os.File{pw} // fd 3 in the child
	cmd.SysProcAttr = detachedAttr()
	err = cmd.Start()
	pw.Close() // the child has its copy: EOF means it exited
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot daemonize: %v\n", filepath.Base(os.Args[0]), err)
		return exOSErr
	}
	var b [1]byte
	if n, _ := pr.Read(b[:]); n == 1 {
		return 0 // serving; it is init's child from now on
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return ee.ExitCode()
	}
	return 1
}

// selfPath is the file to start again: the name this process was started
// by when it leads to the same binary, so that a master installed as a
// symbolic link /usr/sbin/in.tftpd is still called in.tftpd in
// /proc/PID/comm (init scripts find it with start-stop-daemon --name);
// else the binary itself.
func selfPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	a0 := os.Args[0]
	if !strings.Contains(a0, "/") {
		if a0, err = exec.LookPath(a0); err != nil {
			return exe, nil
		}
	}
	a0, err = filepath.Abs(a0)
	if err != nil {
		return exe, nil
	}
	s1, err1 := os.Stat(a0)
	s2, err2 := os.Stat(exe)
	if err1 == nil && err2 == nil && os.SameFile(s1, s2) {
		return a0, nil
	}
	return exe, nil
}

// readiness is the daemonized child's side of the pipe; nil when this
// process was not started by daemonize.
type readiness struct{ f *os.File }

// takeReadiness picks up the descriptor daemonize passed, if any.
func takeReadiness() *readiness {
	v, ok := os.LookupEnv(envReadyFD)
	if !ok {
		return nil
	}
	os.Unsetenv(envReadyFD)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "daemon-ready")
	if f == nil {
		return nil
	}
	return &readiness{f: f}
}

// done tells the waiting parent that the server is up.
func (r *readiness) done() {
	if r == nil {
		return
	}
	r.f.Write([]byte{1})
	r.f.Close()
}

// writePidFile writes pid and a newline to path, as in.tftpd does.
func writePidFile(path string) error {
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}
