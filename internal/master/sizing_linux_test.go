package master

import (
	"strings"
	"testing"
)

// TestSizeMaxWorkers: the default limit is the smallest of what memory,
// CPUs and the process table allow, and at least MinMaxWorkers; an
// unknown resource is not counted.
func TestSizeMaxWorkers(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		name string
		m    Machine
		want int
		rule string
	}{
		{"this VM: CPUs bind", Machine{MemoryBytes: 24 * gib, CPUs: 2, PIDs: 32768}, 512,
			"512 = min(memory 24.0 GiB / 2 / 4 MiB = 3072, 2 CPUs x 256 = 512, pids 32768 / 2 / 8 = 2048)"},
		{"small container: memory binds", Machine{MemoryBytes: 1 * gib, CPUs: 8, PIDs: 4194304}, 128,
			"128 = min(memory 1.0 GiB / 2 / 4 MiB = 128, 8 CPUs x 256 = 2048, pids 4194304 / 2 / 8 = 262144)"},
		{"pids.max binds", Machine{MemoryBytes: 64 * gib, CPUs: 32, PIDs: 4096}, 256, ""},
		{"tiny: at least the minimum", Machine{MemoryBytes: 64 << 20, CPUs: 1, PIDs: 100}, MinMaxWorkers,
			", at least 16"},
		{"nothing known but the CPUs", Machine{CPUs: 4}, 1024, "1024 = min(4 CPUs x 256 = 1024)"},
		{"no CPU count", Machine{}, 256, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := SizeMaxWorkers(c.m)
			if s.MaxWorkers != c.want {
				t.Fatalf("%d, want %d (%s)", s.MaxWorkers, c.want, s)
			}
			if c.rule != "" && !strings.Contains(s.String(), c.rule) {
				t.Errorf("rule %q, want %q in it", s, c.rule)
			}
		})
	}
}

func TestParseCgroups(t *testing.T) {
	got := parseCgroups([]byte("12:pids:/user.slice\n4:memory:/process_api/x\n3:cpu,cpuacct:/\n0::/system.slice/fbtftp.service\n1:name=systemd:/\nbad\n5:memory:/../etc\n"))
	want := []cgroupFiles{
		{pids: "/sys/fs/cgroup/pids/user.slice/pids.max"},
		{memory: "/sys/fs/cgroup/memory/process_api/x/memory.limit_in_bytes"},
		{memory: "/sys/fs/cgroup/system.slice/fbtftp.service/memory.max", pids: "/sys/fs/cgroup/system.slice/fbtftp.service/pids.max"},
		{memory: "/sys/fs/cgroup/unified/system.slice/fbtftp.service/memory.max", pids: "/sys/fs/cgroup/unified/system.slice/fbtftp.service/pids.max"},
	}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := memTotal([]byte("MemTotal:       24683988 kB\nMemFree: 1 kB\n")); n != 24683988<<10 {
		t.Errorf("memTotal %d", n)
	}
	if n := memTotal([]byte("MemTotal: x kB\n")); n != 0 {
		t.Errorf("memTotal of garbage %d", n)
	}
}

// TestReadMachine: on this machine the readers find memory and a process
// table, and the default is within the rule's bounds.
func TestReadMachine(t *testing.T) {
	m := ReadMachine()
	if m.CPUs < 1 || m.MemoryBytes <= 0 || m.PIDs <= 0 {
		t.Fatalf("%+v", m)
	}
	s := SizeMaxWorkers(m)
	if s.MaxWorkers < MinMaxWorkers || s.MaxWorkers > m.CPUs*WorkersPerCPU {
		t.Fatalf("%s", s)
	}
	t.Logf("%+v: %s", m, s)
}
