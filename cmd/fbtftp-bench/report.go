package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"
)

// summaryRow is the median of one metric of one scenario across reps.
type summaryRow struct {
	Scenario string             `json:"scenario"`
	Metric   string             `json:"metric"`
	Higher   bool               `json:"higher_is_better"`
	Medians  map[string]float64 `json:"medians"`
	Ratios   map[string]float64 `json:"ratio_to_baseline,omitempty"`
	Failures map[string]int     `json:"failures"`
	Skipped  map[string]bool    `json:"skipped,omitempty"`
}

type report struct {
	Started time.Time     `json:"started"`
	Config  compareConfig `json:"config"`
	Runs    []runRecord   `json:"runs"`
	Summary []summaryRow  `json:"summary"`
	// Floor is the median over the repetitions of the floor's median CPU
	// per exec (ms); absent when not measured.
	Floor *float64 `json:"floor_cpu_ms,omitempty"`
}

// floorMedian is the median of the floor measured in each repetition.
func floorMedian(runs []runRecord) *float64 {
	var xs []float64
	for _, r := range runs {
		if r.Floor != nil {
			xs = append(xs, r.Floor.CPUMedian)
		}
	}
	if len(xs) == 0 {
		return nil
	}
	m := median(xs)
	return &m
}

// summarize computes the medians across repetitions and the ratios to the
// baseline.
func summarize(runs []runRecord, cfg compareConfig) []summaryRow {
	var rows []summaryRow
	for _, sc := range cfg.scenarios {
		for _, m := range sc.metrics() {
			row := summaryRow{Scenario: sc.Name, Metric: m, Higher: higherIsBetter[m],
				Medians: map[string]float64{}, Ratios: map[string]float64{}, Failures: map[string]int{}, Skipped: map[string]bool{}}
			for _, srv := range cfg.Servers {
				var xs []float64
				for _, r := range runs {
					if r.Scenario != sc.Name || r.Server != srv.Name {
						continue
					}
					if r.Skipped != "" {
						row.Skipped[srv.Name] = true
						continue
					}
					if r.Load != nil {
						row.Failures[srv.Name] += r.Load.Failures
					}
					if v, ok := r.Metrics[m]; ok && !math.IsNaN(v) {
						xs = append(xs, v)
					}
				}
				if len(xs) > 0 {
					row.Medians[srv.Name] = median(xs)
				}
			}
			base, ok := row.Medians[cfg.Baseline]
			for name, v := range row.Medians {
				if ok && base != 0 && name != cfg.Baseline {
					row.Ratios[name] = v / base
				}
			}
			if len(row.Skipped) == 0 {
				row.Skipped = nil
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// printTable prints the summary: one row per scenario and metric, one
// column per server, then the ratio of each other server to the baseline.
func printTable(w io.Writer, rep *report) {
	cfg := rep.Config
	fmt.Fprintf(w, "\nfbtftp-bench compare: medians of %d rep(s); large file %d MiB; small runs %v, concurrent runs %v (0: 3 downloads per client)%s\n",
		cfg.Reps, cfg.LargeSize>>20, cfg.SmallDuration, cfg.ConcDuration, map[bool]string{true: " (quick)"}[cfg.Quick])
	if rep.Floor != nil {
		fmt.Fprintf(w, "floor: %.3f ms CPU per exec of an empty static Go binary by a Go parent (median of %d execs, median over the repetitions)\n",
			*rep.Floor, cfg.FloorExecs)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "scenario\tmetric\t")
	var others []string
	for _, s := range cfg.Servers {
		fmt.Fprintf(tw, "%s\t", s.Name)
		if s.Name != cfg.Baseline {
			others = append(others, s.Name)
		}
	}
	for _, o := range others {
		fmt.Fprintf(tw, "%s/%s\t", o, cfg.Baseline)
	}
	fmt.Fprintln(tw)
	last := ""
	for _, row := range rep.Summary {
		name := row.Scenario
		if name == last {
			name = ""
		}
		last = row.Scenario
		arrow := " (lower better)"
		if row.Higher {
			arrow = " (higher better)"
		}
		fmt.Fprintf(tw, "%s\t%s%s\t", name, row.Metric, arrow)
		for _, s := range cfg.Servers {
			fmt.Fprintf(tw, "%s\t", cell(row, s.Name))
		}
		for _, o := range others {
			if r, ok := row.Ratios[o]; ok {
				fmt.Fprintf(tw, "%.2fx\t", r)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func cell(row summaryRow, server string) string {
	if row.Skipped[server] {
		return "n/a"
	}
	v, ok := row.Medians[server]
	s := "-"
	if ok {
		s = fmt.Sprintf("%.3g", v)
		if v >= 1000 {
			s = fmt.Sprintf("%.0f", v)
		}
	}
	if f := row.Failures[server]; f > 0 {
		s += fmt.Sprintf(" (%d failed)", f)
	}
	return s
}
