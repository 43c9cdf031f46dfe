package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"lookout/classifier"
	"lookout/triage"
)

var errFailedLines = errors.New("some lines failed")

// cmdScore grades JSON Lines from stdin, one output line per input line,
// in order. Fields other than text pass through.
func cmdScore(ctx context.Context, args []string, env envFunc, stdin io.Reader, stdout, stderr io.Writer) error {
	var model, thresholds string
	fs := newFlagSet("score", stderr)
	fs.StringVar(&model, "model", defaultModelPath(), "trained model file; empty grades with the knowledge layer alone")
	fs.StringVar(&thresholds, "thresholds", "", "JSON file of routing settings; decides \"flagged\"")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	routing := triage.DefaultRouting()
	if thresholds != "" {
		r, err := loadRouting(thresholds)
		if err != nil {
			return err
		}
		routing = r
	}
	cls, err := loadClassifier(model)
	if err != nil {
		return err
	}
	warnSelfCheck(cls, stderr)
	in := bufio.NewReaderSize(stdin, 1<<20)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	failed := 0
	for lineNo := 1; ; lineNo++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := in.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return fmt.Errorf("read stdin: %w", err)
		}
		if len(trimSpace(line)) == 0 {
			continue
		}
		rec, msg := scoreLine(cls, routing, line)
		if msg != "" {
			failed++
			rec = map[string]any{"error": fmt.Sprintf("line %d: %s", lineNo, msg)}
		}
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	if failed > 0 {
		out.Flush()
		fmt.Fprintf(stderr, "lookout score: %d line(s) failed\n", failed)
		return errFailedLines
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// scoreLine grades one input line; msg is non-empty when the line is bad.
// Other fields pass through as written: a 20-digit id stays exact, which
// a float64 would not keep.
func scoreLine(cls *classifier.Classifier, routing triage.Routing, line []byte) (rec map[string]any, msg string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil || fields == nil {
		return nil, "not a JSON object"
	}
	var text *string // nil for null; a missing field or another type fails to decode
	if json.Unmarshal(fields["text"], &text) != nil || text == nil {
		return nil, `missing string field "text"`
	}
	res, err := cls.Score(*text)
	if err != nil && !errors.Is(err, classifier.ErrEmpty) {
		return nil, err.Error()
	}
	rec = make(map[string]any, len(fields)+5)
	for k, v := range fields {
		rec[k] = v
	}
	_, queue := routing.Flagged(res.Level, res.PHigh)
	rec["level"], rec["p_high"], rec["flagged"], rec["model"] = res.Level, res.PHigh, queue, res.Model
	ev := res.Evidence
	if ev == nil {
		ev = []classifier.Evidence{}
	}
	rec["evidence"] = ev
	return rec, ""
}
