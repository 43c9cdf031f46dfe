package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"lookout/classifier"
	"lookout/internal/redistest"
	"lookout/triage"
)

const committedModel = "../../models/risk.model"

// TestScoreCommand: `lookout score` writes one line per non-blank input
// line, in order; other fields pass through as written (a 20-digit id
// stays exact); a bad line becomes {"error": ...} naming its line number
// and the run goes on; the exit status is 1 when any line failed.
func TestScoreCommand(t *testing.T) {
	in := strings.Join([]string{
		`{"id": 12345678901234567891, "text": "今晚吃了一整瓶安眠药，永别了", "src": {"k": [1, 2.50]}}`,
		``,
		`not json`,
		`{"id": "b", "text": 5}`,
		`{"id": "c", "text": null}`,
		`[1, 2]`,
		`{"id": "d", "text": ""}`,
		`{"id": "e", "text": "今天天气真好，出去散步了"}`,
	}, "\n") // no newline after the last line
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"score", "--model", committedModel}, mapEnv(nil), strings.NewReader(in), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (some lines failed); stderr %q", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "4 line(s) failed") {
		t.Errorf("stderr %q, want the count of failed lines", stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d output lines, want 7 (one per non-blank input line):\n%s", len(lines), stdout.String())
	}
	if !strings.Contains(lines[0], `"id":12345678901234567891`) || !strings.Contains(lines[0], `"src":{"k":[1,2.50]}`) {
		t.Errorf("fields not passed through as written: %s", lines[0])
	}
	var first struct {
		Level    int                   `json:"level"`
		PHigh    float64               `json:"p_high"`
		Flagged  bool                  `json:"flagged"`
		Model    string                `json:"model"`
		Text     string                `json:"text"`
		Evidence []classifier.Evidence `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Level < 9 || !first.Flagged || first.PHigh < 0.5 || first.Model == "" || first.Text != "今晚吃了一整瓶安眠药，永别了" {
		t.Errorf("an overdose under way with a farewell: %+v, want level 9-10, flagged, the model named", first)
	}
	if !slices.ContainsFunc(first.Evidence, func(e classifier.Evidence) bool { return e.Kind == classifier.KindProgress }) {
		t.Errorf("evidence %+v, want the attempt under way", first.Evidence)
	}
	wantErr := map[int]string{1: "line 3: not a JSON object", 2: `line 4: missing string field \"text\"`,
		3: `line 5: missing string field \"text\"`, 4: "line 6: not a JSON object"}
	for i, want := range wantErr {
		if lines[i] != `{"error":"`+want+`"}` {
			t.Errorf("output line %d = %s, want the error %q", i+1, lines[i], want)
		}
	}
	for i, want := range map[int]string{5: `"id":"d"`, 6: `"id":"e"`} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil || !strings.Contains(lines[i], want) {
			t.Fatalf("output line %d = %s, want a graded record with %s", i+1, lines[i], want)
		}
		if rec["level"] != float64(0) || rec["flagged"] != false {
			t.Errorf("output line %d = %s, want level 0, not flagged", i+1, lines[i])
		}
	}

	// All lines good: exit 0, nothing on stderr.
	stdout.Reset()
	stderr.Reset()
	code = run(context.Background(), []string{"score", "--model", committedModel}, mapEnv(nil),
		strings.NewReader("{\"text\":\"出去散步\"}\n\n{\"text\":\"下班了\"}\n"), &stdout, &stderr)
	if code != 0 || stderr.Len() != 0 || strings.Count(stdout.String(), "\n") != 2 {
		t.Errorf("good input: exit %d, stderr %q, stdout %q; want 0, nothing, two lines", code, stderr.String(), stdout.String())
	}
}

// TestScoreCommandRoutingAndModel: --thresholds decides "flagged" as the
// triage would (a level-4 post is flagged once the watch list starts at
// 4); an empty --model grades with the knowledge layer alone; a bad
// thresholds file or model path refuses to start and names it.
func TestScoreCommandRoutingAndModel(t *testing.T) {
	dir := t.TempDir()
	watch4 := writeRouting(t, dir, `{"watch_level": 4}`)
	queue4 := writeRouting(t, dir, `{"queue_level": 4, "watch_level": 4}`)
	bad := writeRouting(t, dir, `{"watch_level": "x"}`)
	const post = `{"text":"我不想活了"}` + "\n"
	grade := func(args ...string) (map[string]any, int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"score"}, args...), mapEnv(nil), strings.NewReader(post), &stdout, &stderr)
		var rec map[string]any
		if code == 0 {
			if err := json.Unmarshal(stdout.Bytes(), &rec); err != nil {
				t.Fatalf("%v: %s", err, stdout.String())
			}
		}
		return rec, code, stderr.String()
	}
	rec, code, _ := grade("--model", committedModel)
	if code != 0 || rec["level"] != float64(4) || rec["flagged"] != false {
		t.Fatalf("default routing: exit %d, %v; want level 4, not flagged (the queue starts at 6)", code, rec)
	}
	if rec, code, _ := grade("--model", committedModel, "--thresholds", watch4); code != 0 || rec["flagged"] != false {
		t.Errorf("watch list from 4: exit %d, %v; want not flagged: \"flagged\" is the volunteer queue, not the watch list", code, rec)
	}
	if rec, code, _ := grade("--model", committedModel, "--thresholds", queue4); code != 0 || rec["flagged"] != true {
		t.Errorf("queue from 4: exit %d, %v; want flagged", code, rec)
	}
	rules, code, _ := grade("--model", "")
	if code != 0 || rules["model"] == rec["model"] || rules["level"] == nil {
		t.Errorf("knowledge layer alone: exit %d, %v; want a grade under another model name than %v", code, rules, rec["model"])
	}
	if _, code, stderr := grade("--model", committedModel, "--thresholds", bad); code == 0 || !strings.Contains(stderr, "watch_level") {
		t.Errorf("bad thresholds: exit %d, stderr %q; want a refusal naming watch_level", code, stderr)
	}
	if _, code, stderr := grade("--model", filepath.Join(dir, "none.model")); code == 0 || !strings.Contains(stderr, "model") {
		t.Errorf("missing model: exit %d, stderr %q; want a refusal naming the model", code, stderr)
	}
}

func writeRouting(t *testing.T, dir, body string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "routing-*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(body); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// TestUserAndExportCommands: `lookout user` adds (printing a generated
// password that logs in), lists and disables accounts in a real Redis,
// refusing bad names and roles by name; `lookout export-labels` writes
// one labeled line per resolved case, with the volunteer's corrected
// level, and counts them on stderr.
func TestUserAndExportCommands(t *testing.T) {
	rs := redistest.Start(t)
	ctx := context.Background()
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(ctx, append(args, "--redis-url", rs.URL()), mapEnv(nil), nil, &stdout, &stderr)
		return stdout.String(), stderr.String(), code
	}
	out, errOut, code := cli("user", "add", "--name", "wang.li", "--role", "supervisor")
	if code != 0 {
		t.Fatalf("user add: exit %d: %s", code, errOut)
	}
	_, password, ok := strings.Cut(strings.TrimSpace(out), "password ")
	if !ok || len(password) < 10 {
		t.Fatalf("user add printed %q, want the generated password", out)
	}
	store, err := triage.NewStore(rs.Client, triage.DefaultRouting(), testIDs)
	if err != nil {
		t.Fatal(err)
	}
	if _, u, err := store.Login(ctx, "wang.li", password, "test"); err != nil || u.Role != triage.RoleSupervisor {
		t.Fatalf("login with the printed password: %+v, %v", u, err)
	}
	if out, errOut, code := cli("user", "add", "--name", "zhao", "--password", "a-long-password"); code != 0 || strings.Contains(out, "a-long-password") {
		t.Fatalf("user add with a password: exit %d, stdout %q, stderr %q; want success, the password not echoed", code, out, errOut)
	}
	for _, bad := range [][]string{
		{"user", "add", "--name", "wang.li"}, // taken
		{"user", "add", "--name", "x y"},
		{"user", "add", "--name", "sun", "--role", "god"},
		{"user", "add"},
	} {
		if _, errOut, code := cli(bad...); code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want a refusal that says why", bad, code, errOut)
		}
	}
	if _, errOut, _ := cli("user", "add", "--name", "sun", "--role", "god"); !strings.Contains(errOut, "role") {
		t.Errorf("bad role: stderr %q, want it named", errOut)
	}
	if _, errOut, code := cli("user", "disable", "--name", "zhao"); code != 0 {
		t.Fatalf("user disable: exit %d: %s", code, errOut)
	}
	out, _, _ = cli("user", "list")
	if !regexpLine(out, `wang\.li +supervisor +active`) || !regexpLine(out, `zhao +volunteer +disabled`) {
		t.Errorf("user list:\n%s", out)
	}
	if _, _, err := store.Login(ctx, "zhao", "a-long-password", "test"); err == nil {
		t.Error("a disabled account logged in")
	}
	// Enabled again with a new role and a new password, printed once.
	for _, args := range [][]string{{"user", "enable", "--name", "zhao"}, {"user", "role", "--name", "zhao", "--role", "moderator"}} {
		if _, errOut, code := cli(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	out, errOut, code = cli("user", "password", "--name", "zhao")
	_, password, _ = strings.Cut(out, "password for zhao, password ")
	password, _, _ = strings.Cut(password, ";")
	if code != 0 || len(password) < 10 {
		t.Fatalf("user password: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, u, err := store.Login(ctx, "zhao", password, "test"); err != nil || u.Role != triage.RoleModerator {
		t.Fatalf("after enable, role and password: %+v, %v", u, err)
	}
	if _, errOut, code := cli("user", "role", "--name", "zhao", "--role", "god"); code == 0 || !strings.Contains(errOut, "role") {
		t.Errorf("a bad role: exit %d, stderr %q", code, errOut)
	}

	// One case resolved as a false positive at level 2.
	_, caseID, err := store.Record(ctx, triage.Post{ID: "p1", AuthorID: "a1", Text: "今晚吃药早点睡", CreatedAt: time.Now()},
		classifier.Result{Level: 9, PHigh: 0.8, Model: "test"}, false)
	if err != nil || caseID == "" {
		t.Fatalf("record: case %q, %v", caseID, err)
	}
	lease, err := store.Claim(ctx, "wang.li", triage.RoleSupervisor, caseID)
	if err != nil {
		t.Fatal(err)
	}
	two := 2
	if err := store.Resolve(ctx, "wang.li", caseID, lease.Token, triage.Resolution{Outcome: "false_positive", CorrectedLevel: &two}); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code = cli("export-labels"); code == 0 || out != "" || !strings.Contains(errOut, "--by NAME is required") {
		t.Fatalf("export-labels without --by: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = cli("export-labels", "--by", "ops.zhang")
	if code != 0 || !strings.Contains(errOut, "1 labeled lines, 1 with text") {
		t.Fatalf("export-labels: exit %d, stderr %q", code, errOut)
	}
	events, err := store.Audit(ctx, caseID, 0)
	if err != nil || len(events) == 0 || events[len(events)-1].Action != "exported" || events[len(events)-1].Actor != "cli:ops.zhang" {
		t.Fatalf("the exported case's audit: %+v, %v", events, err)
	}
	var rec struct {
		Text  string `json:"text"`
		Level int    `json:"level"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Text != "今晚吃药早点睡" || rec.Level != 2 {
		t.Errorf("export-labels wrote %q (%v), want the text at the corrected level 2", out, err)
	}
	// The labels alone; since a time (a date, or RFC 3339); a bad time refused.
	if out, errOut, code = cli("export-labels", "--by", "ops.zhang", "--text=false", "--since", "2026-01-01"); code != 0 ||
		strings.Contains(out, "今晚") || !strings.Contains(out, `"level":2`) || !strings.Contains(errOut, "1 labeled lines, 0 with text") {
		t.Fatalf("export-labels --text=false: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code = cli("export-labels", "--by", "ops.zhang", "--since", time.Now().Add(time.Hour).Format(time.RFC3339)); code != 0 || out != "" ||
		!strings.Contains(errOut, "0 labeled lines") {
		t.Fatalf("export-labels since an hour on: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code = cli("export-labels", "--by", "ops.zhang", "--since", "last week"); code == 0 || !strings.Contains(errOut, `lookout export-labels: --since: "last week" is neither a date`) {
		t.Fatalf("export-labels with a bad --since: exit %d, stderr %q", code, errOut)
	}
}

// TestArchiveCommand: `lookout archive` moves the audit log's events and
// the cases closed before a date into a new file (mode 0600) and out of
// Redis; it refuses a date less than a day ago, an existing file and a
// missing --by, and leaves no file behind when it refuses.
func TestArchiveCommand(t *testing.T) {
	rs := redistest.Start(t)
	ctx := context.Background()
	cli := func(args ...string) (string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(ctx, append(args, "--redis-url", rs.URL()), mapEnv(nil), nil, &stdout, &stderr)
		return stderr.String(), code
	}
	old := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := rs.Client.XAdd(ctx, &redis.XAddArgs{Stream: "lookout:{t}:audit", ID: fmt.Sprintf("%d-0", old.UnixMilli()),
		Values: []any{"ts", old.UnixMilli(), "case", "", "actor", "wang.li", "action", "login", "detail", ""}}).Err(); err != nil {
		t.Fatal(err)
	}
	// A case resolved then, its text long expired.
	ms := strconv.FormatInt(old.UnixMilli(), 10)
	rs.Client.HSet(ctx, "lookout:{t}:case:cold", "id", "cold", "state", "resolved", "level", 8, "outcome", "reached_safe",
		"created_ms", ms, "updated_ms", ms, "resolved_ms", ms, "author_key", "0123abcd")
	rs.Client.RPush(ctx, "lookout:{t}:case:cold:audit", `{"ts":`+ms+`,"case":"cold","actor":"system","action":"created","detail":"level=8"}`)
	store, err := triage.NewStore(rs.Client, triage.DefaultRouting(), testIDs)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.AddUser(ctx, "test", "zhao", triage.RoleVolunteer, "password-zhao"); err != nil { // an event of today
		t.Fatal(err)
	}
	if err := store.CheckPseudonyms(ctx); err != nil { // the service's key
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "audit-2025.jsonl")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--before", "2025-06-01", "--out", out}, "lookout archive: --by NAME is required"},
		{[]string{"--by", "ops", "--before", time.Now().UTC().AddDate(0, 0, -10).Format(time.DateOnly), "--out", out}, "less than 28 days ago"},
		{[]string{"--by", "ops", "--before", "June", "--out", out}, `--before: "June" is neither a date`},
		{[]string{"--by", "ops", "--before", "2025-06-01", "--out", out}, "pseudonym-key: this Redis's ids are keyed"},
		{[]string{"--by", "ops", "--before", "2025-06-01", "--out", out, "--pseudonym-key", strings.Repeat("k", 32)}, "pseudonym-key: not the key"},
	} {
		if errOut, code := cli(append([]string{"archive"}, c.args...)...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Fatalf("archive %v: exit %d, %q; want %q", c.args, code, errOut, c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("a refused archive left %s behind (%v)", out, err)
		}
	}
	errOut, code := cli("archive", "--by", "ops", "--before", "2025-06-01", "--out", out, "--pseudonym-key", testPseudonymKey)
	if code != 0 || !strings.Contains(errOut, "from before 2025-06-01T00:00:00Z: 1 audit events, 0 resolutions, 1 cases (0 closed then stay") {
		t.Fatalf("archive: exit %d, %q", code, errOut)
	}
	b, err := os.ReadFile(out)
	fi, serr := os.Stat(out)
	if err != nil || serr != nil || !strings.Contains(string(b), `{"kind":"audit","id":"`+ms+`-0","ts":`+ms+`,"case":"","actor":"wang.li"`) ||
		!strings.Contains(string(b), `{"kind":"case","id":"cold","state":"resolved","level":8`) || strings.Contains(string(b), "0123abcd") ||
		strings.Count(string(b), "\n") != 2 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the archive: %q (%v, %v, %v)", b, err, serr, fi.Mode())
	}
	if n := rs.Client.Exists(ctx, "lookout:{t}:case:cold", "lookout:{t}:case:cold:audit").Val(); n != 0 {
		t.Fatalf("%d keys of the archived case are still in Redis", n)
	}
	events, _, err := store.SearchAudit(ctx, "test", triage.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Actor+":"+e.Action)
		if e.Actor == "wang.li" {
			t.Fatal("the archived event is still in Redis")
		}
	}
	if !slices.Contains(actions, "cli:ops:archived") || !slices.Contains(actions, "test:user_added") {
		t.Fatalf("the log after the archive: %v", actions)
	}
	if errOut, code = cli("archive", "--by", "ops", "--before", "2025-06-01", "--out", out, "--pseudonym-key", testPseudonymKey); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("an existing file: exit %d, %q", code, errOut)
	}
}

// regexpLine reports whether some line of text matches pattern whole.
func regexpLine(text, pattern string) bool {
	return regexp.MustCompile(`(?m)^` + pattern + ` *$`).MatchString(text)
}

// FuzzScoreLine: whatever a line holds, it is either refused with a
// message or graded into a record that encodes as one JSON line, every
// field but the five the grade writes coming back as written (compacted).
func FuzzScoreLine(f *testing.F) {
	for _, s := range []string{
		`{"id": 12345678901234567891, "text": "今晚吃了一整瓶安眠药"}`,
		`{"text": "x", "nested": {"a": [1, 2.50, null, true]}, "s": "\u00e9\ud83d\ude00"}`,
		`{"text": "x", "level": 99, "text2": "y"}`,
		`{"text": null}`, `{"text": 5}`, `[]`, `null`, `{`, `{"text": "a", "text": "b"}`,
		"{\"text\": \"\xff\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	cls := classifier.New(classifier.Options{})
	routing := triage.DefaultRouting()
	written := map[string]bool{"level": true, "p_high": true, "flagged": true, "model": true, "evidence": true}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, msg := scoreLine(cls, routing, line)
		if msg != "" {
			if rec != nil {
				t.Fatalf("refused (%s) with a record", msg)
			}
			return
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rec); err != nil {
			t.Fatalf("a graded line does not encode: %v", err)
		}
		if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
			t.Fatalf("encoded as more than one line: %q", buf.String())
		}
		var in, out map[string]json.RawMessage
		if err := json.Unmarshal(line, &in); err != nil {
			t.Fatalf("graded a line that is not a JSON object: %v", err)
		}
		if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
			t.Fatalf("output is not a JSON object: %v: %q", err, buf.String())
		}
		for k, v := range in {
			if written[k] {
				continue
			}
			var want bytes.Buffer
			if err := json.Compact(&want, v); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out[k], want.Bytes()) {
				t.Fatalf("field %q: %s in, %s out", k, want.Bytes(), out[k])
			}
		}
	})
}
