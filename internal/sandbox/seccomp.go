package sandbox

// seccomped says whether Apply installed the seccomp filter.
var seccomped bool

// Seccomped reports whether Apply installed the seccomp filter (false when
// not asked, or where this build has none: only linux/amd64 and
// linux/arm64 do).
func Seccomped() bool { return seccomped }

// applySeccomp installs the filter when s asks for it and this build has
// one. It runs last in Apply: after it, chroot, setuid and Landlock's
// calls are refused.
func applySeccomp(s Spec) error {
	if !s.Seccomp || !seccompSupported {
		return nil
	}
	if err := installSeccomp(s.SeccompLog); err != nil {
		return err
	}
	seccomped = true
	return nil
}
