package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// want is what a case expects of the rendered chart.
type want struct {
	daemonset   bool     // else a Deployment and its Service
	singlePort  bool     // --single-port on the command line
	caps        []string // capabilities added, in any order
	readiness   bool     // a readiness probe
	cache       string   // "": no cache; "emptyDir", "ephemeral", "claim"
	mapFile     bool     // a ConfigMap with the map file, passed as -m
	podMonitor  bool     // a PodMonitor
	readOnly    bool     // --read-only and the root mounted read-only
	serviceType corev1.ServiceType
	nodePort    int32
	args        []string // more arguments that must appear, in this order
	notes       []string // substrings of NOTES.txt
}

var (
	baseCaps = []string{"SETUID", "SETGID", "SYS_CHROOT", "KILL"}
	allCaps  = append([]string{"NET_BIND_SERVICE", "CHOWN"}, baseCaps...)
)

var cases = []struct {
	name string
	v    values
	apis []string
	want want
}{
	{
		name: "defaults",
		want: want{daemonset: true, caps: allCaps, readiness: true, cache: "emptyDir", readOnly: true,
			args:  []string{"-L", "-a", ":69", "-s", "/srv/tftp", "-u", "nobody"},
			notes: []string{"http.origin is empty", "next-server"}},
	},
	{
		name: "daemonset everything on",
		v:    values{files: []string{"daemonset-values.yaml"}},
		apis: []string{podMonitor},
		want: want{daemonset: true, caps: allCaps, readiness: true, cache: "emptyDir", mapFile: true, podMonitor: true, readOnly: true,
			args: []string{"--verbosity", "1", "-m", "/etc/fbtftp/map", "--http-origin", "http://boot-content.infra.svc.cluster.local./tftp/",
				"--http-allow-net", "10.96.0.0/12", "--http-cache", "/var/cache/fbtftp", "--http-cache-size", "4G",
				"--http-cache-max-age", "10m", "-B", "1468"}},
	},
	{
		name: "daemonset without the PodMonitor CRD",
		v:    values{files: []string{"daemonset-values.yaml"}},
		want: want{daemonset: true, caps: allCaps, readiness: true, cache: "emptyDir", mapFile: true, readOnly: true,
			notes: []string{"no PodMonitor was made"}},
	},
	{
		name: "deployment behind a NodePort",
		v:    values{files: []string{"deployment-values.yaml"}},
		want: want{singlePort: true, caps: allCaps, cache: "ephemeral", readOnly: true, serviceType: corev1.ServiceTypeNodePort, nodePort: 30069,
			args: []string{"--http-origin", "https://boot-content.example.com/tftp/"}},
	},
	{
		name: "deployment behind a LoadBalancer, existing claim, readiness",
		v: values{files: []string{"deployment-values.yaml"}, set: []string{
			"service.type=LoadBalancer", "http.cache.persistence.existingClaim=fbtftp-cache", "probes.readinessBehindService=true"}},
		want: want{singlePort: true, caps: allCaps, readiness: true, cache: "claim", readOnly: true, serviceType: corev1.ServiceTypeLoadBalancer},
	},
	{
		name: "no cache, unprivileged port",
		v:    values{set: []string{"http.cache.enabled=false", "tftp.port=6969", "http.origin=http://origin.example./"}},
		want: want{daemonset: true, caps: baseCaps, readiness: true, readOnly: true, args: []string{"-a", ":6969"}},
	},
	{
		name: "daemonset with single-port forced",
		v:    values{set: []string{"tftp.singlePort=true"}},
		want: want{daemonset: true, singlePort: true, caps: allCaps, readiness: true, cache: "emptyDir", readOnly: true},
	},
	{
		name: "deployment with single-port off",
		v:    values{set: []string{"mode=deployment", "tftp.singlePort=false"}},
		want: want{caps: allCaps, cache: "emptyDir", readOnly: true, serviceType: corev1.ServiceTypeLoadBalancer,
			notes: []string{"tftp.singlePort is false behind a Service"}},
	},
	{
		name: "uploads",
		v:    values{set: []string{"tftp.readOnly=false", "tftp.user=65534", "tftp.address=10.0.0.5"}},
		want: want{daemonset: true, caps: allCaps, readiness: true, cache: "emptyDir", args: []string{"-a", "10.0.0.5:69", "-s", "/srv/tftp", "-u", "65534"}},
	},
}

// TestRender renders every case as `helm template` does, decodes each
// object strictly into its API type, and checks what the chart promises.
func TestRender(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := render(t, c.v, c.apis...)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			checkRendered(t, r, c.v, c.want)
		})
	}
}

// TestLint runs helm's linter on every case's values.
func TestLint(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runLint(t, c.v) })
	}
}

// TestRenderRefuses: value combinations that cannot work fail the render
// with a message naming the value.
func TestRenderRefuses(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"mode=statefulset"}, "mode must be daemonset or deployment"},
		{[]string{"http.cache.path=/srv/tftp/cache"}, "http.cache.path must lie outside root.path"},
		{[]string{"http.cache.path=/srv/tftp/"}, "http.cache.path must lie outside root.path"},
		{[]string{"tftp.singlePort=maybe"}, "tftp.singlePort must be auto, true or false"},
		{[]string{"mode=deployment", "service.type=ClusterIP"}, "service.type must be LoadBalancer or NodePort"},
	} {
		t.Run(strings.Join(c.set, ","), func(t *testing.T) {
			_, err := render(t, values{set: c.set})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("render error %v, want one saying %q", err, c.want)
			}
		})
	}
	// A cache beside the root, not in it, is fine.
	if _, err := render(t, values{set: []string{"http.cache.path=/srv/tftp-cache"}}); err != nil {
		t.Errorf("cache at /srv/tftp-cache: %v", err)
	}
}

func checkRendered(t *testing.T, r *rendered, v values, w want) {
	t.Helper()
	var (
		pod      *corev1.PodTemplateSpec
		selector map[string]string
		svc      *corev1.Service
		cm       *corev1.ConfigMap
		pm       *monitoringv1.PodMonitor
	)
	for _, o := range r.objects {
		switch o := o.(type) {
		case *appsv1.DaemonSet:
			if !w.daemonset || pod != nil {
				t.Fatalf("unexpected DaemonSet; rendered %v", r.names)
			}
			pod, selector = &o.Spec.Template, o.Spec.Selector.MatchLabels
		case *appsv1.Deployment:
			if w.daemonset || pod != nil {
				t.Fatalf("unexpected Deployment; rendered %v", r.names)
			}
			pod, selector = &o.Spec.Template, o.Spec.Selector.MatchLabels
			if o.Spec.Strategy.RollingUpdate == nil || o.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
				t.Errorf("Deployment strategy %+v: want maxUnavailable 0", o.Spec.Strategy)
			}
		case *corev1.Service:
			svc = o
		case *corev1.ConfigMap:
			cm = o
		case *monitoringv1.PodMonitor:
			pm = o
		default:
			t.Errorf("unexpected object %T", o)
		}
		checkMeta(t, o)
	}
	if pod == nil {
		t.Fatalf("no workload; rendered %v", r.names)
	}
	if !labels.SelectorFromSet(selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("selector %v does not select the pod labels %v", selector, pod.Labels)
	}
	spec := &pod.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	ctr := &spec.Containers[0]
	args := ctr.Args
	checkMasterArgs(t, args)
	if w.args != nil && !hasSubsequence(args, w.args) {
		t.Errorf("args %q lack %q", args, w.args)
	}
	if got := slices.Contains(args, "--single-port"); got != w.singlePort {
		t.Errorf("--single-port in args: %v, want %v (args %q)", got, w.singlePort, args)
	}
	if got := slices.Contains(args, "--read-only"); got != w.readOnly {
		t.Errorf("--read-only in args: %v, want %v", got, w.readOnly)
	}

	// Ports: the TFTP port and the metrics port are the ones the master is
	// told to listen on.
	ports := map[string]corev1.ContainerPort{}
	for _, p := range ctr.Ports {
		ports[p.Name] = p
		if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
			t.Errorf("port name %q: %v", p.Name, errs)
		}
	}
	tftpPort, metricsPort := ports["tftp"], ports["metrics"]
	if tftpPort.Protocol != corev1.ProtocolUDP || !strings.HasSuffix(argAfter(args, "-a"), ":"+strconv.Itoa(int(tftpPort.ContainerPort))) {
		t.Errorf("tftp port %+v, -a %q", tftpPort, argAfter(args, "-a"))
	}
	if metricsPort.Protocol != corev1.ProtocolTCP || argAfter(args, "--metrics-addr") != fmt.Sprintf(":%d", metricsPort.ContainerPort) {
		t.Errorf("metrics port %+v, --metrics-addr %q", metricsPort, argAfter(args, "--metrics-addr"))
	}

	checkSecurity(t, spec, ctr, w)
	checkProbes(t, ctr, w)
	checkVolumes(t, spec, ctr, args, cm, w)

	if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests", ctr.Resources)
	}
	if lim := ctr.Resources.Limits.Memory(); !lim.IsZero() && lim.Cmp(*ctr.Resources.Requests.Memory()) < 0 {
		t.Errorf("memory limit %v below the request", lim)
	}
	drain := strings.TrimSuffix(argAfter(args, "--drain-timeout"), "s")
	if d, err := strconv.Atoi(drain); err != nil || spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= int64(d) {
		t.Errorf("terminationGracePeriodSeconds %v must exceed --drain-timeout %ss", spec.TerminationGracePeriodSeconds, drain)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; the server never talks to the API")
	}

	if w.daemonset {
		if !spec.HostNetwork || spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("DaemonSet: hostNetwork %v, dnsPolicy %q; want true, ClusterFirstWithHostNet", spec.HostNetwork, spec.DNSPolicy)
		}
		if svc != nil {
			t.Error("DaemonSet with a Service")
		}
	} else {
		if spec.HostNetwork {
			t.Error("Deployment on hostNetwork")
		}
		checkService(t, svc, pod, w)
	}

	if (pm != nil) != w.podMonitor {
		t.Errorf("PodMonitor rendered: %v, want %v", pm != nil, w.podMonitor)
	}
	if pm != nil {
		sel := labels.SelectorFromSet(pm.Spec.Selector.MatchLabels)
		if !sel.Matches(labels.Set(pod.Labels)) || len(pm.Spec.PodMetricsEndpoints) != 1 {
			t.Errorf("PodMonitor %+v does not select the pods", pm.Spec)
		} else if ep := pm.Spec.PodMetricsEndpoints[0]; ep.Port == nil || *ep.Port != "metrics" || ep.Path != "/metrics" {
			t.Errorf("PodMonitor endpoint %+v: want port metrics, path /metrics", ep)
		}
	}
	for _, n := range w.notes {
		if !strings.Contains(r.notes, n) {
			t.Errorf("NOTES.txt lacks %q:\n%s", n, r.notes)
		}
	}
}

// checkSecurity: uid 0 (the master must be root to chroot workers and drop
// them to the user), a read-only root file system, no privilege
// escalation, and exactly the capabilities the case needs.
func checkSecurity(t *testing.T, spec *corev1.PodSpec, ctr *corev1.Container, w want) {
	t.Helper()
	psc, sc := spec.SecurityContext, ctr.SecurityContext
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 0 {
		t.Errorf("pod securityContext %+v: want runAsUser 0", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Fatal("root file system not read-only")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || (sc.Privileged != nil && *sc.Privileged) {
		t.Error("privilege escalation allowed or privileged")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Fatalf("capabilities %+v: want drop ALL", sc.Capabilities)
	}
	var got []string
	for _, c := range sc.Capabilities.Add {
		got = append(got, string(c))
	}
	slices.Sort(got)
	exp := slices.Sorted(slices.Values(w.caps))
	if !slices.Equal(got, exp) {
		t.Errorf("capabilities added %v, want %v", got, exp)
	}
}

func checkProbes(t *testing.T, ctr *corev1.Container, w want) {
	t.Helper()
	healthz := func(name string, p *corev1.Probe) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v: want GET /healthz on port metrics", name, p)
		}
	}
	healthz("startup", ctr.StartupProbe)
	healthz("liveness", ctr.LivenessProbe)
	if w.readiness {
		healthz("readiness", ctr.ReadinessProbe)
	} else if ctr.ReadinessProbe != nil {
		t.Errorf("readiness probe %+v behind a Service: a draining pod would lose its UDP flows", ctr.ReadinessProbe)
	}
}

// checkVolumes: every mount has a volume with one source; the root, cache
// and map file paths on the command line are the mounted ones.
func checkVolumes(t *testing.T, spec *corev1.PodSpec, ctr *corev1.Container, args []string, cm *corev1.ConfigMap, w want) {
	t.Helper()
	vols := map[string]*corev1.Volume{}
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if errs := validation.IsDNS1123Label(v.Name); len(errs) > 0 {
			t.Errorf("volume name %q: %v", v.Name, errs)
		}
		if n := countSources(v.VolumeSource); n != 1 {
			t.Errorf("volume %s has %d sources", v.Name, n)
		}
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{} // by path
	for _, m := range ctr.VolumeMounts {
		if vols[m.Name] == nil {
			t.Errorf("mount %s: no volume %q", m.MountPath, m.Name)
		}
		mounts[m.MountPath] = m
	}
	root, ok := mounts[argAfter(args, "-s")]
	if !ok || root.Name != "root" {
		t.Errorf("-s %q is not the root volume's mount", argAfter(args, "-s"))
	} else if root.ReadOnly != w.readOnly {
		t.Errorf("root mounted read-only: %v, want %v", root.ReadOnly, w.readOnly)
	}

	cacheDir := argAfter(args, "--http-cache")
	if (cacheDir != "") != (w.cache != "") {
		t.Errorf("--http-cache %q, want a cache: %v", cacheDir, w.cache != "")
	}
	if w.cache != "" {
		m, ok := mounts[cacheDir]
		if !ok || vols[m.Name] == nil {
			t.Fatalf("--http-cache %s is not a mounted volume", cacheDir)
		}
		src := vols[m.Name].VolumeSource
		got := map[bool]string{src.EmptyDir != nil: "emptyDir", src.Ephemeral != nil: "ephemeral", src.PersistentVolumeClaim != nil: "claim"}[true]
		if got != w.cache || m.ReadOnly {
			t.Errorf("cache volume %+v (read-only %v), want %s", src, m.ReadOnly, w.cache)
		}
		if src.EmptyDir != nil && src.EmptyDir.SizeLimit == nil {
			t.Error("cache emptyDir without a sizeLimit")
		}
	} else if _, ok := vols["cache"]; ok {
		t.Error("cache volume without --http-cache")
	}

	mapArg := argAfter(args, "-m")
	if (mapArg != "") != w.mapFile || (cm != nil) != w.mapFile {
		t.Fatalf("-m %q, ConfigMap %v, want a map file: %v", mapArg, cm != nil, w.mapFile)
	}
	if w.mapFile {
		dir, key := mapArg[:strings.LastIndex(mapArg, "/")], mapArg[strings.LastIndex(mapArg, "/")+1:]
		m, ok := mounts[dir]
		if !ok || vols[m.Name].ConfigMap == nil || vols[m.Name].ConfigMap.Name != cm.Name {
			t.Fatalf("-m %s: %s is not the ConfigMap %s", mapArg, dir, cm.Name)
		}
		if cm.Data[key] == "" {
			t.Fatalf("ConfigMap %s has no %q", cm.Name, key)
		}
		checkMapFile(t, cm.Data[key])
	}
}

func countSources(s corev1.VolumeSource) int {
	n := 0
	for _, set := range []bool{s.HostPath != nil, s.EmptyDir != nil, s.Ephemeral != nil, s.PersistentVolumeClaim != nil,
		s.ConfigMap != nil, s.Secret != nil, s.NFS != nil, s.CSI != nil, s.Image != nil, s.Projected != nil} {
		if set {
			n++
		}
	}
	return n
}

func checkService(t *testing.T, svc *corev1.Service, pod *corev1.PodTemplateSpec, w want) {
	t.Helper()
	if svc == nil {
		t.Fatal("Deployment without a Service")
	}
	if svc.Spec.Type != w.serviceType || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("Service type %q, externalTrafficPolicy %q; want %q, Local", svc.Spec.Type, svc.Spec.ExternalTrafficPolicy, w.serviceType)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("Service selector %v does not select the pods", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service ports %+v", svc.Spec.Ports)
	}
	p := svc.Spec.Ports[0]
	if p.Protocol != corev1.ProtocolUDP || p.TargetPort.String() != "tftp" || p.NodePort != w.nodePort {
		t.Errorf("Service port %+v: want UDP to target port tftp, nodePort %d", p, w.nodePort)
	}
}

// checkMeta: names and labels Kubernetes accepts.
func checkMeta(t *testing.T, o any) {
	t.Helper()
	m, ok := o.(interface {
		GetName() string
		GetNamespace() string
		GetLabels() map[string]string
	})
	if !ok {
		t.Fatalf("%T has no metadata", o)
	}
	if errs := validation.IsDNS1123Subdomain(m.GetName()); len(errs) > 0 {
		t.Errorf("name %q: %v", m.GetName(), errs)
	}
	if m.GetNamespace() != namespace {
		t.Errorf("%s: namespace %q, want the release's", m.GetName(), m.GetNamespace())
	}
	for k, v := range m.GetLabels() {
		if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
			t.Errorf("%s: label %s=%s: %v", m.GetName(), k, v, errs)
		}
	}
}

// argAfter returns the argument following flag, "" when flag is absent.
func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// hasSubsequence reports whether want appears in args in order (not
// necessarily adjacent: flags keep their values next to them anyway).
func hasSubsequence(args, want []string) bool {
	i := 0
	for _, a := range args {
		if i < len(want) && a == want[i] {
			i++
		}
	}
	return i == len(want)
}
