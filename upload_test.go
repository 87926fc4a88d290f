package fbtftp

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/wlog"
	"github.com/fbtftp-go/fbtftp/tftp"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/transfer"
)

// memTarget records what a WriteTarget is asked to do.
type memTarget struct {
	bytes.Buffer
	writeErr, commitErr error
	commits, aborts     int
}

func (m *memTarget) Write(p []byte) (int, error) {
	if m.writeErr != nil {
		return 0, m.writeErr
	}
	return m.Buffer.Write(p)
}
func (m *memTarget) Commit() error { m.commits++; return m.commitErr }
func (m *memTarget) Abort() error  { m.aborts++; return nil }

func TestUploadSink(t *testing.T) {
	var _ transfer.Committer = &uploadSink{}
	log := wlog.Discard()
	t.Run("netascii", func(t *testing.T) {
		m := &memTarget{}
		s := &uploadSink{target: m, dec: proto.NewNetasciiDecoder(m)}
		s.w = s.dec
		s.Write([]byte("a\r\nb\r\x00c\r"))
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
		s.abort(log)
		if m.String() != "a\nb\rc\r" || m.commits != 1 || m.aborts != 0 {
			t.Fatalf("%q commits %d aborts %d", m.String(), m.commits, m.aborts)
		}
	})
	t.Run("limit", func(t *testing.T) {
		m := &memTarget{}
		s := &uploadSink{target: m, w: m, limit: 10}
		if _, err := s.Write(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		_, err := s.Write(make([]byte, 1))
		if code, msg := tftp.WireError(err); code != proto.ErrDiskFull || msg != msgTooLarge {
			t.Fatalf("over the limit: %v", err)
		}
		s.abort(log)
		if m.aborts != 1 || m.commits != 0 {
			t.Fatalf("aborts %d commits %d", m.aborts, m.commits)
		}
	})
	t.Run("write error aborts at once", func(t *testing.T) {
		m := &memTarget{writeErr: syscall.ENOSPC}
		s := &uploadSink{target: m, w: m}
		_, err := s.Write([]byte("x"))
		if code, _ := tftp.WireError(err); code != proto.ErrDiskFull || m.aborts != 1 {
			t.Fatalf("%v, aborts %d", err, m.aborts)
		}
		s.abort(log)
		if m.aborts != 1 {
			t.Fatalf("aborted %d times", m.aborts)
		}
	})
	t.Run("commit error aborts", func(t *testing.T) {
		m := &memTarget{commitErr: errors.New("fsync failed")}
		s := &uploadSink{target: m, w: m}
		if err := s.Commit(); err == nil || m.aborts != 1 {
			t.Fatalf("%v, aborts %d", err, m.aborts)
		}
		s.abort(log)
		if m.aborts != 1 {
			t.Fatalf("aborted %d times", m.aborts)
		}
	})
}

func TestReceiveTFTPRecovers(t *testing.T) {
	panics := writeHandlerFunc(func(context.Context, *Request) (WriteTarget, error) { panic("boom") })
	if _, err := receiveTFTP(context.Background(), panics, &Request{}); err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("%v", err)
	}
	nothing := writeHandlerFunc(func(context.Context, *Request) (WriteTarget, error) { return nil, nil })
	if _, err := receiveTFTP(context.Background(), nothing, &Request{}); err == nil {
		t.Fatal("nil target and nil error accepted")
	}
}

type writeHandlerFunc func(context.Context, *Request) (WriteTarget, error)

func (f writeHandlerFunc) ReceiveTFTP(ctx context.Context, r *Request) (WriteTarget, error) {
	return f(ctx, r)
}
