package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"lookout/classifier"
)

// The model card (models/README.md) is written by hand, but for one part:
// the record of the run that wrote the model file beside it, which
// `lookout train` writes between these markers, so that the file's hash,
// the data it was trained on and its figures cannot drift from the model.
const (
	cardBegin = "<!-- lookout train: begin (written by `lookout train` with the model file; edits here are replaced) -->"
	cardEnd   = "<!-- lookout train: end -->"
)

// card is a model card file split around its training record.
type card struct {
	path           string
	before, after  string // the hand-written text around the record
	exists, marked bool
}

// readCard reads the card at path, if there is one, and finds its
// record's markers. A card with one marker and not the other, or with
// them out of order, is an error: it is checked before training, so that
// a run does not train for a minute and then fail to write it.
func readCard(path string) (*card, error) {
	c := &card{path: path}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("model card %s: its folder does not exist", path)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model card: %w", err)
	}
	c.exists = true
	s := string(b)
	i, j := strings.Index(s, cardBegin), strings.Index(s, cardEnd)
	switch {
	case i < 0 && j < 0:
		c.before = s
	case i < 0 || j < 0 || j < i || strings.Count(s, cardBegin) > 1 || strings.Count(s, cardEnd) > 1:
		return nil, fmt.Errorf("model card %s: the training record's markers are not one begin line followed by one end line; mend them by hand (or remove both, and the record is appended)", path)
	default:
		c.marked = true
		c.before, c.after = s[:i], s[j+len(cardEnd):]
	}
	return c, nil
}

// write replaces the card's training record with rec, or appends it to a
// card without one, or starts a card; the file is replaced whole, so a
// crash leaves the old card or the new one.
func (c *card) write(rec []byte) error {
	var b bytes.Buffer
	switch {
	case c.marked:
		b.WriteString(c.before)
	case c.exists:
		b.WriteString(strings.TrimRight(c.before, "\n"))
		b.WriteString("\n\n")
	default:
		b.WriteString("# Model card\n\nThe record below is written by `lookout train`; write what it does not know (how the model grades, its known weaknesses) around it.\n\n")
	}
	b.WriteString(cardBegin)
	b.WriteString("\n")
	b.Write(rec)
	b.WriteString(cardEnd)
	if c.marked {
		b.WriteString(c.after)
	} else {
		b.WriteString("\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".card-*")
	if err != nil {
		return fmt.Errorf("model card: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("model card: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("model card: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("model card: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("model card: %w", err)
	}
	return nil
}

// inputFile is a data file a model was trained on: its name as given, its
// SHA-256, and how many of its posts were used.
type inputFile struct {
	path, role, sha256 string
	posts, used        int
}

// fileSHA256 is the hex SHA-256 of a file's bytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// trainingRecord is what the card says of one run of `lookout train`.
// It holds counts, hashes and figures only: no post text.
type trainingRecord struct {
	model       *classifier.Model
	modelPath   string
	modelSHA256 string
	modelBytes  int64
	started     time.Time
	took        time.Duration
	opts        classifier.TrainOptions
	inputs      []inputFile
	levels      [11]int // labeled posts trained on, by level
	val         string  // the labeled file the figures are on; "" for none
	graded      *graded // the figures on val and the held-out ordinary posts
}

// markdown renders the record.
func (r *trainingRecord) markdown() []byte {
	var b bytes.Buffer
	m := r.model.Meta
	fmt.Fprintf(&b, "### The run that wrote `%s`\n\n", filepath.Base(r.modelPath))
	fmt.Fprintf(&b, "| | |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| model | `%s`, %s bytes, sha256 `%s` |\n", m.Version, thousands(int(r.modelBytes)), r.modelSHA256)
	fmt.Fprintf(&b, "| trained | %s, in %v, %s %s/%s, %d cores |\n", r.started.UTC().Format("2006-01-02 15:04 MST"),
		r.took.Round(time.Second), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	o := r.opts
	fmt.Fprintf(&b, "| settings | seed %d, epochs %d, min-df %d, rate %g, L2 %g, neg-weight %g, neg-level-weight %g, weight-910 %g |\n",
		o.Seed, o.Epochs, o.MinDF, o.Rate, o.L2, o.NegWeight, o.NegLevelWeight, o.Weight910)
	fmt.Fprintf(&b, "| features kept | %s (seen in at least %d training posts) |\n", thousands(m.Features), o.MinDF)
	fmt.Fprintf(&b, "| `p_high` threshold | %.2f |\n", m.Threshold)
	fmt.Fprintf(&b, "| vocabulary, dictionary | sha256 `%s`, `%s` |\n", m.VocabSHA256, m.DictSHA256)
	fmt.Fprintf(&b, "\nTrained on (the files' own sha256; the data are not in this repository):\n\n")
	fmt.Fprintf(&b, "| file | kind | posts | trained on | sha256 |\n| --- | --- | --- | --- | --- |\n")
	for _, in := range r.inputs {
		used := thousands(in.used)
		if in.role == "ordinary" {
			used += " (the rest held out for the figures)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` |\n", in.path, in.role, thousands(in.posts), used, in.sha256)
	}
	fmt.Fprintf(&b, "\nLabeled posts trained on, by level: ")
	for l, n := range r.levels {
		if l > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d: %s", l, thousands(n))
	}
	b.WriteString(".\n")
	if r.graded == nil {
		b.WriteString("\nNo figures: the run was given no labeled posts to measure on (`--val \"\"`).\n\n")
		return b.Bytes()
	}
	rep := r.graded.report
	fmt.Fprintf(&b, "\nFigures on `%s` (%s posts, not used to fit) and on the ordinary posts held out of training", r.val, thousands(rep.N))
	fmt.Fprintf(&b, " (95%% intervals: the labeled posts resampled with replacement):\n\n")
	fmt.Fprintf(&b, "| figure | value | 95%% interval |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| high risk (level ≥ 6): precision / recall / F1 | %.3f / %.3f / %.3f | F1 %.3f-%.3f |\n",
		rep.HighPrecision, rep.HighRecall, rep.HighF1, rep.HighF1Interval.Lo, rep.HighF1Interval.Hi)
	fmt.Fprintf(&b, "| levels 9-10 graded high risk (recall) | %.3f | %.3f-%.3f |\n", rep.Recall910, rep.Recall910Interval.Lo, rep.Recall910Interval.Hi)
	fmt.Fprintf(&b, "| emergency route (graded 9-10): precision / recall | %.3f / %.3f | |\n", rep.EmergencyPrecision, rep.EmergencyRecall)
	fmt.Fprintf(&b, "| 11-level accuracy / weighted F1 | %.3f / %.3f | weighted F1 %.3f-%.3f |\n",
		rep.Accuracy, rep.WeightedF1, rep.WeightedF1Interval.Lo, rep.WeightedF1Interval.Hi)
	fmt.Fprintf(&b, "| mean absolute error | %.3f levels | %.3f-%.3f |\n", rep.MAE, rep.MAEInterval.Lo, rep.MAEInterval.Hi)
	fmt.Fprintf(&b, "| `p_high` calibration: Brier / expected calibration error | %.3f / %.3f | |\n", rep.Brier, rep.ECE)
	if rep.NegN > 0 {
		fmt.Fprintf(&b, "| ordinary posts graded ≥ 6 (held out) | %s of %s (%.2f%%) | |\n",
			thousands(rep.NegFlagged), thousands(rep.NegN), 100*float64(rep.NegFlagged)/float64(rep.NegN))
	}
	if sad, fear := r.graded.byEmotion["sad"], r.graded.byEmotion["fear"]; sad != nil || fear != nil {
		var t flagTally
		for _, e := range []*flagTally{sad, fear} {
			if e != nil {
				t.n += e.n
				t.flagged += e.flagged
			}
		}
		fmt.Fprintf(&b, "| sad and fear posts graded ≥ 6 (held out) | %s of %s (%.2f%%) | |\n",
			thousands(t.flagged), thousands(t.n), 100*float64(t.flagged)/float64(max(t.n, 1)))
	}
	b.WriteString("\n")
	return b.Bytes()
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
