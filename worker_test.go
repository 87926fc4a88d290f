package fbtftp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// session runs one download through the worker's session path in this
// process: the client sends its RRQ to a stand-in listener, the test
// builds the Request the master would hand over, and serveSession answers
// from a real session socket. It returns what the client got and the
// session's stats.
func session(t *testing.T, h Handler, rules *remap.Rules, set *Settings, file string, o client.Options) ([]byte, *stats.SessionStats, error) {
	t.Helper()
	lc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	listener := lc.LocalAddr().(*net.UDPAddr).AddrPort()

	type result struct {
		st  *stats.SessionStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, proto.MaxPacketSize)
		lc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, peer, err := lc.ReadFromUDPAddrPort(buf)
		if err != nil {
			done <- result{err: err}
			return
		}
		pr, err := proto.ParseRequest(buf[:n])
		if err != nil {
			done <- result{err: err}
			return
		}
		f, local, err := udp.NewSessionSocket(netip.MustParseAddr("127.0.0.1"), udp.PortRange{})
		if err != nil {
			done <- result{err: err}
			return
		}
		sess, err := udp.NewSessionConn(f)
		f.Close()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer sess.Close()
		st := &stats.SessionStats{Peer: peer, Local: local, Filename: pr.Filename, Op: pr.Op, Mode: pr.Mode, Tsize: -1, Start: time.Now()}
		req := &Request{
			SessionID: "t-1", Op: pr.Op, Filename: pr.Filename, Path: pr.Filename, Mode: pr.Mode.String(),
			Options: pr.Options, Peer: peer, Local: local, Settings: set,
			Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := applyRules(rules, req); err != nil {
			refuse(sess, req.Peer, st, err)
			done <- result{st: st}
			return
		}
		serr := serveSession(ctx, h, req, sess, st, nil)
		done <- result{st: st, err: serr}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if o.Timeout == 0 {
		o.Timeout = 300 * time.Millisecond
	}
	var got bytes.Buffer
	_, cerr := client.Get(ctx, listener, file, o, &got)
	r := <-done
	if r.st == nil {
		t.Fatalf("session did not start: %v", r.err)
	}
	return got.Bytes(), r.st, cerr
}

func TestSessionPath(t *testing.T) {
	root := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat("0123456789abcdef", 300)
	write("f.bin", big)
	write("text.txt", "a\nb\n")
	set := &Settings{Roots: []string{root}, Secure: true, Timeout: 200 * time.Millisecond, Retries: 3}
	files := HandlerFunc(func(_ context.Context, r *Request) (ResponseData, error) {
		f, err := os.Open(filepath.Join(root, r.Path))
		if err != nil {
			return nil, err
		}
		return FileResponse(f)
	})
	rules, err := remap.Parse(strings.NewReader("a ^secret Private\nr ^old/(.*) \\1\n"))
	if err != nil {
		t.Fatal(err)
	}
	panics := HandlerFunc(func(context.Context, *Request) (ResponseData, error) { panic("boom") })

	tests := []struct {
		name    string
		h       Handler
		file    string
		o       client.Options
		want    string          // content, when no error
		code    proto.ErrorCode // server error, when wantErr
		wantErr bool
		outcome stats.Outcome
		source  stats.Source
	}{
		{name: "file", h: files, file: "f.bin", o: client.Options{Tsize: true, Blksize: 1024, Windowsize: 2},
			want: big, outcome: stats.OutcomeSuccess, source: stats.SourceFile},
		{name: "remapped file", h: files, file: "old/f.bin", want: big, outcome: stats.OutcomeSuccess, source: stats.SourceFile},
		{name: "netascii", h: files, file: "text.txt", o: client.Options{Mode: proto.ModeNetascii, Tsize: true},
			want: "a\nb\n", outcome: stats.OutcomeSuccess, source: stats.SourceFile},
		{name: "custom bytes", h: HandlerFunc(func(context.Context, *Request) (ResponseData, error) {
			return BytesResponse([]byte("built")), nil
		}), file: "x", want: "built", outcome: stats.OutcomeSuccess, source: stats.SourceCustom},
		{name: "not found", h: files, file: "missing", wantErr: true, code: proto.ErrNotFound, outcome: stats.OutcomeNotFound},
		{name: "rule refuses", h: files, file: "secret", wantErr: true, code: proto.ErrAccessViolation, outcome: stats.OutcomeAccessDenied},
		{name: "handler panics", h: panics, file: "x", wantErr: true, code: proto.ErrUndefined, outcome: stats.OutcomeServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := session(t, tt.h, rules, set, tt.file, tt.o)
			if tt.wantErr {
				var se *tftp.Error
				if !errors.As(err, &se) || se.Code != tt.code {
					t.Fatalf("client: %v, want ERROR %d", err, tt.code)
				}
			} else if err != nil || string(got) != tt.want {
				t.Fatalf("client: %q, %v; want %q", got, err, tt.want)
			}
			if st.Outcome != tt.outcome || st.Source != tt.source {
				t.Errorf("stats: outcome %q source %q, want %q %q", st.Outcome, st.Source, tt.outcome, tt.source)
			}
		})
	}
}
