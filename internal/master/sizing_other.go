//go:build !linux

package master

// readMachine knows nothing beyond Linux: the CPUs alone size the default.
func readMachine() Machine { return Machine{} }
