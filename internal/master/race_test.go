//go:build race

package master_test

// raceEnabled: the test binary, which doubles as the worker, is built with
// -race.
const raceEnabled = true
