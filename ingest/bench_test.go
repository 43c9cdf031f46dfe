package ingest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func BenchmarkDecodePost(b *testing.B) {
	value, err := json.Marshal(map[string]any{"v": 1, "id": "post-123456", "author_id": "author-42",
		"text": strings.Repeat("每天都觉得活着好累，不知道还能撑多久。", 4), "created_at": time.Now().Format(time.RFC3339Nano),
		"source": "weibo", "thread_id": "thread-9"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := DecodePost(value, 0)
		if err != nil || p.ID != "post-123456" {
			b.Fatalf("%+v %v", p, err)
		}
	}
}
