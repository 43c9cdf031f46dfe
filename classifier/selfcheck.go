package classifier

import "fmt"

// selfCheckPosts are posts that no usable model grades wrong: an attempt
// under way with a farewell, an overdose, a method with its hour and a
// farewell, and everyday chat. A model file that loads but was trained on
// shuffled or inverted labels, or on another scale, misses them.
var selfCheckPosts = []struct {
	text     string
	min, max int
}{
	{"炭已经烧起来了，永别了", 9, 10},
	{"我已经吞了一整瓶安眠药，再见了", 9, 10},
	{"今晚十二点从楼顶跳下去，谢谢大家", 9, 10},
	{"今天天气不错，和朋友去公园散步", 0, HighRiskLevel - 1},
	{"新买的耳机音质很好", 0, HighRiskLevel - 1},
}

// SelfCheck grades posts whose grade no usable model gets wrong, and
// returns an error naming the first it does get wrong. A service should
// refuse to start on one: a model that grades these wrong grades people
// wrong. The posts are written for the check, not anyone's.
func (c *Classifier) SelfCheck() error {
	for _, p := range selfCheckPosts {
		res, err := c.Score(p.text)
		if err != nil {
			return fmt.Errorf("model %s: self-check %q: %w", c.version, p.text, err)
		}
		if res.Level < p.min || res.Level > p.max {
			return fmt.Errorf("model %s fails its self-check: %q graded %d (p_high %.2f), want %d-%d; it may be trained on other labels or another scale: retrain it or restore the last good one",
				c.version, p.text, res.Level, res.PHigh, p.min, p.max)
		}
	}
	return nil
}
