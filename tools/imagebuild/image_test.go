package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// image returns the image to test: FBTFTP_IMAGE_TAR (make image's
// bin/image/image.tar, as scripts/test-image.sh sets it), else one built
// here from freshly built static binaries.
func image(t *testing.T) (v1.Image, string) {
	t.Helper()
	if p := os.Getenv("FBTFTP_IMAGE_TAR"); p != "" {
		img, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return img, p
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+"/", "./cmd/fbtftp-master", "./cmd/fbtftp-worker", "./cmd/fbtftp-worker-http")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	img, err := Build(bin, "9.9.9-test", "0123456789abcdef", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "image.tar")
	tag, _ := name.NewTag(Repository + ":" + TagFor("9.9.9-test"))
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	return img, p
}

// TestImage: from scratch, one layer with the master, the workers and
// nothing else; entrypoint, user, ports and labels as documented.
func TestImage(t *testing.T) {
	img, _ := image(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, Entrypoint) || c.Entrypoint[0] != "/usr/sbin/fbtftp-master" {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	if !slices.Contains(c.Cmd, ":69") || !slices.Contains(c.Cmd, "--secure") {
		t.Errorf("cmd %q: not serving UDP 69", c.Cmd)
	}
	if c.User != "0:0" {
		t.Errorf("user %q, want 0:0 (the master chroots and switches its workers to nobody)", c.User)
	}
	if _, ok := c.ExposedPorts["69/udp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v, want 69/udp and %s", c.ExposedPorts, MetricsPort)
	}
	for _, l := range []string{"org.opencontainers.image.version", "org.opencontainers.image.source",
		"org.opencontainers.image.licenses", "org.opencontainers.image.title"} {
		if c.Labels[l] == "" {
			t.Errorf("label %s missing: %v", l, c.Labels)
		}
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1 on scratch", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files = append(files, "/"+h.Name)
			if strings.Contains(h.Name, "fbtftp-") && h.Mode&0o111 == 0 {
				t.Errorf("%s is not executable", h.Name)
			}
			if strings.Contains(h.Name, "fbtftp-") {
				head := make([]byte, 4096)
				n, _ := io.ReadFull(tr, head)
				if bytes.Contains(head[:n], []byte("/lib64/ld-linux")) {
					t.Errorf("%s is dynamically linked", h.Name)
				}
			}
		}
	}
	slices.Sort(files)
	want := []string{"/etc/group", "/etc/passwd", "/usr/libexec/fbtftp/fbtftp-worker",
		"/usr/libexec/fbtftp/fbtftp-worker-http", "/usr/sbin/fbtftp-master"}
	if !slices.Equal(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	size, _ := img.Size()
	t.Logf("image: manifest %d bytes; layer files %v", size, files)
}

// TestImageRuns loads the image into podman, runs it with a directory of
// the host as /srv/tftp and UDP 69 published on a loopback port, and
// downloads a file through it with curl. It needs a working podman (and
// runc where the machine's cgroups defeat crun); without one it skips.
func TestImageRuns(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed: the image is not run (apt install podman runc)")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	if out, err := exec.Command(podman, "info").CombinedOutput(); err != nil {
		t.Skipf("podman does not work here: %v\n%s", err, out)
	}
	_, tarPath := image(t)
	out, err := exec.Command(podman, "load", "-i", tarPath).CombinedOutput()
	if err != nil {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	ref := ""
	for _, l := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(l, "Loaded image: "); ok {
			ref = strings.TrimSpace(r)
		}
	}
	if ref == "" {
		t.Fatalf("podman load: no image name\n%s", out)
	}
	t.Cleanup(func() { exec.Command(podman, "rmi", "-f", ref).Run() })

	root := t.TempDir()
	os.Chmod(root, 0o755)
	payload := bytes.Repeat([]byte("fbtftp container "), 20_000)
	if err := os.WriteFile(filepath.Join(root, "boot.img"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freeUDPPort(t)
	name := fmt.Sprintf("fbtftp-image-test-%d", os.Getpid())
	args := []string{}
	if _, err := exec.LookPath("runc"); err == nil {
		args = append(args, "--runtime", "runc") // crun refuses hybrid cgroup hierarchies
	}
	args = append(args, "run", "-d", "--rm", "--name", name,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
		"-p", fmt.Sprintf("127.0.0.1:%d:69/udp", port), "-v", root+":/srv/tftp:ro", ref)
	if out, err := exec.Command(podman, args...).CombinedOutput(); err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Cleanup(func() { exec.Command(podman, "rm", "-f", "-t", "5", name).Run() })
	logs := func() string { b, _ := exec.Command(podman, "logs", name).CombinedOutput(); return string(b) }
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs(), `"msg":"serving"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the container did not start serving:\n%s", logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := exec.CommandContext(ctx, curl, "-sS", fmt.Sprintf("tftp://127.0.0.1:%d/boot.img", port)).Output()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("download through the container: %v (%d bytes)\n%s", err, len(got), logs())
	}
	if !strings.Contains(logs(), `"outcome":"success"`) {
		t.Errorf("no successful session in the container's log:\n%s", logs())
	}
}

// freeUDPPort returns a UDP port free on 127.0.0.1 a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
