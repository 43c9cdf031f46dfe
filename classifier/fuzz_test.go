package classifier

import (
	"errors"
	"math"
	"testing"
)

// FuzzScore: whatever the text (invalid UTF-8, controls, masks beside
// risk words, traditional characters, emoji, Latin letters for
// characters), Score returns ErrEmpty or a
// level 0-10 with p_high in [0, 1] and well-formed evidence
// (checkEvidence), with model spans only on flagged posts or
// those with a plausible p_high.
func FuzzScore(f *testing.F) {
	for _, s := range []string{
		"", " ", "\xff\xfe", "今晚就吃掉攒的安眠药，永别了。", "不想死了哈哈，有没有一起的嗎？",
		"笑死我了\x00割腕", "活著好累😭😭😭！！！！", "ＡＢＣ　今晚　@某人 http://t.cn/x 跳楼",
		"拜拜，明天公司见", "想找个人一起，有吗\u202e", "\u200b\u200b安眠药\ufffd\ufffd一起",
		"有没有人一起走的？?? 。。。 !!!", "鑰匙扔了，今晚就從樓頂跳下去",
		"今晚在家ZS，酒后AM药", "好想 si 了ｓｉ", "tiao楼zisha自sha",
	} {
		f.Add(s)
	}
	c := trainedClassifier(f)
	f.Fuzz(func(t *testing.T, text string) {
		res, err := c.Score(text)
		if errors.Is(err, ErrEmpty) {
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if res.Level < 0 || res.Level > 10 || !(res.PHigh >= 0 && res.PHigh <= 1) || math.IsNaN(res.PHigh) {
			t.Fatalf("%q: level %d, p_high %v", text, res.Level, res.PHigh)
		}
		checkEvidence(t, text, res.Evidence)
		if res.Level < HighRiskLevel && res.PHigh < plausiblePHigh && len(modelSpans(res.Evidence)) > 0 {
			t.Fatalf("%q: model spans at level %d, p_high %v", text, res.Level, res.PHigh)
		}
	})
}
