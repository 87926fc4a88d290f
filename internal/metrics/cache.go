package metrics

import (
	"errors"
	"io"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// maxCacheScan bounds the directory entries one scrape reads in the HTTP
// cache (a few per object): a huge or hostile directory costs a bounded
// scan, and the gauges then undercount.
const maxCacheScan = 1 << 17

// cacheCollector exports the HTTP cache's size: it lists the cache
// directory at each scrape. The workers own the directory; the master
// only reads its entries' names and sizes, never their content.
type cacheCollector struct {
	dir            string
	bytes, objects *prometheus.Desc
}

// RegisterCache adds fbtftp_cache_bytes and fbtftp_cache_objects for the
// --http-cache directory dir to reg.
func RegisterCache(reg prometheus.Registerer, dir string) {
	reg.MustRegister(&cacheCollector{
		dir: dir,
		bytes: prometheus.NewDesc(namespace+"_cache_bytes",
			"Size of the complete objects in the HTTP cache (fills in progress not counted).", nil, nil),
		objects: prometheus.NewDesc(namespace+"_cache_objects",
			"Complete objects in the HTTP cache.", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.objects
}

// Collect implements prometheus.Collector.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	n, size := scanCache(c.dir)
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(size))
	ch <- prometheus.MustNewConstMetric(c.objects, prometheus.GaugeValue, float64(n))
}

// scanCache counts the published entries (<key>.data, regular files) of
// the cache directory and their size; 0, 0 when it cannot be read.
func scanCache(dir string) (n int, size int64) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	for seen := 0; seen < maxCacheScan; {
		ents, err := f.ReadDir(1024)
		seen += len(ents)
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".data") || !e.Type().IsRegular() {
				continue
			}
			if fi, err := e.Info(); err == nil {
				n++
				size += fi.Size()
			}
		}
		if errors.Is(err, io.EOF) || err != nil || len(ents) == 0 {
			break
		}
	}
	return n, size
}
