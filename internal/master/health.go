package master

// Accepting reports whether the master is serving requests: its listeners
// run and it is not draining. /healthz answers from it.
func (m *Master) Accepting() bool {
	select {
	case <-m.started:
	default:
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.draining
}
