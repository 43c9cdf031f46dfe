// Package classifier grades Chinese social-media posts on the 0-10 Tree
// Hole suicide-risk scale and says why.
//
// It owns text normalisation, the knowledge layer (method, plan, time,
// farewell, intent and pain phrases; negation and hyperbole), and the
// trained statistical model. It is pure: text in, Result out. It knows
// nothing of Kafka, Redis or HTTP, and it never logs post text.
package classifier

import (
	"errors"
	"slices"
	"sync"
)

// HighRiskLevel is the first level of the scale's "high risk" band.
const HighRiskLevel = 6

// emergencyLevel is the first level of the emergency band (9-10: a method
// decided and an act within days, or under way), which rescue groups
// answer at once.
const emergencyLevel = 9

// Evidence is a span of the original text that drove the level.
type Evidence struct {
	Start int    `json:"start"` // rune offset in the original text
	End   int    `json:"end"`   // rune offset one past the span
	Text  string `json:"text"`
	Kind  Kind   `json:"kind"`
}

// Result is the grade of one post.
type Result struct {
	Level    int        `json:"level"`  // 0-10 on the Tree Hole scale
	PHigh    float64    `json:"p_high"` // probability that the level is 6 or more
	Evidence []Evidence `json:"evidence"`
	Model    string     `json:"model"` // version of the model that graded it
}

// ErrEmpty is returned for a post with no text to grade.
var ErrEmpty = errors.New("classifier: empty text")

// Classifier grades posts. It is safe for concurrent use.
type Classifier struct {
	match   *matcher
	model   *Model // nil: the knowledge layer alone
	version string
	scratch sync.Pool
}

type scratch struct {
	norm     normalized
	hits     []hit
	masks    []hit
	feats    []uint64
	clauses  []uint8 // the clause each of feats was first seen in, or noClause
	seen     seenSet
	touched  uint64 // keeps Model.logits' first pass from being optimised away
	ids      []int32
	idClause []uint8 // the clause of each of ids
	cuts     []int   // byte offsets in buf where clauses 1, 2… start
	buf      []byte
	words    [][2]int32 // the words' byte offsets in buf, for explain
	seg      segScratch
	// explain's, for posts with a plausible p_high only
	at      []int32
	weighed []wordWeight
	wordIDs []int32
}

// Options configures New.
type Options struct {
	// Model is the trained model; nil grades with the knowledge layer alone.
	Model *Model
}

// New returns a Classifier.
func New(opts Options) *Classifier {
	c := &Classifier{match: newMatcher(), model: opts.Model, version: "rules-1"}
	if opts.Model != nil {
		c.version = opts.Model.Version
	}
	c.scratch.New = func() any { return &scratch{} }
	return c
}

// Version names the model that grades.
func (c *Classifier) Version() string { return c.version }

// Score grades one post. It returns ErrEmpty when the text holds nothing
// to grade (only white space, control characters or invalid UTF-8).
func (c *Classifier) Score(text string) (Result, error) {
	s := c.scratch.Get().(*scratch)
	defer c.scratch.Put(s)
	normalize(text, &s.norm)
	if len(s.norm.runes) == 0 || (len(s.norm.runes) == 1 && s.norm.runes[0] == ' ') {
		return Result{Model: c.version}, ErrEmpty
	}
	s.hits, s.masks = c.match.find(s.norm.runes, s.hits, s.masks)
	rule := ruleLevel(s.hits)

	res := Result{Model: c.version}
	if c.model != nil {
		res.Level, res.PHigh = c.model.grade(s, rule)
		if res.Level >= HighRiskLevel || res.PHigh >= plausiblePHigh {
			s.hits = c.model.explain(s, s.hits, res.Level >= HighRiskLevel)
		}
	} else {
		res.Level = rule
		res.PHigh = rulePHigh[rule]
	}
	if len(s.hits) > 0 && res.Level > 0 {
		res.Evidence = evidence(text, &s.norm, s.hits)
	}
	return res, nil
}

// rulePHigh is the share of posts at each rule level that were high risk
// in sos4k/train; it stands in for p_high when no model is loaded.
var rulePHigh = [11]float64{0.05, 0.05, 0.08, 0.15, 0.3, 0.4, 0.6, 0.75, 0.85, 0.9, 0.95}

// evidence maps hits back to spans of the original text. A hit inside a
// longer one of another kind is left out (hits of one kind are joined
// already, by dedupeHits): volunteers see each phrase once, under its most
// specific kind.
func evidence(text string, n *normalized, hits []hit) []Evidence {
	orig := []rune(text)
	out := make([]Evidence, 0, len(hits))
	for i, h := range hits {
		inside := false
		for j, o := range hits {
			if i != j && o.start <= h.start && h.end <= o.end && (o.end-o.start > h.end-h.start || j < i) {
				inside = true
				break
			}
		}
		if inside {
			continue
		}
		start := int(n.orig[h.start])
		end := n.end(h.end - 1)
		if end > len(orig) || start >= end {
			continue
		}
		out = append(out, Evidence{Start: start, End: end, Text: string(orig[start:end]), Kind: h.kind})
	}
	slices.SortStableFunc(out, func(a, b Evidence) int { return a.Start - b.Start })
	return out
}
