package master

import (
	"testing"
	"time"
)

// TestRefusalLimiter: a burst per window and reason, then silence; the
// next line says how many were dropped; reasons are limited separately.
func TestRefusalLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &refusalLimiter{now: func() time.Time { return now }}
	logged := 0
	for range 1000 {
		if ok, _ := l.allow(refusedBusy); ok {
			logged++
		}
	}
	if logged != refusalBurst {
		t.Fatalf("%d lines for 1000 refusals in one window, want %d", logged, refusalBurst)
	}
	if ok, n := l.allow(refusedUnknownMode); !ok || n != 0 {
		t.Fatalf("another reason shares the budget: %v %d", ok, n)
	}
	now = now.Add(refusalWindow)
	ok, n := l.allow(refusedBusy)
	if !ok || n != 1000-refusalBurst {
		t.Fatalf("next window: %v, suppressed %d, want %d", ok, n, 1000-refusalBurst)
	}
	if ok, n := l.allow(refusedBusy); !ok || n != 0 {
		t.Fatalf("the count is reported once: %v %d", ok, n)
	}
	// A whole window of drops then a quiet one: still reported.
	for range 100 {
		l.allow(refusedBusy)
	}
	now = now.Add(3 * refusalWindow)
	if ok, n := l.allow(refusedBusy); !ok || n != 100-(refusalBurst-2) {
		t.Fatalf("after a quiet window: %v %d, want %d", ok, n, 100-(refusalBurst-2))
	}
}
