package ingest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecodePost(t *testing.T) {
	ok := `{"v":1,"id":"p1","author_id":"a1","text":"活着好累","created_at":"2026-11-27T08:00:00+08:00","source":"weibo","url":"https://x/1","thread_id":"t","lang":"zh","unknown":{"x":1}}`
	p, err := DecodePost([]byte(ok), 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "p1" || p.AuthorID != "a1" || p.Text != "活着好累" || p.Source != "weibo" || p.ThreadID != "t" ||
		!p.CreatedAt.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("decoded %+v", p)
	}
	noVersion := `{"id":"p1","author_id":"a1","text":"x","created_at":"2026-11-27T08:00:00Z"}`
	if p, err := DecodePost([]byte(noVersion), 0); err != nil || p.V != 1 {
		t.Fatalf("missing v should read as 1: %v %+v", err, p)
	}
	bad := []struct {
		value  string
		reason Reason
		detail string
	}{
		{"", ReasonEmpty, ""},
		{"   \n", ReasonEmpty, ""},
		{"{\"id\":\"\xff\"}", ReasonInvalidUTF8, ""},
		{`[1,2]`, ReasonInvalidJSON, ""},
		{`{"id": }`, ReasonInvalidJSON, "byte"},
		{`{"v":2,"id":"p","author_id":"a","text":"x","created_at":"2026-11-27T08:00:00Z"}`, ReasonUnknownVersion, "v=2"},
		{`{"author_id":"a","text":"x","created_at":"2026-11-27T08:00:00Z"}`, ReasonMissingField, "id"},
		{`{"id":"p","text":"x","created_at":"2026-11-27T08:00:00Z"}`, ReasonMissingField, "author_id"},
		{`{"id":"p","author_id":"a","text":"","created_at":"2026-11-27T08:00:00Z"}`, ReasonMissingField, "text"},
		{`{"id":"p","author_id":"a","text":"x"}`, ReasonMissingField, "created_at"},
		{`{"id":"p","author_id":"a","text":"x","created_at":"27/11/2026"}`, ReasonInvalidField, "created_at"},
		{`{"id":"` + strings.Repeat("x", 300) + `","author_id":"a","text":"x","created_at":"2026-11-27T08:00:00Z"}`, ReasonInvalidField, "256"},
		{`{"id":1,"author_id":"a","text":"x","created_at":"2026-11-27T08:00:00Z"}`, ReasonInvalidJSON, "id"},
		{`{"id":"p","author_id":"a","created_at":"2026-11-27T08:00:00Z","text":"` + strings.Repeat("死", 30000) + `"}`, ReasonTooLarge, "65536"},
	}
	for _, b := range bad {
		_, err := DecodePost([]byte(b.value), 0)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != b.reason {
			t.Errorf("%.40q: got %v, want reason %s", b.value, err, b.reason)
			continue
		}
		if !strings.Contains(de.Error(), b.detail) {
			t.Errorf("%.40q: error %q does not say %q", b.value, de.Error(), b.detail)
		}
		if strings.Contains(de.Error(), "死") || strings.Contains(de.Error(), "xxxxxxxx") {
			t.Errorf("error quotes the message content: %q", de.Error())
		}
	}
}

// FuzzDecodePost: any input yields a post or a typed DecodeError whose
// text never quotes the input; never a panic.
func FuzzDecodePost(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":"p1","author_id":"a1","text":"活着好累","created_at":"2026-11-27T08:00:00Z"}`,
		`{"id":"p","author_id":"a","text":"x","created_at":"bad"}`, `{}`, ``, `null`, `"str"`, "{\"id\":\"\xff\"}",
		`{"v":null,"id":null}`, `{"v":1.5}`, `{"created_at":"2026-11-27T08:00:00.123456789+14:00","id":"a","author_id":"b","text":"c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePost(b, 4096)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if p.ID == "" || p.AuthorID == "" || p.Text == "" || p.CreatedAt.IsZero() || p.V != CurrentVersion {
			t.Fatalf("accepted an incomplete post: %+v", p)
		}
	})
}

// FuzzDecodeSimple: whenever the fast path accepts a message, encoding/json
// reads it the same way.
func FuzzDecodeSimple(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":"p1","author_id":"a1","text":"活着好累","created_at":"2026-11-27T08:00:00Z"}`,
		` { "id" : "p" , "author_id":"a","text":"x","created_at":"bad", "source":"weibo","url":"u","thread_id":"t","lang":"zh" } `,
		`{}`, ``, `{"v":01}`, `{"v":1,"v":2}`, `{"ID":"x"}`, `{"id":"a\nb"}`, `{"id":"a\u0041"}`, `{"id":null}`,
		`{"id":"x"}x`, `{"extra":{"a":1},"id":"x"}`, `{"v":-1}`, `{"v":1e3}`, `{"text":"<&>"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		fast, ok := decodeSimple(b)
		if !ok {
			return
		}
		var slow wirePost
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast path read %+v, encoding/json %+v: %q", fast, slow, b)
		}
	})
}
