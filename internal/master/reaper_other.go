//go:build !linux

package master

import "go.uber.org/zap"

// orphanReaper does nothing outside Linux (no child subreapers).
type orphanReaper struct{}

func newOrphanReaper(bool, *zap.Logger) *orphanReaper { return &orphanReaper{} }

func (r *orphanReaper) run()                     {}
func (r *orphanReaper) stop()                    {}
func (r *orphanReaper) start(startFn func() int) { startFn() }
func (r *orphanReaper) forget(int)               {}

// StartChild runs start (there is no orphan reaper outside Linux).
func StartChild(start func() int) { start() }

// ChildDone does nothing outside Linux.
func ChildDone(int) {}
