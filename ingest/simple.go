package ingest

import "strconv"

// decodeSimple reads the common shape of a post message without
// encoding/json, which costs about a tenth of the pipeline's CPU: one flat
// object whose keys are exactly the schema's, each at most once, with
// string values free of escapes and control characters and "v" a plain
// integer. Anything else (escapes, unknown or differently cased keys,
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
	var seen [9]bool
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
		field := -1
		switch string(key) {
		case "v":
			field = 0
		case "id":
			field = 1
		case "author_id":
			field = 2
		case "text":
			field = 3
		case "created_at":
			field = 4
		case "source":
			field = 5
		case "url":
			field = 6
		case "thread_id":
			field = 7
		case "lang":
			field = 8
		}
		if field < 0 || seen[field] {
			return w, false
		}
		seen[field] = true
		if field == 0 {
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
		} else {
			raw, next, ok := simpleString(value, i)
			if !ok {
				return w, false
			}
			s := string(raw)
			switch field {
			case 1:
				w.ID = &s
			case 2:
				w.AuthorID = &s
			case 3:
				w.Text = &s
			case 4:
				w.CreatedAt = &s
			case 5:
				w.Source = s
			case 6:
				w.URL = s
			case 7:
				w.ThreadID = s
			case 8:
				w.Lang = s
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
