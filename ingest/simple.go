package ingest

import "strconv"

// decodeSimple reads the common shape of a post message without
// encoding/json, which costs about a tenth of the pipeline's CPU: one flat
// object whose keys are exactly the schema's, with string values free of
// escapes and control characters and "v" a plain integer. Anything else (escapes, unknown or differently cased keys,
// null, nesting, a malformed message) reports false and goes to
// encoding/json, which gives the answer and the error. When it reports
// true, the result is what encoding/json would give (FuzzDecodeSimple).
// The caller has checked that value is valid UTF-8.
func decodeSimple(value []byte) (w wirePost, ok bool) {
	i := skipSpace(value, 0)
	if i >= len(value) || value[i] != '{' {
		return w, false
	}
	i = skipSpace(value, i+1)
	if i < len(value) && value[i] == '}' {
		return w, skipSpace(value, i+1) == len(value)
	}
	for {
		key, next, ok := simpleString(value, i)
		if !ok {
			return w, false
		}
		i = skipSpace(value, next)
		if i >= len(value) || value[i] != ':' {
			return w, false
		}
		i = skipSpace(value, i+1)
		// A repeated key overwrites, as encoding/json does.
		var opt **string // a field that tells absent from empty
		var str *string
		switch string(key) {
		case "v":
			j := i
			for j < len(value) && value[j] >= '0' && value[j] <= '9' {
				j++
			}
			if j == i || (value[i] == '0' && j > i+1) || j-i > 9 {
				return w, false
			}
			v, err := strconv.Atoi(string(value[i:j]))
			if err != nil {
				return w, false
			}
			w.V = &v
			i = j
		case "id":
			opt = &w.ID
		case "author_id":
			opt = &w.AuthorID
		case "text":
			opt = &w.Text
		case "created_at":
			opt = &w.CreatedAt
		case "source":
			str = &w.Source
		case "url":
			str = &w.URL
		case "thread_id":
			str = &w.ThreadID
		case "lang":
			str = &w.Lang
		default:
			return w, false // unknown, or a case variant encoding/json would match
		}
		if opt != nil || str != nil {
			raw, next, ok := simpleString(value, i)
			if !ok {
				return w, false
			}
			s := string(raw)
			if opt != nil {
				*opt = &s
			} else {
				*str = s
			}
			i = next
		}
		i = skipSpace(value, i)
		if i >= len(value) {
			return w, false
		}
		switch value[i] {
		case ',':
			i = skipSpace(value, i+1)
		case '}':
			return w, skipSpace(value, i+1) == len(value)
		default:
			return w, false
		}
	}
}

// simpleString reads a JSON string at i that has no escapes and no
// control characters, returning its bytes and the index after it.
func simpleString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
