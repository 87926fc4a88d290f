package sandbox

// applySeccomp installs the filter when s asks for it and this build has
// one, and reports whether it did. It runs last in Apply: after it,
// chroot, setuid and Landlock's calls are refused.
func applySeccomp(s Spec) (bool, error) {
	if !s.Seccomp || !seccompSupported {
		return false, nil
	}
	if err := installSeccomp(s.SeccompLog); err != nil {
		return false, err
	}
	return true, nil
}
