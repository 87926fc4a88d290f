package main

import (
	"syscall"
	"time"
)

// sysinfo returns the time since boot and the 1, 5 and 15 minute load
// averages.
func sysinfo() (time.Duration, [3]float64, error) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0, [3]float64{}, err
	}
	const scale = 1 << 16 // SI_LOAD_SHIFT
	load := [3]float64{float64(si.Loads[0]) / scale, float64(si.Loads[1]) / scale, float64(si.Loads[2]) / scale}
	return time.Duration(si.Uptime) * time.Second, load, nil
}
