// Package fileserver is fbtftp-go's stock content: a Handler that serves
// the files of the served directory as tftpd-hpa's in.tftpd does (never
// escaping it, tftpd-hpa's world-readable and world-writable rules),
// accepts uploads into a temporary file renamed over the target, and
// renders *.tmpl files per client with text/template (docs/templates.md).
// fbtftp-worker is this handler and nothing else:
//
//	w, err := fbtftp.Connect()
//	...
//	h, err := fileserver.New(fileserver.Config{TemplateData: w.TemplateData()})
//	...
//	err = w.Serve(ctx, h, fbtftp.WorkerConfig{})
//
// It is a package of its own so that a custom worker that does not use it
// links no template engine and starts faster.
package fileserver
