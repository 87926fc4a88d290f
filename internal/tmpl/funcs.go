package tmpl

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"text/template"
)

// MaxSeq is the longest list seq makes.
const MaxSeq = 65536

// maxFormatNumber bounds the widths, precisions and argument indexes in a
// printf format.
const maxFormatNumber = 1000

// Funcs returns the helper functions of Render, whose string results are
// limited to maxSize bytes:
//
//	lower S, upper S, trim S        case and white space
//	replace OLD NEW S               every OLD in S replaced by NEW
//	split SEP S                     S cut at each SEP, a list of strings
//	join SEP LIST                   LIST's elements (any type) joined by SEP; a string is a list of one, "" of none
//	contains SUB S, hasPrefix P S, hasSuffix X S
//	default DEF V                   V, or DEF when V is empty (nil, "", 0, false, empty list or map)
//	has MAP KEY                     whether MAP has KEY
//	get MAP KEY [DEF]               MAP[KEY], or DEF (or "") when missing
//	hex V                           an integer in lower-case hex, or a string's bytes in hex
//	iphex IP                        pxelinux's upper-case hex form of an IP address
//	macsep SEP MAC                  a MAC in lower case with SEP between bytes
//	seq [FIRST] LAST                the integers FIRST (default 1) to LAST, like seq(1); at most MaxSeq
//
// They take their subject last, so they work in pipelines:
// {{.Hostname | upper}}, {{get .Values "disks" | join ","}}. print,
// printf, println, html, js and urlquery keep their text/template meaning
// with the size limit applied.
func Funcs(maxSize int64) template.FuncMap {
	check := func(s string) (string, error) {
		if int64(len(s)) > maxSize {
			return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
		}
		return s, nil
	}
	return template.FuncMap{
		"lower": strings.ToLower,
		"upper": strings.ToUpper,
		"trim":  strings.TrimSpace,
		"replace": func(old, new, s string) (string, error) {
			n := strings.Count(s, old)
			if int64(len(s))+int64(n)*(int64(len(new))-int64(len(old))) > maxSize {
				return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
			}
			return strings.ReplaceAll(s, old, new), nil
		},
		"split": func(sep, s string) []string { return strings.Split(s, sep) },
		"join": func(sep string, list any) (string, error) {
			items, err := listOf(list)
			if err != nil {
				return "", err
			}
			var b strings.Builder
			for i, it := range items {
				if i > 0 {
					b.WriteString(sep)
				}
				fmt.Fprint(&b, it)
				if int64(b.Len()) > maxSize {
					return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
				}
			}
			return b.String(), nil
		},
		"contains":  func(sub, s string) bool { return strings.Contains(s, sub) },
		"hasPrefix": func(p, s string) bool { return strings.HasPrefix(s, p) },
		"hasSuffix": func(x, s string) bool { return strings.HasSuffix(s, x) },
		"default":   dflt,
		"has":       has,
		"get":       get,
		"hex":       hexOf,
		"iphex": func(ip string) (string, error) {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return "", err
			}
			return IPHex(a), nil
		},
		"macsep": func(sep, mac string) (string, error) {
			hw, ok := parseMAC(mac)
			if !ok {
				return "", fmt.Errorf("%q is not a 6-byte MAC address", mac)
			}
			return strings.ReplaceAll(hw.String(), ":", sep), nil
		},
		"seq": seq,
		"printf": func(format string, args ...any) (string, error) {
			if err := checkFormat(format); err != nil {
				return "", err
			}
			if int64(len(format))+argsSize(args) > maxSize {
				return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
			}
			return check(fmt.Sprintf(format, args...))
		},
		"print": func(args ...any) (string, error) {
			if argsSize(args) > maxSize {
				return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
			}
			return check(fmt.Sprint(args...))
		},
		"println": func(args ...any) (string, error) {
			if argsSize(args) > maxSize {
				return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
			}
			return check(fmt.Sprintln(args...))
		},
		"html":     func(args ...any) (string, error) { return escape(maxSize, template.HTMLEscaper, args) },
		"js":       func(args ...any) (string, error) { return escape(maxSize, template.JSEscaper, args) },
		"urlquery": func(args ...any) (string, error) { return escape(maxSize, template.URLQueryEscaper, args) },
	}
}

// escape applies a text/template escaper to args of at most maxSize bytes
// and checks its (at most 10 times larger) result.
func escape(maxSize int64, f func(...any) string, args []any) (string, error) {
	if argsSize(args) > maxSize {
		return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
	}
	s := f(args...)
	if int64(len(s)) > maxSize {
		return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, maxSize)
	}
	return s, nil
}

// argsSize is the length of the string arguments, the ones that helpers
// could have made large.
func argsSize(args []any) int64 {
	var n int64
	for _, a := range args {
		switch a := a.(type) {
		case string:
			n += int64(len(a))
		case []byte:
			n += int64(len(a))
		}
	}
	return n
}

// checkFormat refuses printf formats that make output out of nothing: '*'
// widths and numbers (widths, precisions, argument indexes) over
// maxFormatNumber.
func checkFormat(f string) error {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		for i++; i < len(f) && strings.IndexByte("+-# 0123456789.[]*", f[i]) >= 0; i++ {
			switch {
			case f[i] == '*':
				return errors.New("printf: '*' is not allowed")
			case f[i] >= '1' && f[i] <= '9':
				j := i
				for j < len(f) && f[j] >= '0' && f[j] <= '9' {
					j++
				}
				if n, err := strconv.Atoi(f[i:j]); err != nil || n > maxFormatNumber {
					return fmt.Errorf("printf: %s is over %d", f[i:j], maxFormatNumber)
				}
				i = j - 1
			}
		}
	}
	return nil
}

// listOf returns the elements of a slice or array.
func listOf(list any) ([]any, error) {
	switch l := list.(type) {
	case []any:
		return l, nil
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, nil
	case nil:
		return nil, nil
	case string:
		// What get returns for a missing key: nothing; or a single item.
		if l == "" {
			return nil, nil
		}
		return []any{l}, nil
	}
	v := reflect.ValueOf(list)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return nil, fmt.Errorf("join: %T is not a list", list)
	}
	out := make([]any, v.Len())
	for i := range out {
		out[i] = v.Index(i).Interface()
	}
	return out, nil
}

// dflt returns v, or def when v is empty.
func dflt(def, v any) any {
	if empty(v) {
		return def
	}
	return v
}

func empty(v any) bool {
	if v == nil {
		return true
	}
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		return err == nil && f == 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return rv.IsZero()
}

func has(m map[string]any, key string) bool {
	_, ok := m[key]
	return ok
}

func get(m map[string]any, key string, def ...any) (any, error) {
	if len(def) > 1 {
		return nil, errors.New("get: at most one default")
	}
	if v, ok := m[key]; ok {
		return v, nil
	}
	if len(def) == 1 {
		return def[0], nil
	}
	return "", nil
}

// hexOf formats an integer in lower-case hex, or a string's bytes.
func hexOf(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return hex.EncodeToString([]byte(v)), nil
	case []byte:
		return hex.EncodeToString(v), nil
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return "", fmt.Errorf("hex: %s is not an integer", v)
		}
		return strconv.FormatInt(n, 16), nil
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return strconv.FormatInt(rv.Int(), 16), nil
	case rv.CanUint():
		return strconv.FormatUint(rv.Uint(), 16), nil
	}
	return "", fmt.Errorf("hex: %T is neither an integer nor a string", v)
}

// seq returns FIRST..LAST (FIRST 1 when only LAST is given), counting down
// when LAST < FIRST, at most MaxSeq numbers.
func seq(args ...any) ([]int, error) {
	var nums []int
	for _, a := range args {
		n, err := intOf(a)
		if err != nil {
			return nil, fmt.Errorf("seq: %w", err)
		}
		nums = append(nums, n)
	}
	first, last := 1, 0
	switch len(nums) {
	case 1:
		last = nums[0]
		if last < 1 {
			return nil, nil
		}
	case 2:
		first, last = nums[0], nums[1]
	default:
		return nil, errors.New("seq: want [FIRST] LAST")
	}
	// The distance, computed without overflow.
	step, d := 1, uint64(last)-uint64(first)
	if last < first {
		step, d = -1, uint64(first)-uint64(last)
	}
	if d >= MaxSeq {
		return nil, fmt.Errorf("seq: more than %d numbers", MaxSeq)
	}
	n := int(d)
	out := make([]int, n+1)
	for i := range out {
		out[i] = first + i*step
	}
	return out, nil
}

// intOf converts an integer argument, including JSON numbers.
func intOf(a any) (int, error) {
	switch v := a.(type) {
	case json.Number:
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return 0, fmt.Errorf("%s is not an integer", v)
		}
		return n, nil
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", v)
		}
		return n, nil
	}
	rv := reflect.ValueOf(a)
	switch {
	case rv.CanInt():
		return int(rv.Int()), nil
	case rv.CanUint() && rv.Uint() <= uint64(^uint(0)>>1):
		return int(rv.Uint()), nil
	}
	return 0, fmt.Errorf("%T is not an integer", a)
}
