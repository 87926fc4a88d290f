package main

import (
	"os"
	"strconv"
	"testing"
)

func TestListenFDs(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	cases := []struct {
		pid, fds string
		want     int
	}{
		{pid, "2", 2},
		{pid, "0", 0},
		{pid, "x", 0},
		{"1", "1", 0}, // meant for another process
		{"", "1", 0},
	}
	for _, c := range cases {
		t.Setenv(envListenPID, c.pid)
		t.Setenv(envListenFDs, c.fds)
		t.Setenv(envListenNames, "tftp")
		if got := listenFDs(); got != c.want {
			t.Errorf("LISTEN_PID=%s LISTEN_FDS=%s: %d, want %d", c.pid, c.fds, got, c.want)
		}
		for _, v := range []string{envListenPID, envListenFDs, envListenNames} {
			if _, ok := os.LookupEnv(v); ok {
				t.Errorf("%s still set", v)
			}
		}
	}
}
