package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

const (
	alertsFile    = "../../deploy/prometheus/alerts.yml"
	dashboardFile = "../../deploy/grafana/fbtftp.json"
	docsFile      = "../../docs/metrics.md"
)

var metricNameRE = regexp.MustCompile(`\bfbtftp_[a-zA-Z0-9_:]+`)

// exported returns the fbtftp_ names a scrape can contain, each with its
// type, after the fixed sequence (which touches every family).
func exported(t *testing.T) map[string]dto.MetricType {
	t.Helper()
	m, reg, clk := newTest(t)
	feedSequence(m, clk)
	RegisterCache(reg, t.TempDir()) // with --http-cache only
	mfs, err := onlyFbtftp{reg}.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]dto.MetricType{}
	for _, mf := range mfs {
		names[mf.GetName()] = mf.GetType()
	}
	return names
}

// known reports whether name is a series the registry exports: a family
// name, or a histogram's _bucket, _sum or _count.
func known(names map[string]dto.MetricType, name string) bool {
	if _, ok := names[name]; ok {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && names[base] == dto.MetricType_HISTOGRAM {
			return true
		}
	}
	return false
}

// yamlExprs extracts the expr: fields of a Prometheus rules file with a
// line scanner: a plain scalar on the same line, or a block scalar (| or
// >) made of the following more-indented lines. Enough for our own file;
// no YAML dependency.
func yamlExprs(t *testing.T, data []byte) []string {
	t.Helper()
	var exprs []string
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimLeft(line, " ")
		rest, ok := strings.CutPrefix(strings.TrimPrefix(trimmed, "- "), "expr:")
		if !ok {
			continue
		}
		indent := len(line) - len(trimmed)
		rest = strings.TrimSpace(rest)
		if rest == "" || rest[0] != '|' && rest[0] != '>' {
			exprs = append(exprs, strings.Trim(rest, `'"`))
			continue
		}
		var block []string
		for i+1 < len(lines) {
			next := lines[i+1]
			if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
				break
			}
			block = append(block, strings.TrimSpace(next))
			i++
		}
		exprs = append(exprs, strings.TrimSpace(strings.Join(block, "\n")))
	}
	return exprs
}

// jsonExprs returns every string value of an "expr" key, anywhere.
func jsonExprs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "expr" {
				out = append(out, s)
			} else {
				out = append(out, jsonExprs(x)...)
			}
		}
	case []any:
		for _, x := range v {
			out = append(out, jsonExprs(x)...)
		}
	}
	return out
}

// balanced is a cheap syntax check: (), [] and {} nest, outside strings.
func balanced(expr string) bool {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for i, r := range expr {
		switch {
		case r == '"' && (i == 0 || expr[i-1] != '\\'):
			inString = !inString
		case inString:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0 && !inString
}

func checkExprs(t *testing.T, file string, exprs []string, names map[string]dto.MetricType) map[string]bool {
	t.Helper()
	if len(exprs) == 0 {
		t.Fatalf("%s: no expr found", file)
	}
	used := map[string]bool{}
	for _, e := range exprs {
		if e == "" {
			t.Errorf("%s: empty expr", file)
		}
		if !balanced(e) {
			t.Errorf("%s: unbalanced brackets or quotes in %q", file, e)
		}
		for _, name := range metricNameRE.FindAllString(e, -1) {
			used[name] = true
			if !known(names, name) {
				t.Errorf("%s: %q uses %s, which the registry does not export", file, e, name)
			}
		}
	}
	return used
}

func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	names := exported(t)
	exprs := yamlExprs(t, data)
	used := checkExprs(t, alertsFile, exprs, names)

	// Shape: every rule has an alert name, an expr, labels.severity and
	// annotations.summary; names are unique; no tabs.
	if bytes.Contains(data, []byte("\t")) {
		t.Errorf("%s contains tabs", alertsFile)
	}
	var alerts []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	severities, summaries := 0, 0
	for sc.Scan() {
		f := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(f, "- alert:"):
			alerts = append(alerts, strings.TrimSpace(strings.TrimPrefix(f, "- alert:")))
		case strings.HasPrefix(f, "severity:"):
			severities++
		case strings.HasPrefix(f, "summary:"):
			summaries++
		}
	}
	if len(alerts) != len(exprs) || severities != len(alerts) || summaries != len(alerts) {
		t.Errorf("%s: %d alerts, %d exprs, %d severities, %d summaries: want equal", alertsFile, len(alerts), len(exprs), severities, summaries)
	}
	if sorted := slices.Sorted(slices.Values(alerts)); len(slices.Compact(sorted)) != len(alerts) {
		t.Errorf("%s: duplicate alert names in %v", alertsFile, alerts)
	}
	// The alerts the design asks for.
	for _, name := range []string{"fbtftp_sessions_total", "fbtftp_requests_total", "fbtftp_worker_crashes_total", "fbtftp_probe_followups_total",
		"fbtftp_queue_dropped_total"} {
		if !used[name] {
			t.Errorf("%s: no rule uses %s", alertsFile, name)
		}
	}
	if !strings.Contains(string(data), `up{job="fbtftp"} == 0`) {
		t.Errorf("%s: no scrape-down rule", alertsFile)
	}
}

func TestDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if v, _ := dash["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v, want >= 36", dash["schemaVersion"])
	}
	// A Prometheus data source variable, used by every panel and target.
	hasDS := false
	if tl, ok := dash["templating"].(map[string]any); ok {
		for _, v := range tl["list"].([]any) {
			v := v.(map[string]any)
			if v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource" {
				hasDS = true
			}
		}
	}
	if !hasDS {
		t.Error("no Prometheus datasource template variable named datasource")
	}
	ids := map[float64]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ds, ok := v["datasource"].(map[string]any); ok && ds["uid"] != "${datasource}" {
				t.Errorf("datasource %v does not use ${datasource}", ds)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, p := range dash["panels"].([]any) {
		p := p.(map[string]any)
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("panel id %v repeated", id)
		}
		ids[id] = true
		walk(p)
	}
	used := checkExprs(t, dashboardFile, jsonExprs(dash), exported(t))
	for _, name := range []string{
		"fbtftp_requests_total", "fbtftp_sessions_total", "fbtftp_sessions_active", "fbtftp_workers",
		"fbtftp_bytes_total", "fbtftp_retransmits_total", "fbtftp_session_duration_seconds_bucket",
		"fbtftp_handoff_seconds_bucket", "fbtftp_blksize_bytes_bucket", "fbtftp_windowsize_blocks_bucket",
		"fbtftp_options_requested_total", "fbtftp_options_acknowledged_total",
		"fbtftp_queue_length", "fbtftp_queue_capacity", "fbtftp_queue_wait_seconds_bucket", "fbtftp_queue_admitted_total",
		"fbtftp_queue_dropped_total",
	} {
		if !used[name] {
			t.Errorf("%s: no panel uses %s", dashboardFile, name)
		}
	}
}

// TestDocs checks that docs/metrics.md names every exported series and
// nothing the registry does not export.
func TestDocs(t *testing.T) {
	data, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	names := exported(t)
	doc := string(data)
	for name := range names {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("%s does not document %s", docsFile, name)
		}
	}
	for _, name := range metricNameRE.FindAllString(doc, -1) {
		if !known(names, name) {
			t.Errorf("%s mentions %s, which the registry does not export", docsFile, name)
		}
	}
}

func TestYAMLExprs(t *testing.T) {
	in := `
groups:
  - rules:
      - alert: A
        expr: up == 0
        for: 5m
      - alert: B
        expr: |
          sum(a)
            /
          sum(b)
        labels: {}
      - expr: 'c > 1'
`
	got := yamlExprs(t, []byte(in))
	want := []string{"up == 0", "sum(a)\n/\nsum(b)", "c > 1"}
	if !slices.Equal(got, want) {
		t.Errorf("yamlExprs = %q, want %q", got, want)
	}
}
