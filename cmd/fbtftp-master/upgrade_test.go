package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRemovePidFile: a master removes the pid file only while it names
// it; after an upgrade it names the new master, which keeps it.
func TestRemovePidFile(t *testing.T) {
	for _, tc := range []struct {
		content string
		removed bool
	}{
		{strconv.Itoa(os.Getpid()) + "\n", true},
		{strconv.Itoa(os.Getpid()), true},
		{strconv.Itoa(os.Getpid()+1) + "\n", false},
		{"", false},
	} {
		p := filepath.Join(t.TempDir(), "pid")
		os.WriteFile(p, []byte(tc.content), 0o644)
		removePidFile(p)
		if _, err := os.Stat(p); os.IsNotExist(err) != tc.removed {
			t.Errorf("pid file %q: removed=%v, want %v", tc.content, os.IsNotExist(err), tc.removed)
		}
	}
}
