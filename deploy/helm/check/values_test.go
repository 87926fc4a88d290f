package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// A value of the chart is a key of values.yaml whose comment starts with
// "-- " (helm-docs' convention): a scalar, a list, or a block read whole
// (resources, root.volume). Other keys only group values.

// chartValue is one documented value: its dotted path and its default as
// compact JSON.
type chartValue struct{ path, def string }

func parseValues(t *testing.T) []chartValue {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []chartValue
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := prefix + k.Value
			switch {
			case strings.Contains(k.HeadComment, "# -- "):
				var x any
				if err := v.Decode(&x); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				def, _ := json.Marshal(x)
				out = append(out, chartValue{path, string(def)})
			case v.Kind == yaml.MappingNode && len(v.Content) > 0:
				walk(v, path+".")
			default:
				t.Errorf("values.yaml: %s has no \"# -- \" comment", path)
			}
		}
	}
	walk(doc.Content[0], "")
	return out
}

// readmeRow is a row of the README's values table: | `key` | `default` | text |
var readmeRow = regexp.MustCompile("^\\| `([^`]+)` \\| `([^`]*)` \\|")

func parseReadme(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "\n## Values\n")
	if !ok {
		t.Fatal("README.md has no \"## Values\" section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	rows := map[string]string{}
	for _, l := range strings.Split(table, "\n") {
		if m := readmeRow.FindStringSubmatch(l); m != nil {
			if _, dup := rows[m[1]]; dup {
				t.Errorf("README.md documents %s twice", m[1])
			}
			rows[m[1]] = m[2]
		}
	}
	return rows
}

// valuesRef finds .Values.a.b.c (and $.Values...) in templates.
var valuesRef = regexp.MustCompile(`\.Values((?:\.[A-Za-z0-9_]+)+)`)

// TestValuesDocumented: the README's table lists exactly the values of
// values.yaml, with their defaults; the templates read every one of them
// and nothing else.
func TestValuesDocumented(t *testing.T) {
	vals := parseValues(t)
	rows := parseReadme(t)
	var paths []string
	for _, v := range vals {
		paths = append(paths, v.path)
		def, ok := rows[v.path]
		switch {
		case !ok:
			t.Errorf("README.md does not document %s (default `%s`)", v.path, v.def)
		case def != v.def:
			t.Errorf("README.md: %s defaults to `%s`, values.yaml says `%s`", v.path, def, v.def)
		}
	}
	for k := range rows {
		if !slices.Contains(paths, k) {
			t.Errorf("README.md documents %s, which values.yaml does not have", k)
		}
	}

	var refs []string
	for name, src := range chartFiles(t) {
		for _, m := range valuesRef.FindAllStringSubmatch(src, -1) {
			r := strings.TrimPrefix(m[1], ".")
			refs = append(refs, r)
			// A reference names a value, a key inside a block value, or a
			// group of values.
			known := slices.ContainsFunc(paths, func(p string) bool {
				return r == p || strings.HasPrefix(r, p+".") || strings.HasPrefix(p, r+".")
			})
			if !known {
				t.Errorf("templates/%s reads .Values.%s, which values.yaml does not have", name, r)
			}
		}
	}
	for _, p := range paths {
		read := slices.ContainsFunc(refs, func(r string) bool { return r == p || strings.HasPrefix(r, p+".") })
		if !read {
			t.Errorf("values.yaml has %s, which no template reads", p)
		}
	}
}
