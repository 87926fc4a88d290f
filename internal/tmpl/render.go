package tmpl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// The limits of Render.
const (
	// DefaultMaxSize is the output limit when Render is given none.
	DefaultMaxSize = 1 << 20
	// DefaultTimeout bounds a Render whose ctx has no deadline.
	DefaultTimeout = 2 * time.Second
	// MaxSteps bounds the guard points one Render passes (range
	// iterations plus template calls).
	MaxSteps = 1_000_000
	// MaxDepth bounds nested template calls ({{template}} recursion), so
	// that a stopped template also unwinds quickly.
	MaxDepth = 100
)

// Causes of a failed Render, for errors.Is.
var (
	// ErrTooLarge means the output (or a helper's result) passed maxSize.
	ErrTooLarge = errors.New("template output larger than the limit")
	// ErrDeadline means the template ran past its deadline.
	ErrDeadline = errors.New("template ran past its deadline")
	// ErrSteps means the template passed MaxSteps guard points.
	ErrSteps = errors.New("template ran too many range iterations or template calls")
	// ErrDepth means template calls nested deeper than MaxDepth.
	ErrDepth = errors.New("template calls nested too deep")
)

// errWire is what a client sees of any Render failure.
var errWire = &tftp.Error{Code: tftp.CodeUndefined, Message: "template error"}

// The guard functions Render inserts: guardName at the start of every
// range body and template body, exitName at the end of template bodies.
// Templates that call them can only make themselves fail sooner.
const (
	guardName = "_guard"
	exitName  = "_exit"
)

// Render parses src as a text/template named name and executes it on d,
// returning at most maxSize bytes (DefaultMaxSize when maxSize <= 0).
// Missing map keys are errors (missingkey=error), as are undefined
// functions and fields. The functions of Funcs are available.
//
// Bounds, and what is guaranteed:
//   - Output: every write is checked; the first byte past maxSize stops
//     the template with ErrTooLarge. Helpers that build strings (Funcs,
//     and the built-ins print, printf, println, html, js, urlquery, which
//     are replaced by checked versions) fail with ErrTooLarge when their
//     result passes maxSize; printf refuses '*' and widths or precisions
//     over 1000. Memory is thus O(maxSize) plus the data and the source.
//   - Time: Render inserts a guard call at the start of every range body
//     and every template body (define, block, the main one). The guard
//     stops the template with ErrDeadline once ctx is done (its deadline,
//     or DefaultTimeout when it has none), with ErrSteps past MaxSteps
//     calls and with ErrDepth when template calls nest deeper than
//     MaxDepth; writes check ctx too. Between two guard points a template
//     only evaluates pipelines whose cost is bounded by the source, the
//     data and maxSize (no built-in or helper loops on its own), so a
//     template stops within about one such step of its deadline:
//     {{range 1000000000}}{{end}}, nested seq, recursive templates all
//     stop. text/template cannot be interrupted otherwise; Render runs it
//     on the caller's goroutine and leaves nothing running after it
//     returns.
//
// Errors carry TFTP code 0 with the message "template error" on the wire;
// the error text keeps text/template's "name:LINE:COL" location (or
// "name:LINE" for parse errors) for the log.
func Render(ctx context.Context, name string, src []byte, d Data, maxSize int64) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	g := &guard{ctx: ctx, line: 1}
	funcs := Funcs(maxSize)
	funcs[guardName] = g.check
	funcs[exitName] = g.exit
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(string(src))
	if err != nil {
		return nil, renderError(name, err)
	}
	injectGuards(t)
	w := &limitWriter{ctx: ctx, max: maxSize, name: name, g: g}
	if err := t.Execute(w, d); err != nil {
		return nil, renderError(name, err)
	}
	return w.buf.Bytes(), nil
}

func renderError(name string, err error) error {
	return fmt.Errorf("tmpl: render %s: %w: %w", name, err, errWire)
}

// guard is the function behind every guard point. Its argument is the
// line of the body it guards; the last one is kept for errors found at
// writes, which text/template reports without a location.
type guard struct {
	ctx   context.Context
	steps int
	depth int // template bodies entered and not left
	line  int
}

// check is a guard point; enter is true at the start of a template body.
func (g *guard) check(line int, enter bool) (string, error) {
	g.line = line
	if g.steps++; g.steps > MaxSteps {
		return "", fmt.Errorf("%w (%d)", ErrSteps, MaxSteps)
	}
	if enter {
		if g.depth++; g.depth > MaxDepth {
			return "", fmt.Errorf("%w (%d)", ErrDepth, MaxDepth)
		}
	}
	if g.ctx.Err() != nil {
		return "", deadlineError(g.ctx)
	}
	return "", nil
}

// exit ends a template body.
func (g *guard) exit() string {
	g.depth--
	return ""
}

func deadlineError(ctx context.Context) error {
	if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrDeadline, cause)
	}
	return ErrDeadline
}

// injectGuards puts a guard call first in every template body and every
// range body of t's templates. The inserted nodes have no tree of their
// own, so errors at them report the position of the body they guard.
func injectGuards(t *template.Template) {
	seen := map[*parse.Tree]bool{}
	for _, tt := range t.Templates() {
		tree := tt.Tree
		if tree == nil || tree.Root == nil || seen[tree] {
			continue
		}
		seen[tree] = true
		guardList(tree, tree.Root)
		root := tree.Root
		root.Nodes = append(root.Nodes, action(root.Position(), parse.NewIdentifier(exitName).SetPos(root.Position())))
		prependGuard(tree, root, root.Position(), true)
	}
}

// guardList walks a list and guards the ranges in it.
func guardList(tree *parse.Tree, l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.IfNode:
			guardList(tree, n.List)
			guardList(tree, n.ElseList)
		case *parse.WithNode:
			guardList(tree, n.List)
			guardList(tree, n.ElseList)
		case *parse.RangeNode:
			guardList(tree, n.List)
			guardList(tree, n.ElseList)
			if n.List == nil {
				n.List = &parse.ListNode{NodeType: parse.NodeList, Pos: n.Pos}
			}
			prependGuard(tree, n.List, n.Pos, false)
		}
	}
}

// prependGuard inserts {{_guard LINE ENTER}} at the start of l, positioned
// at pos of tree.
func prependGuard(tree *parse.Tree, l *parse.ListNode, pos parse.Pos, enter bool) {
	line := lineOf(tree, pos)
	num := &parse.NumberNode{
		NodeType: parse.NodeNumber, Pos: pos,
		IsInt: true, IsUint: true, IsFloat: true,
		Int64: int64(line), Uint64: uint64(line), Float64: float64(line),
		Text: strconv.Itoa(line),
	}
	b := &parse.BoolNode{NodeType: parse.NodeBool, Pos: pos, True: enter}
	a := action(pos, parse.NewIdentifier(guardName).SetPos(pos), num, b)
	l.Nodes = append([]parse.Node{a}, l.Nodes...)
}

// action builds the node of {{ARGS...}}. The nodes have no tree of their
// own, so errors at them report the position in the template executing.
func action(pos parse.Pos, args ...parse.Node) *parse.ActionNode {
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: args}
	pipe := &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{cmd}}
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: pipe}
}

// lineOf returns the line of pos in tree's source, from the location
// ErrorContext gives ("name:LINE:COL").
func lineOf(tree *parse.Tree, pos parse.Pos) int {
	loc, _ := tree.ErrorContext(&parse.TextNode{NodeType: parse.NodeText, Pos: pos})
	parts := strings.Split(loc, ":")
	if len(parts) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(parts[len(parts)-2])
	return n
}

// limitWriter collects the output up to max bytes, checking ctx at every
// write. Its errors name the line of the last guard point passed.
type limitWriter struct {
	ctx  context.Context
	max  int64
	name string
	g    *guard
	buf  bytes.Buffer
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.ctx.Err() != nil {
		return 0, fmt.Errorf("template: %s:%d: %w", w.name, w.g.line, deadlineError(w.ctx))
	}
	if int64(w.buf.Len())+int64(len(p)) > w.max {
		return 0, fmt.Errorf("template: %s:%d: %w (%d bytes)", w.name, w.g.line, ErrTooLarge, w.max)
	}
	return w.buf.Write(p)
}
