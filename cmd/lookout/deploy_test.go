package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"lookout/internal/redistest"
	"lookout/triage"
)

var deployDir = filepath.Join("..", "..", "deploy")

// needTool returns the path of a tool, skipping the test without it
// (failing under CI, where make test installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found; make test installs Debian's %s", name, pkg)
		}
		t.Skipf("%s not found; install Debian's %s (make test does)", name, pkg)
	}
	return p
}

func TestAlertRulesValid(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", filepath.Join(deployDir, "prometheus", "alerts.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool: %s", out)
	}
}

// TestAlertRulesBehave: the alert rules' unit tests (promtool test rules
// deploy/prometheus/alerts_test.yml) pass, and each alert has one in which
// it fires: an alert added without a test fails here.
func TestAlertRulesBehave(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	tests := filepath.Join(deployDir, "prometheus", "alerts_test.yml")
	out, err := exec.Command(promtool, "test", "rules", tests).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var cases struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	for path, v := range map[string]any{filepath.Join(deployDir, "prometheus", "alerts.yml"): &rules, tests: &cases} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	fires := map[string]bool{}
	for _, tc := range cases.Tests {
		for _, at := range tc.AlertRuleTest {
			fires[at.Alertname] = fires[at.Alertname] || len(at.ExpAlerts) > 0
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s has no test in which it fires (%s)", r.Alert, tests)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d alerts read from alerts.yml", n)
	}
}

func TestComposeFileParses(t *testing.T) {
	dc := needTool(t, "docker-compose", "docker-compose")
	cmd := exec.Command(dc, "-f", filepath.Join(deployDir, "docker-compose.yml"), "config", "-q")
	cmd.Env = append(os.Environ(), "LOOKOUT_REDIS_PASSWORD=test", "LOOKOUT_PSEUDONYM_KEY=test-key-of-at-least-thirty-two-chars")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	// Without a pseudonym key compose refuses to start, and says why.
	cmd = exec.Command(dc, "-f", filepath.Join(deployDir, "docker-compose.yml"), "config", "-q")
	cmd.Env = append(os.Environ(), "LOOKOUT_REDIS_PASSWORD=test", "LOOKOUT_PSEUDONYM_KEY=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "LOOKOUT_PSEUDONYM_KEY") {
		t.Fatalf("docker-compose config without a pseudonym key: %v\n%s", err, out)
	}
	var doc struct {
		Services map[string]struct {
			Command any `yaml:"command"`
		} `yaml:"services"`
	}
	b, _ := os.ReadFile(filepath.Join(deployDir, "docker-compose.yml"))
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"kafka", "redis", "lookout-1", "lookout-2", "prometheus", "grafana"} {
		if _, ok := doc.Services[s]; !ok {
			t.Errorf("compose has no %s service", s)
		}
	}
	redisCmd, _ := json.Marshal(doc.Services["redis"].Command)
	for _, want := range []string{"noeviction", "appendonly", "always"} {
		if !strings.Contains(string(redisCmd), want) {
			t.Errorf("redis command lacks %s: %s", want, redisCmd)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(deployDir, "k8s", "*.yaml"))
	kinds := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind, _ := doc["kind"].(string)
		if kind == "" || doc["apiVersion"] == nil {
			t.Fatalf("%s: no kind or apiVersion", f)
		}
		kinds[kind] = doc
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "Kustomization"} {
		if kinds[k] == nil {
			t.Errorf("no %s manifest", k)
		}
	}
	dep, _ := json.Marshal(kinds["Deployment"])
	for _, want := range []string{`"path":"/healthz"`, `"path":"/readyz"`, `"requests"`, `"runAsNonRoot":true`, `"secretKeyRef"`, `"readinessProbe"`, `"livenessProbe"`,
		`"name":"LOOKOUT_PSEUDONYM_KEY"`} {
		if !strings.Contains(string(dep), want) {
			t.Errorf("Deployment lacks %s", want)
		}
	}
}

var reMetric = regexp.MustCompile(`\blookout_[a-z0-9_]*[a-z0-9]`)

// TestDashboardAndAlertMetricsExported: every lookout metric that the
// Grafana dashboard or an alert rule queries is exported by a running
// lookout after it has done some work.
func TestDashboardAndAlertMetricsExported(t *testing.T) {
	var queried []string
	dash, err := os.ReadFile(filepath.Join(deployDir, "grafana", "dashboards", "lookout.json"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			queried = append(queried, reMetric.FindAllString(tg.Expr, -1)...)
		}
	}
	queried = append(queried, reMetric.FindAllString(string(rules), -1)...)
	slices.Sort(queried)
	queried = slices.Compact(queried)
	if len(queried) < 20 {
		t.Fatalf("only %d metrics found in the dashboard and rules", len(queried))
	}

	// A lookout that has consumed, scored, dead-lettered, claimed,
	// escalated and resolved.
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	l := mixPosts(t, 9, 200, 7, 0.3, "metrics")
	produce(t, brokers, l.messages)
	base, store, _ := runInProcessWith(t, nil, func(c *serveConfig) {
		c.Brokers, c.RedisURL, c.Group = strings.Join(brokers, ","), rs.URL(), "metrics"
	})
	waitCommitted(t, brokers, "metrics", 30*time.Second)
	bg := context.Background()
	for i, outcome := range []string{"", "reached_safe"} {
		lease, err := store.Claim(bg, "vol", triage.RoleVolunteer, "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			err = store.Escalate(bg, "vol", lease.CaseID, lease.Token, "needs_handover", "")
		} else {
			err = store.Resolve(bg, "vol", lease.CaseID, lease.Token, triage.Resolution{Outcome: outcome})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if resp, err := http.Get(base + "/api/v1/me"); err == nil {
		resp.Body.Close()
	}
	time.Sleep(2500 * time.Millisecond) // one readiness check
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	exported := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i > 0 {
			name = line[:i]
		}
		exported[name] = true
	}
	for _, m := range queried {
		if !exported[m] {
			t.Errorf("%s is queried by the dashboard or an alert rule but not exported", m)
		}
	}
	// No post text or author id in any label.
	for _, banned := range []string{"author-", "想死", "metrics-"} {
		if strings.Contains(string(body), banned) {
			t.Errorf("/metrics contains %q", banned)
		}
	}
}
