// Package tmpl renders per-client boot configs (GRUB, iPXE, pxelinux,
// kickstart...) from Go text/template files.
//
// A template sees a Data: the client's IP (dotted and pxelinux hex), its
// MAC when known (plain and pxelinux "01-" form), the requested file name,
// the server address and host name, and Values, the client's entry of an
// optional JSON data file (LoadValues), merged key by key: MAC entry over
// IP entry over "default". For example, with a data file
//
//	{"default": {"role": "generic"},
//	 "hosts": {"10.0.0.5": {"role": "db", "disks": ["sda", "sdb"]}}}
//
// the template
//
//	# {{.Filename}} for {{.ClientIP}} ({{.ClientIPHex}})
//	LABEL linux
//	  KERNEL vmlinuz
//	  APPEND role={{.Values.role}} disks={{get .Values "disks" | join ","}}
//
// gives 10.0.0.5 "role=db disks=sda,sdb" and every other client
// "role=generic disks=". A key read as .Values.key must exist (missing
// keys are errors, reported with the template line); use get, has or
// index to probe optional ones. Funcs lists the helpers; the pxelinux
// names of a client are PxelinuxCandidates, and MACFromPxelinux recovers
// the MAC from a requested pxelinux.cfg/01-... name.
//
// Rendering is bounded (see Render): at most maxSize bytes of output
// (1 MiB by default) and DefaultTimeout (2 s) or the caller's deadline,
// enforced at every range iteration, template call and write, and at most
// MaxSteps range iterations and template calls. A template that fails
// (parse error, missing key, limit) sends ERROR 0 "template error"; the
// log has the reason and the template's line.
package tmpl
