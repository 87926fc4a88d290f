package server

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/tmpl"
)

// workerConfig is the configuration files' checked copy that workers get
// (ipc.WorkerConfig): the master reads MapFile and TemplateData at start
// and on Reload, never in between, and a worker never reads them.
type workerConfig struct {
	mapFile, dataFile string // absolute paths, "" when not configured

	mu    sync.Mutex   // serialises reloads
	file  *os.File     // sealed, until handed to the master
	rules *remap.Rules // parsed map rules; nil when none
}

// maxMapFile bounds a map file: MaxRules lines of MaxLineLen bytes.
const maxMapFile = remap.MaxRules * (remap.MaxLineLen + 1)

// loadWorkerConfig reads and checks both files and seals their copy. An
// unreadable file is KindNoInput, an invalid one KindConfig, with
// in.tftpd's messages for the map file.
func loadWorkerConfig(mapFile, dataFile string) (*workerConfig, error) {
	wc := &workerConfig{}
	for _, p := range []struct {
		in  string
		out *string
	}{{mapFile, &wc.mapFile}, {dataFile, &wc.dataFile}} {
		if p.in == "" {
			continue
		}
		abs, err := filepath.Abs(p.in)
		if err != nil {
			return nil, startErr(KindNoInput, "%s: %v", p.in, err)
		}
		*p.out = abs
	}
	c, rules, err := wc.read()
	if err != nil {
		return nil, err
	}
	if wc.file, err = ipc.SealWorkerConfig(c); err != nil {
		return nil, startErr(KindOS, "%v", err)
	}
	wc.rules = rules
	return wc, nil
}

// read reads and checks the files.
func (wc *workerConfig) read() (*ipc.WorkerConfig, *remap.Rules, error) {
	c := &ipc.WorkerConfig{}
	var rules *remap.Rules
	if wc.mapFile != "" {
		b, err := readBounded(wc.mapFile, maxMapFile)
		if err != nil {
			return nil, nil, startErr(KindNoInput, "Cannot open map file: %s: %v", wc.mapFile, unwrapPath(err))
		}
		if rules, err = remap.Parse(bytes.NewReader(b)); err != nil {
			return nil, nil, startErr(KindConfig, "bad map file: %s: %v", wc.mapFile, err)
		}
		c.MapRules = b
	}
	if wc.dataFile != "" {
		b, err := readBounded(wc.dataFile, tmpl.MaxValuesSize)
		if err != nil {
			return nil, nil, startErr(KindNoInput, "template data file: %v", err)
		}
		if _, err := tmpl.ParseValues(b); err != nil {
			return nil, nil, startErr(KindConfig, "invalid template data file: %s: %v", wc.dataFile, err)
		}
		c.TemplateData = b
	}
	return c, rules, nil
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("file too large")}
	}
	return b, nil
}

// close closes the sealed copy if it was not handed to the master.
func (wc *workerConfig) close() {
	if wc.file != nil {
		wc.file.Close()
		wc.file = nil
	}
}

// reload reads the files again; when they are good, the master gets the
// new copy. Otherwise nothing changes.
func (r *run) reload(s *Server) error {
	wc := r.wc
	wc.mu.Lock()
	defer wc.mu.Unlock()
	log := s.Logger
	if log == nil {
		log = zap.NewNop()
	}
	c, rules, err := wc.read()
	var f *os.File
	if err == nil {
		f, err = ipc.SealWorkerConfig(c)
	}
	if err != nil {
		r.obs.reloaded(false)
		log.Error("reload failed: keeping the configuration in force", zap.String("map_file", wc.mapFile),
			zap.String("template_data", wc.dataFile), zap.Error(err))
		return err
	}
	wc.rules = rules
	n := r.m.Reload(f, rules)
	r.obs.reloaded(true)
	if len(rules.URLOrigins()) > 0 && filepath.Base(r.workerPath) == "fbtftp-worker" {
		log.Warn("the map file now routes names to HTTP origins, which fbtftp-worker cannot fetch: restart the server to run fbtftp-worker-http")
	}
	log.Info("reloaded", zap.String("map_file", wc.mapFile), zap.String("template_data", wc.dataFile),
		zap.Int("idle_workers_replaced", n))
	return nil
}

// reloaded counts a reload in the metrics, when there are any.
func (o *observer) reloaded(ok bool) {
	if o.metrics != nil {
		o.metrics.ConfigReloaded(ok)
	}
}
