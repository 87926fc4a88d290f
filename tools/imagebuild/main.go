// Command imagebuild builds fbtftp-go's container image without a
// container daemon: one layer on an empty base ("FROM scratch") holding
// the static master and workers, the empty served and cache directories
// and the passwd and group entries of the workers' user, with the
// entrypoint, user, ports and labels in its configuration. It writes a
// docker-archive tarball (podman load, docker load) and an OCI layout.
//
//	go run ./imagebuild -bin ../bin -version 1.2.3 -out ../bin/image
//
// It lives in the tools module so that the server's go.mod does not
// carry go-containerregistry.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's layout and defaults; image_test.go checks them.
const (
	Repository  = "localhost/fbtftp"
	MasterPath  = "/usr/sbin/fbtftp-master"
	WorkerDir   = "/usr/libexec/fbtftp"
	ServedDir   = "/srv/tftp"
	CacheDir    = "/var/cache/fbtftp"
	WorkerUID   = 65534 // nobody: the -u user of the workers
	MetricsPort = "9169/tcp"
	TFTPPort    = "69/udp"
)

// Entrypoint and Cmd: the master in the foreground on UDP 69 serving
// /srv/tftp (a volume), workers chrooted there as nobody, JSON logs,
// metrics on 9169. Arguments given to `podman run IMAGE ...` replace Cmd.
var (
	Entrypoint = []string{MasterPath, "--foreground"}
	Cmd        = []string{"--address", ":69", "--user", "nobody", "--secure", ServedDir,
		"--metrics-addr", ":9169", "--log-format", "json"}
)

func main() {
	bin := flag.String("bin", "bin", "directory with fbtftp-master, fbtftp-worker and fbtftp-worker-http (static builds)")
	version := flag.String("version", "0.1.0-dev", "version for the label and the tag")
	revision := flag.String("revision", "", "source revision for the label")
	created := flag.Int64("created", 0, "creation time, Unix seconds (default: SOURCE_DATE_EPOCH, else 0)")
	out := flag.String("out", "bin/image", "output directory: image.tar (docker-archive) and oci/ (OCI layout)")
	flag.Parse()
	if *created == 0 {
		if v, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
			*created = v
		}
	}
	if err := run(*bin, *version, *revision, time.Unix(*created, 0).UTC(), *out); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(bin, version, revision string, created time.Time, out string) error {
	img, err := Build(bin, version, revision, created)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tag, err := name.NewTag(Repository + ":" + TagFor(version))
	if err != nil {
		return err
	}
	tarPath := filepath.Join(out, "image.tar")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		return err
	}
	ociDir := filepath.Join(out, "oci")
	os.RemoveAll(ociDir)
	if _, err := layout.Write(ociDir, empty.Index); err != nil {
		return err
	}
	p, _ := layout.FromPath(ociDir)
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": TagFor(version),
	})); err != nil {
		return err
	}
	fi, err := os.Stat(tarPath)
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s (%d bytes) in %s and %s\n", tag, d, fi.Size(), tarPath, ociDir)
	return nil
}

// TagFor makes a version a valid tag ("+" is not allowed).
func TagFor(version string) string {
	t := regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(version, "-")
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

// Build returns the image.
func Build(bin, version, revision string, created time.Time) (v1.Image, error) {
	layer, err := fileLayer(bin, created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":         "fbtftp-go",
		"org.opencontainers.image.description":   "TFTP server with one sandboxed worker process per session",
		"org.opencontainers.image.version":       version,
		"org.opencontainers.image.licenses":      "MIT",
		"org.opencontainers.image.source":        "https://github.com/fbtftp-go/fbtftp",
		"org.opencontainers.image.documentation": "https://github.com/fbtftp-go/fbtftp/blob/main/docs/install.md",
	}
	if revision != "" {
		labels["org.opencontainers.image.revision"] = revision
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		Entrypoint:   Entrypoint,
		Cmd:          Cmd,
		User:         "0:0", // the master: chroot and setuid for its workers
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{TFTPPort: {}, MetricsPort: {}},
		Volumes:      map[string]struct{}{ServedDir: {}, CacheDir: {}},
		Labels:       labels,
		StopSignal:   "SIGTERM",
	}
	return mutate.ConfigFile(img, cf)
}

// fileLayer is the one layer: the three binaries, the directories and the
// passwd and group files that name the workers' user.
func fileLayer(bin string, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(p string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: mtime})
	}
	file := func(p string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"etc", "srv", "usr", "usr/libexec", "usr/sbin", "var", "var/cache"} {
		if err := dir(d, 0o755, 0); err != nil {
			return nil, err
		}
	}
	if err := dir(ServedDir[1:], 0o755, 0); err != nil {
		return nil, err
	}
	if err := dir(CacheDir[1:], 0o700, WorkerUID); err != nil {
		return nil, err
	}
	if err := dir(WorkerDir[1:], 0o755, 0); err != nil {
		return nil, err
	}
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n")); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")); err != nil {
		return nil, err
	}
	for _, f := range [][2]string{
		{MasterPath[1:], "fbtftp-master"},
		{WorkerDir[1:] + "/fbtftp-worker", "fbtftp-worker"},
		{WorkerDir[1:] + "/fbtftp-worker-http", "fbtftp-worker-http"},
	} {
		dst, src := f[0], f[1]
		data, err := os.ReadFile(filepath.Join(bin, src))
		if err != nil {
			return nil, err
		}
		if err := file(dst, 0o755, data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}
