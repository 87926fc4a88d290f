package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// Carry holds the series of a master this one took over from (a
// zero-downtime upgrade), so that the metrics go on from where the old
// master's were instead of starting again at zero, and so that the
// sessions the old master finishes after the handover still count.
//
// The old master sends its whole exposition (Encode of its own Gather,
// which includes what it carried itself) when it hands over and again
// while its last sessions run; each state replaces the previous one.
// Gather adds the carried fbtftp_ counters and histograms to this
// master's series with the same labels; of the gauges only those that
// count the old master's live sessions and workers (fbtftp_sessions_active,
// fbtftp_workers) are added, and only until Orphan: the old master's
// build_info, limits and cache gauges describe nothing here. Go and
// process series are never carried.
type Carry struct {
	g prometheus.Gatherer

	mu     sync.Mutex
	state  map[string]*dto.MetricFamily
	orphan bool // the old master is gone: its gauges are dropped
}

// liveGauges are the gauges added while the old master runs.
var liveGauges = []string{namespace + "_sessions_active", namespace + "_workers"}

// Bounds of a carried state: fbtftp has a few dozen families, of at
// most a few hundred series each.
const (
	maxCarried    = 1024
	maxFamilySize = 1 << 20
)

// NewCarry returns a Carry that adds the carried series to g's.
func NewCarry(g prometheus.Gatherer) *Carry { return &Carry{g: g} }

// Set replaces the carried state by an Encode'd exposition. A state that
// does not decode changes nothing.
func (c *Carry) Set(b []byte) error {
	// Not expfmt's decoder: it takes any length prefix at its word.
	r := bufio.NewReader(bytes.NewReader(b))
	dec := protodelim.UnmarshalOptions{MaxSize: maxFamilySize}
	state := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		err := dec.UnmarshalFrom(r, mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("metrics: carried state: %w", err)
		}
		if len(state) >= maxCarried {
			return errors.New("metrics: carried state: too many families")
		}
		if carried(mf) {
			state[mf.GetName()] = mf
		}
	}
	c.mu.Lock()
	c.state = state
	c.mu.Unlock()
	return nil
}

// Orphan drops the carried gauges: the old master has exited.
func (c *Carry) Orphan() {
	c.mu.Lock()
	c.orphan = true
	c.mu.Unlock()
}

// carried reports whether a family of the old master is kept.
func carried(mf *dto.MetricFamily) bool {
	if !strings.HasPrefix(mf.GetName(), namespace+"_") {
		return false
	}
	switch mf.GetType() {
	case dto.MetricType_COUNTER, dto.MetricType_HISTOGRAM:
		return true
	case dto.MetricType_GAUGE:
		return slices.Contains(liveGauges, mf.GetName())
	}
	return false
}

// Gather implements prometheus.Gatherer: g's families plus the carried
// ones.
func (c *Carry) Gather() ([]*dto.MetricFamily, error) {
	own, err := c.g.Gather()
	c.mu.Lock()
	state, orphan := c.state, c.orphan
	c.mu.Unlock()
	if len(state) == 0 {
		return own, err
	}
	byName := make(map[string]*dto.MetricFamily, len(own))
	for _, mf := range own {
		byName[mf.GetName()] = mf
	}
	for name, old := range state {
		if orphan && old.GetType() == dto.MetricType_GAUGE {
			continue
		}
		mf := byName[name]
		if mf == nil {
			mf = &dto.MetricFamily{Name: old.Name, Help: old.Help, Type: old.Type, Unit: old.Unit}
			own = append(own, mf)
			byName[name] = mf
		}
		if mf.GetType() != old.GetType() {
			continue // a series that changed type between versions: not comparable
		}
		for _, om := range old.Metric {
			addMetric(mf, om)
		}
	}
	slices.SortFunc(own, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return own, err
}

// addMetric adds om's value to mf's metric with the same labels, or
// appends a copy of it.
func addMetric(mf *dto.MetricFamily, om *dto.Metric) {
	for _, m := range mf.Metric {
		if !sameLabels(m.Label, om.Label) {
			continue
		}
		switch {
		case m.Counter != nil && om.Counter != nil:
			m.Counter.Value = proto.Float64(m.Counter.GetValue() + om.Counter.GetValue())
		case m.Gauge != nil && om.Gauge != nil:
			m.Gauge.Value = proto.Float64(m.Gauge.GetValue() + om.Gauge.GetValue())
		case m.Histogram != nil && om.Histogram != nil:
			addHistogram(m.Histogram, om.Histogram)
		}
		return
	}
	mf.Metric = append(mf.Metric, proto.CloneOf(om))
}

// addHistogram adds o's samples to h: buckets with the same upper bound
// (a bucket layout changed between versions loses the old counts of the
// bounds that are gone, never the count and sum).
func addHistogram(h, o *dto.Histogram) {
	h.SampleCount = proto.Uint64(h.GetSampleCount() + o.GetSampleCount())
	h.SampleSum = proto.Float64(h.GetSampleSum() + o.GetSampleSum())
	for _, b := range h.Bucket {
		for _, ob := range o.Bucket {
			if ob.GetUpperBound() == b.GetUpperBound() {
				b.CumulativeCount = proto.Uint64(b.GetCumulativeCount() + ob.GetCumulativeCount())
				break
			}
		}
	}
}

func sameLabels(a, b []*dto.LabelPair) bool {
	return slices.EqualFunc(a, b, func(x, y *dto.LabelPair) bool {
		return x.GetName() == y.GetName() && x.GetValue() == y.GetValue()
	})
}

// Encode is g's exposition, for the master taking over (Carry.Set).
func Encode(g prometheus.Gatherer) ([]byte, error) {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil, err
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range mfs {
		if carried(mf) {
			if err := enc.Encode(mf); err != nil {
				return nil, err
			}
		}
	}
	return b.Bytes(), nil
}

// MaxNote bounds a note's payload (AppendNote): with its family's framing
// it stays under what Carry.Set decodes.
const MaxNote = maxFamilySize - 1024

// AppendNote appends to an Encode'd state a family that carries payload
// (its help text) under name, an untyped family that Carry.Set ignores, so
// that a master of any version reads the state the same. Note finds it.
func AppendNote(state []byte, name string, payload []byte) ([]byte, error) {
	if len(payload) > MaxNote {
		return state, fmt.Errorf("metrics: note %s of %d bytes, more than %d", name, len(payload), MaxNote)
	}
	b := bytes.NewBuffer(state)
	mf := &dto.MetricFamily{Name: proto.String(name), Help: proto.String(string(payload)), Type: dto.MetricType_UNTYPED.Enum()}
	if _, err := protodelim.MarshalTo(b, mf); err != nil {
		return state, fmt.Errorf("metrics: note %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// Note returns the payload of the note name in an Encode'd state, false
// when the state has none or does not decode.
func Note(state []byte, name string) ([]byte, bool) {
	r := bufio.NewReader(bytes.NewReader(state))
	dec := protodelim.UnmarshalOptions{MaxSize: maxFamilySize}
	for range maxCarried + 1 {
		mf := &dto.MetricFamily{}
		if err := dec.UnmarshalFrom(r, mf); err != nil {
			return nil, false
		}
		if mf.GetName() == name && mf.GetType() == dto.MetricType_UNTYPED {
			return []byte(mf.GetHelp()), true
		}
	}
	return nil, false
}
