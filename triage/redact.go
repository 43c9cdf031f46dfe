package triage

import (
	"regexp"

	"lookout/classifier"
)

var (
	reURL     = regexp.MustCompile(`(?i)\b(?:https?://|www\.)[^\s\p{Han}]*`)
	reMention = regexp.MustCompile(`[@＠][^\s@＠:：,，。!！?？]+`)
)

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
