package getopt

import (
	"fmt"
	"strings"
)

// Option describes one option. Short is 0 for a long-only option; Long is
// "" for a short-only one. With HasArg the option takes an argument.
type Option struct {
	Short  byte
	Long   string
	HasArg bool
	// Set is called for every occurrence, with the argument (or "").
	// The name is how the user spelled the option, for messages.
	Set func(name, arg string) error
}

// Error is a usage error: unknown option, missing argument, bad value.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Parse processes args (without the program name) and returns the operands.
func Parse(opts []Option, args []string) ([]string, error) {
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(operands, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, arg, hasEq := strings.Cut(a[2:], "=")
			o, err := findLong(opts, name)
			if err != nil {
				return nil, err
			}
			switch {
			case o.HasArg && !hasEq:
				if i+1 >= len(args) {
					return nil, &Error{fmt.Sprintf("option '--%s' requires an argument", o.Long)}
				}
				i++
				arg = args[i]
			case !o.HasArg && hasEq:
				return nil, &Error{fmt.Sprintf("option '--%s' doesn't allow an argument", o.Long)}
			}
			if err := call(o, "--"+o.Long, arg); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				o := findShort(opts, a[j])
				if o == nil {
					return nil, &Error{fmt.Sprintf("invalid option -- '%c'", a[j])}
				}
				if !o.HasArg {
					if err := call(o, "-"+string(a[j]), ""); err != nil {
						return nil, err
					}
					continue
				}
				arg := a[j+1:]
				if arg == "" {
					if i+1 >= len(args) {
						return nil, &Error{fmt.Sprintf("option requires an argument -- '%c'", a[j])}
					}
					i++
					arg = args[i]
				}
				if err := call(o, "-"+string(a[j]), arg); err != nil {
					return nil, err
				}
				break
			}
		default:
			operands = append(operands, a)
		}
	}
	return operands, nil
}

func call(o *Option, name, arg string) error {
	if err := o.Set(name, arg); err != nil {
		return &Error{fmt.Sprintf("option '%s': %v", name, err)}
	}
	return nil
}

func findShort(opts []Option, c byte) *Option {
	for i := range opts {
		if opts[i].Short == c && c != 0 {
			return &opts[i]
		}
	}
	return nil
}

// findLong finds an exact match, else a unique prefix match.
func findLong(opts []Option, name string) (*Option, error) {
	var match *Option
	n := 0
	for i := range opts {
		if opts[i].Long == "" {
			continue
		}
		if opts[i].Long == name {
			return &opts[i], nil
		}
		if name != "" && strings.HasPrefix(opts[i].Long, name) {
			if match == nil || match.Set == nil || !sameOption(match, &opts[i]) {
				n++
			}
			match = &opts[i]
		}
	}
	switch {
	case n == 1:
		return match, nil
	case n > 1:
		return nil, &Error{fmt.Sprintf("option '--%s' is ambiguous", name)}
	}
	return nil, &Error{fmt.Sprintf("unrecognized option '--%s'", name)}
}

// sameOption reports aliases: two spellings sharing the same short letter.
func sameOption(a, b *Option) bool { return a.Short != 0 && a.Short == b.Short }
