package upgrade

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Program is how the running program was started, recorded while that is
// still true (before a daemon changes directory): what Self starts again.
type Program struct {
	Dir   string // the working directory
	Argv0 string // os.Args[0], made absolute when it names a file
}

// Here records the program: the working directory and os.Args[0] (found
// in PATH, or made absolute against the directory, when it has no slash).
func Here() Program {
	p := Program{Argv0: os.Args[0]}
	p.Dir, _ = os.Getwd()
	a0 := p.Argv0
	if !strings.Contains(a0, "/") {
		if lp, err := exec.LookPath(a0); err == nil {
			a0 = lp
		} else {
			return p
		}
	}
	if !filepath.IsAbs(a0) && p.Dir != "" {
		a0 = filepath.Join(p.Dir, a0)
	}
	p.Argv0 = filepath.Clean(a0)
	return p
}

// Self is the file to start: the binary this process runs, at its path
// now (os.Executable: when a package upgrade has replaced the file, the
// new one), or Argv0 when that leads to the same file, so that a program
// installed as a symbolic link (/usr/sbin/in.tftpd) keeps its name in
// /proc/PID/comm, which init scripts match.
func (p Program) Self() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(p.Argv0) {
		return exe, nil
	}
	s1, err1 := os.Stat(p.Argv0)
	s2, err2 := os.Stat(exe)
	if err1 == nil && err2 == nil && os.SameFile(s1, s2) {
		return p.Argv0, nil
	}
	return exe, nil
}
