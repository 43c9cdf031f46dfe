package triage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The rolling score record keeps, for recent posts, a key of the post id
// (Pseudonyms.ScoreKey) and the score (never text, nor the id itself, which leads to
// the author): moderators preview settings on it, and it is where an
// unflagged post's outcome is durable. One stream entry holds one
// recorded batch, one line per post:
//
//	<level> <p_high> <routed 0|1|2> <post key, Go-quoted>
//
// where routed is 0 for a post not flagged, 1 for one flagged and not
// queued (watched), 2 for one queued, by the settings in force when it
// was recorded. (Lines written before the record told queued from
// watched hold 1 for both; lines written before it kept keys hold the
// post id.)
//
// so a batch costs Redis one command, not one per post.

// maxScoreEntries caps the record at this many batches (approximately):
// from 50,000 posts when posts come one at a time to 50,000 × the batch
// size under load; an entry is about 30 bytes a post.
const maxScoreEntries = 50_000

// ScoreRecord is one post's line in the score record.
type ScoreRecord struct {
	PostKey string // Pseudonyms.ScoreKey of the post's id
	Level   int
	PHigh   float64
	Flagged bool
	Queued  bool      // in the volunteer queue (Flagged too)
	At      time.Time // when it was recorded
}

func (s *Store) appendScoreLine(b []byte, postID string, level int, pHigh float64, flagged, queued bool) []byte {
	b = strconv.AppendInt(b, int64(level), 10)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, pHigh, 'f', 4, 64)
	switch {
	case queued:
		b = append(b, " 2 "...)
	case flagged:
		b = append(b, " 1 "...)
	default:
		b = append(b, " 0 "...)
	}
	b = append(b, '"')
	b = s.ids.appendScoreKey(b, postID)
	return append(b, '"', '\n')
}

// parseScoreLines reads one entry's lines.
func parseScoreLines(v string, at time.Time, fn func(ScoreRecord)) error {
	for line := range strings.Lines(v) {
		line = strings.TrimSuffix(line, "\n")
		lv, rest, ok1 := strings.Cut(line, " ")
		ph, rest, ok2 := strings.Cut(rest, " ")
		fl, id, ok3 := strings.Cut(rest, " ")
		level, err1 := strconv.Atoi(lv)
		pHigh, err2 := strconv.ParseFloat(ph, 64)
		key, err3 := strconv.Unquote(id)
		if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil || err3 != nil || level < 0 || level > 10 || len(fl) != 1 || fl[0] < '0' || fl[0] > '2' {
			return fmt.Errorf("score record: malformed line at %s", at.Format(time.RFC3339))
		}
		fn(ScoreRecord{PostKey: key, Level: level, PHigh: pHigh, Flagged: fl != "0", Queued: fl == "2", At: at})
	}
	return nil
}

// EachScore calls fn for every post recorded from since on, oldest first.
func (s *Store) EachScore(ctx context.Context, since time.Time, fn func(ScoreRecord)) error {
	start := "-"
	if since.UnixMilli() > 0 {
		start = strconv.FormatInt(since.UnixMilli(), 10)
	}
	for {
		msgs, err := s.rdb.XRangeN(ctx, keyScores, start, "+", 1000).Result()
		if err != nil {
			return fmt.Errorf("score record: %w", err)
		}
		for _, m := range msgs {
			ms := streamMillis(m.ID)
			v, _ := m.Values["scores"].(string)
			if err := parseScoreLines(v, time.UnixMilli(ms), fn); err != nil {
				return err
			}
		}
		if len(msgs) < 1000 {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// addScores appends one batch's entry to the pipeline.
func addScores(ctx context.Context, pipe redis.Pipeliner, lines []byte) {
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: keyScores, MaxLen: maxScoreEntries, Approx: true,
		Values: []any{"scores", lines}})
}

// streamMillis is the time part of a Redis stream entry id ("<ms>-<seq>").
func streamMillis(id string) int64 {
	ms, _ := strconv.ParseInt(id[:strings.IndexByte(id+"-", '-')], 10, 64)
	return ms
}
