package triage

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzRequestBodies: every request body the API decodes yields a value
// or a 4xx with a message that never echoes the input; never a panic.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"token":"1","outcome":"reached_safe"}`, `{"token":"1","text":"备注"}`, `{"token":"1","reason":"other","note":"x"}`,
		`{"name":"a","password":"b"}`, `{"why":"x","routing":{"queue_level":6}}`, `{"version":2,"why":"x"}`,
		`{"token":"1","outcome":"false_positive","corrected_level":3,"follow_up":"2030-01-01T00:00:00Z"}`,
		`{}`, `[]`, `null`, `{"token":`, "\xff", `{"a":1}`, `{"corrected_level":"x"}`,
		`{"role":"supervisor","disabled":true}`, `{"disabled":"yes"}`, `{"current":"a","new":"b"}`,
	} {
		f.Add([]byte(s))
	}
	targets := []func() any{
		func() any {
			return &struct {
				Token string `json:"token"`
				Resolution
			}{}
		},
		func() any { return &struct{ Token, Text string }{} },
		func() any { return &struct{ Token, Reason, Note string }{} },
		func() any { return &struct{ Name, Password string }{} },
		func() any { return &settingsReq{} },
		func() any { return &tokenReq{} },
		func() any {
			return &struct {
				Role     *Role `json:"role"`
				Disabled *bool `json:"disabled"`
			}{}
		},
		func() any { return &struct{ Current, New string }{} },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mk := range targets {
			v := mk()
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
			if decode(w, r, v) {
				continue
			}
			if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d for a bad body", w.Code)
			}
			var e map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e["error"] == "" {
				t.Fatalf("error body %q is not {\"error\": ...}", w.Body.String())
			}
			if len(body) > 8 && bytes.Contains(w.Body.Bytes(), body) {
				t.Fatalf("error body echoes the request")
			}
		}
		if req := (&settingsReq{}); json.Unmarshal(body, req) == nil && len(req.Routing) > 0 {
			r, err := ParseRouting(req.Routing, DefaultRouting())
			var ve *ValidationError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("untyped settings error %T", err)
			}
			if err == nil && r.Validate() != nil {
				t.Fatal("accepted invalid settings")
			}
		}
		var res Resolution
		if json.Unmarshal(body, &res) == nil {
			_ = res.validate(time.Now())
		}
	})
}

// FuzzStoredRecords: the decoders of what lookout stores (timeline
// entries, notes, settings versions) never panic on any input.
func FuzzStoredRecords(f *testing.F) {
	f.Add([]byte(`{"id":"p","text":"t","level":9,"p_high":0.9,"evidence":[{"start":0,"end":1,"text":"t","kind":"method"}]}`))
	f.Add([]byte(`{"version":3,"by":"m","at":"2026-11-27T00:00:00Z","why":"w","routing":{"queue_level":6}}`))
	f.Add([]byte(`{"by":"v","at":"2026-11-27T00:00:00Z","text":"n"}`))
	f.Add([]byte(`{"evidence":[{"start":5,"end":2}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e postEntry
		if json.Unmarshal(b, &e) == nil {
			_ = segmentsOf(e.Text, e.Evidence)
			_ = redactEvidence(e.Evidence, redactText(e.Text))
			_ = excerpt(e.Text, 40)
		}
		var n Note
		_ = json.Unmarshal(b, &n)
		if v, err := decodeVersion(string(b)); err == nil && v.Routing.Validate() != nil {
			t.Fatal("decoded an invalid settings version")
		}
		s := &Store{now: time.Now}
		s.setRouting(DefaultRouting())
		var m map[string]string
		if json.Unmarshal(b, &m) == nil {
			_ = s.parseCase(m)
		}
	})
}
