package master

import (
	"fmt"
	"runtime"
)

// The default --max-workers is sized from the machine (SizeMaxWorkers):
// every worker is a process, so the limit that keeps the host up is the
// memory, the CPUs and the process table, not a constant.
const (
	// WorkerMemoryBudget is what one busy worker is counted for, in bytes.
	// Measured here (2026-12-07, load average 25, 300 workers held
	// mid-transfer at blksize 1468): MemAvailable fell by 1.8 MiB per
	// worker, the kernel's part included (slab 94 KiB, page tables 111 KiB,
	// kernel stacks 108 KiB: 6.5 threads each); 1.0 MiB PSS and 4.9 MiB RSS
	// per worker (the static binary's text is shared). 4 MiB is about twice
	// the measured cost: room for bigger windows and block sizes, and for
	// socket buffers filling up.
	WorkerMemoryBudget = 4 << 20
	// WorkerMemoryShare: workers may take 1/WorkerMemoryShare of the
	// memory (the rest is the page cache that serves the files, the HTTP
	// cache, and everything else on the host).
	WorkerMemoryShare = 2
	// WorkersPerCPU bounds the workers per CPU. A session is mostly
	// waiting for the client's ACK (one round trip per block, lockstep),
	// so many share a CPU; what does not share well is starting them (a
	// worker start costs about 1 ms of CPU, 10 ms wall on a loaded 2-vCPU
	// VM): beyond what the CPUs can start and drive, more workers only
	// take memory, and requests are better off waiting in the admission
	// queue, served in order, than all slowing down together.
	WorkersPerCPU = 256
	// ThreadsPerWorker is what a worker is counted for in the process
	// table (pid_max, pids.max): a Go worker ran 6.5 threads on average in
	// the measurement above, each with a pid; a worker counts for 8, and
	// workers may take half the table.
	ThreadsPerWorker = 8
	// MinMaxWorkers is the smallest default (a machine too small for it
	// is too small for the server anyway).
	MinMaxWorkers = 16
)

// Machine is what the default limit is sized from (ReadMachine).
type Machine struct {
	// MemoryBytes is the memory the server may use: the machine's
	// (MemTotal), or its cgroup's limit when lower. 0: unknown.
	MemoryBytes int64
	// CPUs is the CPUs Go schedules on: the affinity mask, or the cgroup's
	// CPU quota when lower (runtime.GOMAXPROCS).
	CPUs int
	// PIDs is the process table: the smallest of kernel.pid_max,
	// kernel.threads-max and the cgroup's pids.max. 0: unknown.
	PIDs int64
}

// ReadMachine reads this machine's Machine.
func ReadMachine() Machine {
	m := readMachine()
	m.CPUs = runtime.GOMAXPROCS(0)
	return m
}

// Sizing is the default limit and how it came about.
type Sizing struct {
	MaxWorkers int
	Machine    Machine
	// ByMemory, ByCPU and ByPIDs are the limit each resource allows (0:
	// unknown, not counted).
	ByMemory, ByCPU, ByPIDs int
}

// String is the rule with its numbers, for logs and --help:
// "512 = min(memory 23.5 GiB / 2 / 4 MiB = 3012, 2 CPUs x 256 = 512, pids 32768 / 2 / 8 = 2048)".
func (s Sizing) String() string {
	b := fmt.Sprintf("%d = min(", s.MaxWorkers)
	if s.ByMemory > 0 {
		b += fmt.Sprintf("memory %.1f GiB / %d / %d MiB = %d, ", float64(s.Machine.MemoryBytes)/(1<<30), WorkerMemoryShare, WorkerMemoryBudget>>20, s.ByMemory)
	}
	b += fmt.Sprintf("%d CPUs x %d = %d", s.Machine.CPUs, WorkersPerCPU, s.ByCPU)
	if s.ByPIDs > 0 {
		b += fmt.Sprintf(", pids %d / 2 / %d = %d", s.Machine.PIDs, ThreadsPerWorker, s.ByPIDs)
	}
	b += ")"
	if s.MaxWorkers == MinMaxWorkers && min(s.ByCPU, nonzero(s.ByMemory), nonzero(s.ByPIDs)) < MinMaxWorkers {
		b += fmt.Sprintf(", at least %d", MinMaxWorkers)
	}
	return b
}

func nonzero(n int) int {
	if n == 0 {
		return int(^uint(0) >> 1)
	}
	return n
}

// SizeMaxWorkers is the default Config.MaxWorkers for machine m: the
// smallest of what its memory (MemoryBytes / WorkerMemoryShare /
// WorkerMemoryBudget), its CPUs (CPUs x WorkersPerCPU) and its process
// table (PIDs / 2 / ThreadsPerWorker) allow, and at least MinMaxWorkers.
// A resource m does not know is not counted.
func SizeMaxWorkers(m Machine) Sizing {
	s := Sizing{Machine: m, ByCPU: max(m.CPUs, 1) * WorkersPerCPU}
	s.Machine.CPUs = max(m.CPUs, 1)
	if m.MemoryBytes > 0 {
		s.ByMemory = int(min(m.MemoryBytes/WorkerMemoryShare/WorkerMemoryBudget, 1<<30))
	}
	if m.PIDs > 0 {
		s.ByPIDs = int(min(m.PIDs/2/ThreadsPerWorker, 1<<30))
	}
	s.MaxWorkers = max(min(s.ByCPU, nonzero(s.ByMemory), nonzero(s.ByPIDs)), MinMaxWorkers)
	return s
}
