package fileserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/content"
	"github.com/fbtftp-go/fbtftp/internal/tmpl"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// templateSuffix marks a file the stock handler renders per request.
const templateSuffix = ".tmpl"

// maxTemplateSource bounds a template file read into memory.
const maxTemplateSource = 1 << 20

// render serves a template: rel names a "*.tmpl" file in store, rendered
// with text/template for this client (IP, MAC when known, the requested
// name, the local address, the host name and the values of the data file
// for this MAC or IP). Its size is known once rendered, so tsize is
// acknowledged. A template error is ERROR 0 "template error" on the wire;
// the log gets the file and line.
func (h fileHandler) render(ctx context.Context, r *fbtftp.Request, store *content.FileStore, rel string) (fbtftp.ResponseData, error) {
	f, err := store.Open(rel)
	if err != nil {
		return nil, err
	}
	src, err := io.ReadAll(io.LimitReader(f, maxTemplateSource+1))
	f.Close()
	if err != nil {
		return nil, err
	}
	if len(src) > maxTemplateSource {
		return nil, fmt.Errorf("template %s larger than %d bytes", rel, maxTemplateSource)
	}
	mac := ""
	if r.MAC != nil {
		mac = r.MAC.String()
	}
	// The name the client asked for, not the one a remap rule made of it
	// ("pxelinux.cfg/01-aa-bb-..." routed to "pxelinux.cfg/default.tmpl").
	if m, ok := tmpl.MACFromPxelinux(r.Filename); ok && mac == "" {
		mac = m
	}
	host, _ := os.Hostname()
	values := h.values.Lookup(mac, r.Peer.Addr().Unmap().String())
	d := tmpl.NewData(r.Peer.Addr(), r.Local.Addr(), mac, r.Filename, host, values)
	out, err := tmpl.Render(ctx, rel, src, d, 0)
	if err != nil {
		return nil, err
	}
	return &rendered{Reader: bytes.NewReader(out)}, nil
}

// serveOrRender opens rel, or renders it when it is a template; a missing
// file is also looked up as rel+".tmpl", so "pxelinux.cfg/01-aa-bb-..."
// can be answered by "pxelinux.cfg/01-aa-bb-....tmpl" and a remap rule can
// route many names to one template.
func (h fileHandler) serveOrRender(ctx context.Context, r *fbtftp.Request, store *content.FileStore, rel string) (fbtftp.ResponseData, error) {
	if strings.HasSuffix(rel, templateSuffix) {
		return h.render(ctx, r, store, rel)
	}
	f, err := store.Open(rel)
	if err == nil {
		return fbtftp.FileResponse(f)
	}
	if !errors.Is(err, tftp.ErrNotFound) {
		if code, _ := tftp.WireError(err); code != tftp.CodeNotFound {
			return nil, err
		}
	}
	if d, terr := h.render(ctx, r, store, rel+templateSuffix); terr == nil {
		return d, nil
	} else if code, _ := tftp.WireError(terr); code != tftp.CodeNotFound {
		return nil, terr
	}
	return nil, err
}

// rendered is a rendered template: its size is known, so tsize is
// acknowledged, and it reports itself as such in the session line.
type rendered struct{ *bytes.Reader }

func (r *rendered) Size() (int64, bool) { return r.Reader.Size(), true }
func (r *rendered) Close() error        { return nil }
func (r *rendered) Source() tftp.Source { return tftp.SourceTemplate }
