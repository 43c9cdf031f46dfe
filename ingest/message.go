package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// CurrentVersion is the only post schema version this build accepts. A
// message without "v" is read as version 1.
const CurrentVersion = 1

// DefaultMaxMessageBytes is the default size limit of one post message.
const DefaultMaxMessageBytes = 64 << 10

// maxIDBytes bounds id, author_id and thread_id.
const maxIDBytes = 256

// Post is one social-media post as it arrives on the posts topic.
type Post struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	AuthorID  string    `json:"author_id"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	Source    string    `json:"source,omitempty"`
	URL       string    `json:"url,omitempty"`
	ThreadID  string    `json:"thread_id,omitempty"`
	Lang      string    `json:"lang,omitempty"`
}

// Reason is why a message was dead-lettered. Reasons are metric label
// values: a closed, small set that never carries message content.
type Reason string

// The dead-letter reasons.
const (
	ReasonEmpty          Reason = "empty"
	ReasonTooLarge       Reason = "too_large"
	ReasonInvalidUTF8    Reason = "invalid_utf8"
	ReasonInvalidJSON    Reason = "invalid_json"
	ReasonMissingField   Reason = "missing_field"
	ReasonInvalidField   Reason = "invalid_field"
	ReasonUnknownVersion Reason = "unknown_version"
)

// Reasons lists every Reason, for pre-declaring metric series.
var Reasons = []Reason{ReasonEmpty, ReasonTooLarge, ReasonInvalidUTF8, ReasonInvalidJSON,
	ReasonMissingField, ReasonInvalidField, ReasonUnknownVersion}

// DecodeError says why a message is not a valid post. Detail names fields
// and limits, never the message's content.
type DecodeError struct {
	Reason Reason
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "post: " + string(e.Reason)
	}
	return "post: " + string(e.Reason) + ": " + e.Detail
}

// wirePost distinguishes absent fields from empty ones.
type wirePost struct {
	V         *int    `json:"v"`
	ID        *string `json:"id"`
	AuthorID  *string `json:"author_id"`
	Text      *string `json:"text"`
	CreatedAt *string `json:"created_at"`
	Source    string  `json:"source"`
	URL       string  `json:"url"`
	ThreadID  string  `json:"thread_id"`
	Lang      string  `json:"lang"`
}

// DecodePost parses one message value. Unknown fields are ignored. The
// error, when not nil, is a *DecodeError.
func DecodePost(value []byte, maxBytes int) (Post, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	switch {
	case len(bytes.TrimSpace(value)) == 0:
		return Post{}, &DecodeError{Reason: ReasonEmpty}
	case len(value) > maxBytes:
		return Post{}, &DecodeError{Reason: ReasonTooLarge, Detail: fmt.Sprintf("%d bytes over the limit of %d", len(value), maxBytes)}
	case !utf8.Valid(value):
		return Post{}, &DecodeError{Reason: ReasonInvalidUTF8}
	}
	w, ok := decodeSimple(value)
	if !ok {
		if err := json.Unmarshal(value, &w); err != nil {
			return Post{}, &DecodeError{Reason: ReasonInvalidJSON, Detail: jsonErrorDetail(err)}
		}
	}
	p := Post{V: CurrentVersion, Source: w.Source, URL: w.URL, ThreadID: w.ThreadID, Lang: w.Lang}
	if w.V != nil {
		p.V = *w.V
	}
	if p.V != CurrentVersion {
		return Post{}, &DecodeError{Reason: ReasonUnknownVersion, Detail: fmt.Sprintf("v=%d, this build reads v=%d", p.V, CurrentVersion)}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"id", w.ID}, {"author_id", w.AuthorID}, {"text", w.Text}, {"created_at", w.CreatedAt}} {
		if f.v == nil || *f.v == "" {
			return Post{}, &DecodeError{Reason: ReasonMissingField, Detail: f.name}
		}
	}
	p.ID, p.AuthorID, p.Text = *w.ID, *w.AuthorID, *w.Text
	if len(p.ID) > maxIDBytes || len(p.AuthorID) > maxIDBytes || len(p.ThreadID) > maxIDBytes {
		return Post{}, &DecodeError{Reason: ReasonInvalidField, Detail: fmt.Sprintf("id, author_id and thread_id are at most %d bytes", maxIDBytes)}
	}
	t, err := time.Parse(time.RFC3339Nano, *w.CreatedAt)
	if err != nil {
		return Post{}, &DecodeError{Reason: ReasonInvalidField, Detail: "created_at is not RFC 3339"}
	}
	p.CreatedAt = t
	return p, nil
}

// jsonErrorDetail describes a JSON error without quoting the input.
func jsonErrorDetail(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %q has the wrong type", e.Field)
	default:
		return "not a JSON object"
	}
}
