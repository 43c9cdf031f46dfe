package triage

import (
	"regexp"
	"strings"

	"lookout/classifier"
)

var (
	reURL     = regexp.MustCompile(`(?i)\b(?:https?://|www\.)[^\s\p{Han}]*`)
	reMention = regexp.MustCompile(`[@＠][^\s@＠:：,，。!！?？]+`)
)

// stripBidi removes bidi embedding, override and isolate controls, so a
// post cannot reorder the page around it when displayed.
func stripBidi(s string) string {
	if !strings.ContainsFunc(s, isBidiControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isBidiControl(r) {
			return -1
		}
		return r
	}, s)
}

func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// redactText removes links and @handles, for volunteers who do not hold
// the case. Each becomes a placeholder of the same rune length, so that
// evidence offsets still point at the same words.
func redactText(s string) string {
	mask := func(m string) string {
		r := []rune(m)
		for i := range r {
			r[i] = '*'
		}
		return string(r)
	}
	s = reURL.ReplaceAllStringFunc(s, mask)
	return reMention.ReplaceAllStringFunc(s, mask)
}

// redactEvidence refreshes evidence text from redacted post text.
func redactEvidence(ev []classifier.Evidence, text string) []classifier.Evidence {
	r := []rune(text)
	out := make([]classifier.Evidence, 0, len(ev))
	for _, e := range ev {
		if e.Start >= 0 && e.End <= len(r) && e.Start < e.End {
			e.Text = string(r[e.Start:e.End])
			out = append(out, e)
		}
	}
	return out
}
