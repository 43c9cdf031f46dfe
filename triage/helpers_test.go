package triage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"lookout/classifier"
	"lookout/internal/redistest"
)

func newTestStore(t testing.TB, tweak ...func(*Routing)) (*Store, *redistest.Server) {
	t.Helper()
	rs := redistest.Start(t)
	r := DefaultRouting()
	for _, f := range tweak {
		f(&r)
	}
	s, err := NewStore(rs.Client, DefaultRouting(), testIDs)
	if err != nil {
		t.Fatal(err)
	}
	s.setRouting(r) // tests may use leases shorter than Validate allows
	return s, rs
}

// testIDs are the pseudonyms of the tests' stores: keyed, as in production.
var testIDs = func() Pseudonyms {
	p, err := NewPseudonyms("lookout-tests-pseudonym-key-0123456789")
	if err != nil {
		panic(err)
	}
	return p
}()

var postSeq int

// seed records one flagged post by author at level and returns its case.
func seed(t testing.TB, s *Store, author string, level int) string {
	t.Helper()
	postSeq++
	out, id, err := s.Record(context.Background(), Post{ID: fmt.Sprintf("p%d", postSeq), AuthorID: author,
		Text: "我想死 @someone http://x.example/1", CreatedAt: time.Now(), URL: "https://weibo.example/" + author},
		classifier.Result{Level: level, PHigh: 0.8, Model: "test",
			Evidence: []classifier.Evidence{{Start: 0, End: 3, Text: "我想死", Kind: classifier.KindIntent}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if out == OutcomeNotFlagged {
		t.Fatalf("level %d post not flagged", level)
	}
	return id
}

// seedResolved seeds a case at level and has a volunteer resolve it as
// reached and safe.
func seedResolved(t testing.TB, s *Store, author string, level int) string {
	t.Helper()
	id := seed(t, s, author, level)
	l := claim(t, s, "volunteer", RoleVolunteer, id)
	if err := s.Resolve(context.Background(), "volunteer", id, l.Token, Resolution{Outcome: "reached_safe"}); err != nil {
		t.Fatal(err)
	}
	return id
}

func ctxT() context.Context { return context.Background() }

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// auditCount counts the events of the audit log (a case's, or with
// caseID empty the newest limit of the global one) that match.
func auditCount(t testing.TB, s *Store, caseID string, limit int, match func(AuditEvent) bool) int {
	t.Helper()
	events, err := s.Audit(context.Background(), caseID, limit)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if match(e) {
			n++
		}
	}
	return n
}

// isAction matches the audit events of one action.
func isAction(action string) func(AuditEvent) bool {
	return func(e AuditEvent) bool { return e.Action == action }
}

// claim takes case id for who (acting with role), failing the test if
// it cannot.
func claim(t testing.TB, s *Store, who string, role Role, id string) Lease {
	t.Helper()
	l, err := s.Claim(context.Background(), who, role, id)
	if err != nil {
		t.Fatalf("%s claims %s: %v", who, id, err)
	}
	return l
}

// addUser adds an account whose password is "password-" and its name.
func addUser(t testing.TB, s *Store, name string, role Role) {
	t.Helper()
	if err := s.AddUser(context.Background(), "test", name, role, "password-"+name); err != nil {
		t.Fatal(err)
	}
}

// gauges gathers the queue collector's figures, keyed by metric name and
// label value, as in lookout_triage_pending_cases{8}.
func gauges(t testing.TB, s *Store) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewQueueCollector(s))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				got[f.GetName()+"{"+l.GetValue()+"}"] = m.GetGauge().GetValue()
			}
		}
	}
	return got
}

// runOutLease makes a case's lease end in the past, in the case and in
// the lease index, as if its holder had gone quiet.
func runOutLease(rs *redistest.Server, id string) {
	rs.Client.HSet(context.Background(), keyCase(id), "lease_ms", 1)
	rs.Client.ZAdd(context.Background(), keyLeases, redisZ(1, id))
}

// dumpRedis reads every key in Redis: its name and contents as text.
func dumpRedis(t testing.TB, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		var dump string
		switch rdb.Type(ctx, k).Val() {
		case "string":
			dump = rdb.Get(ctx, k).Val()
		case "hash":
			dump = fmt.Sprint(rdb.HGetAll(ctx, k).Val())
		case "list":
			dump = fmt.Sprint(rdb.LRange(ctx, k, 0, -1).Val())
		case "set":
			dump = fmt.Sprint(rdb.SMembers(ctx, k).Val())
		case "zset":
			dump = fmt.Sprint(rdb.ZRange(ctx, k, 0, -1).Val())
		case "stream":
			dump = fmt.Sprint(rdb.XRange(ctx, k, "-", "+").Val())
		}
		out[k] = dump
	}
	return out
}
