package fileserver

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/wlog"
	"github.com/fbtftp-go/fbtftp/tftp"
)

func newServer(t *testing.T, cfg Config) fbtftp.Handler {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewChecksTemplateData(t *testing.T) {
	if _, err := New(Config{TemplateData: []byte(`{"hosts": {"not an address": {}}}`)}); err == nil {
		t.Fatal("a bad data file accepted")
	}
	if _, err := New(Config{TemplateData: []byte(`{"default": {"a": 1}}`)}); err != nil {
		t.Fatal(err)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ok"), []byte("ok"), 0o644)
	h := newServer(t, Config{})
	r := &fbtftp.Request{Filename: "/ok", Settings: &fbtftp.Settings{Roots: []string{dir}, Secure: true}}
	d, err := h.ServeTFTP(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if src, ok := d.(interface{ Source() tftp.Source }); !ok || src.Source() != tftp.SourceFile {
		t.Error("a file is not reported as such")
	}
	d.Close()
	r.Filename = "../x"
	if _, err := h.ServeTFTP(context.Background(), r); !errors.Is(err, tftp.ErrAccessViolation) {
		t.Fatalf("../x: %v", err)
	}
	if _, err := h.ServeTFTP(context.Background(), &fbtftp.Request{Filename: "ok", Settings: &fbtftp.Settings{}}); err == nil {
		t.Fatal("no root accepted")
	}
}

func TestTemplate(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "menu.tmpl"), []byte("client {{.ClientIP}} asked {{.Filename}} role {{.Values.role}}\n"), 0o644)
	h := newServer(t, Config{TemplateData: []byte(`{"default": {"role": "spare"}, "hosts": {"127.0.0.1": {"role": "db"}}}`)})
	r := &fbtftp.Request{Filename: "menu", Path: "menu", Peer: netip.MustParseAddrPort("127.0.0.1:4000"),
		Settings: &fbtftp.Settings{Roots: []string{dir}, Secure: true}, Logger: wlog.Discard()}
	d, err := h.ServeTFTP(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, _ := io.ReadAll(d)
	if string(got) != "client 127.0.0.1 asked menu role db\n" {
		t.Errorf("rendered %q", got)
	}
	if n, ok := d.Size(); !ok || n != int64(len(got)) {
		t.Errorf("size %d %v", n, ok)
	}
	if src, ok := d.(interface{ Source() tftp.Source }); !ok || src.Source() != tftp.SourceTemplate {
		t.Error("a template is not reported as such")
	}
}

func TestUpload(t *testing.T) {
	dir := t.TempDir()
	h, ok := newServer(t, Config{}).(fbtftp.WriteHandler)
	if !ok {
		t.Fatal("the file server does not implement WriteHandler")
	}
	set := &fbtftp.Settings{Roots: []string{dir}, Secure: true, Create: true, Permissive: true, Umask: 0o022}
	r := &fbtftp.Request{Filename: "/new", Settings: set, Logger: wlog.Discard()}
	w, err := h.ReceiveTFTP(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("data"))
	// While the upload runs, its temporary file cannot be downloaded.
	if _, err := newServer(t, Config{}).ServeTFTP(context.Background(), &fbtftp.Request{Filename: ".new.fbtftp-upload",
		Settings: &fbtftp.Settings{Roots: []string{dir}, Secure: true, Permissive: true}}); !errors.Is(err, tftp.ErrNotFound) {
		t.Errorf("download of the temporary file: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "new"))
	if err != nil || fi.Mode().Perm() != 0o644 || fi.Size() != 4 {
		t.Fatalf("%v %v", fi, err)
	}
	set.ReadOnly = true
	if _, err := h.ReceiveTFTP(context.Background(), r); !errors.Is(err, tftp.ErrAccessViolation) {
		t.Fatalf("read-only: %v", err)
	}
	*set = fbtftp.Settings{Roots: set.Roots, Secure: true}
	r.Filename = "other"
	if _, err := h.ReceiveTFTP(context.Background(), r); err == nil {
		t.Fatal("create without Create accepted")
	} else if code, msg := tftp.WireError(err); code != tftp.CodeNotFound || msg != "File not found" {
		t.Fatalf("create without Create: %v", err)
	}
}

// TestTemplateMACFromRequestedName: docs/templates.md says a remap rule
// may route every pxelinux.cfg/01-<mac> lookup to one template, which
// still gets the MAC from the name the client asked for.
func TestTemplateMACFromRequestedName(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "pxelinux.cfg"), 0o755)
	os.WriteFile(filepath.Join(dir, "pxelinux.cfg", "default.tmpl"), []byte("mac {{.MAC}} pxe {{.MACPxe}}\n"), 0o644)
	h := newServer(t, Config{})
	r := &fbtftp.Request{
		Filename: "pxelinux.cfg/01-52-54-00-ec-33-81",
		Path:     "pxelinux.cfg/default.tmpl", // r ^pxelinux\.cfg/.* pxelinux.cfg/default.tmpl
		Peer:     netip.MustParseAddrPort("192.0.2.7:4000"),
		Settings: &fbtftp.Settings{Roots: []string{dir}, Secure: true}, Logger: wlog.Discard(),
	}
	d, err := h.ServeTFTP(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, _ := io.ReadAll(d)
	if want := "mac 52:54:00:ec:33:81 pxe 01-52-54-00-ec-33-81\n"; string(got) != want {
		t.Errorf("rendered %q, want %q", got, want)
	}
}
