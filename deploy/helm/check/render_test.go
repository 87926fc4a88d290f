package check

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
)

const (
	chartDir    = "../fbtftp"
	kubeVersion = "v1.33.0" // any version the chart's kubeVersion admits
	release     = "boot"
	namespace   = "netboot"
	podMonitor  = "monitoring.coreos.com/v1/PodMonitor"
)

// values is what `helm template -f FILE... --set EXPR...` would merge: the
// files in order (from the chart's ci/ directory), then the --set
// expressions.
type values struct {
	files []string
	set   []string
}

func (v values) load(t *testing.T) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, f := range v.files {
		m, err := common.ReadValuesFile(filepath.Join(chartDir, "ci", f))
		if err != nil {
			t.Fatalf("values file %s: %v", f, err)
		}
		out = merge(out, m)
	}
	for _, s := range v.set {
		if err := strvals.ParseInto(s, out); err != nil {
			t.Fatalf("--set %s: %v", s, err)
		}
	}
	return out
}

// merge is helm's values merge (pkg/cli/values): maps merge key by key,
// anything else in src replaces dst.
func merge(dst, src map[string]any) map[string]any {
	out := maps.Clone(dst)
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = merge(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// rendered is one `helm template` output, decoded.
type rendered struct {
	notes   string
	objects []runtime.Object
	names   []string // "Kind/name", as rendered
}

// render runs what `helm template` does (action.Install with ClientOnly:
// kubeVersion check, values with the schema, engine.Render, NOTES.txt
// apart) with the given extra API versions (--api-versions), then decodes
// every object strictly.
func render(t *testing.T, v values, apis ...string) (*rendered, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps.KubeVersion = *kv
	caps.APIVersions = append(slices.Clone(caps.APIVersions), apis...)
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		t.Fatalf("chart kubeVersion %s excludes %s", ch.Metadata.KubeVersion, kubeVersion)
	}
	opts := common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValuesWithSchemaValidation(ch, v.load(t), opts, caps, false)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return nil, err
	}
	r := &rendered{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		switch {
		case strings.HasSuffix(name, "/NOTES.txt"):
			r.notes = files[name]
			continue
		case strings.HasPrefix(filepath.Base(name), "_"):
			continue
		}
		for _, doc := range splitManifests(files[name]) {
			obj, err := decodeStrict([]byte(doc))
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			r.objects = append(r.objects, obj)
			r.names = append(r.names, objectName(obj))
		}
	}
	return r, nil
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// splitManifests splits a rendered file into its YAML documents, dropping
// empty ones (templates whose condition is false render to nothing).
func splitManifests(s string) []string {
	var docs []string
	for _, d := range docSep.Split(s, -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// scheme knows exactly the kinds the chart may render.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strict decodes YAML as the API server does with fieldValidation=Strict:
// unknown fields, duplicate fields and fields in the wrong case are errors.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

func decodeStrict(doc []byte) (runtime.Object, error) {
	obj, gvk, err := strict.Decode(doc, nil, nil)
	if err != nil {
		if runtime.IsStrictDecodingError(err) {
			return nil, fmt.Errorf("strict decoding: %w", err)
		}
		return nil, err
	}
	if gvk.Version == "" || gvk.Kind == "" {
		return nil, errors.New("no apiVersion or kind")
	}
	return obj, nil
}

func objectName(o runtime.Object) string {
	m, ok := o.(interface{ GetName() string })
	kind := strings.TrimPrefix(fmt.Sprintf("%T", o), "*")
	kind = kind[strings.LastIndex(kind, ".")+1:]
	if !ok {
		return kind
	}
	return kind + "/" + m.GetName()
}

// runLint runs helm's linter (what `helm lint --strict` reports: lint.RunAll
// is what action.Lint calls) with the values, and fails on warnings too.
func runLint(t *testing.T, v values) {
	t.Helper()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	res := lint.RunAll(chartDir, v.load(t), namespace, lint.WithKubeVersion(kv))
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		} else {
			t.Logf("helm lint: %s", m)
		}
	}
}

// chartFiles returns the chart's template sources, by name.
func chartFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	dir := filepath.Join(chartDir, "templates")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
