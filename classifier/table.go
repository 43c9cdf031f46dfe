package classifier

import "math/bits"

// weightTable maps a feature key to its base-head weights: open
// addressing with linear probing, each slot one 64-byte cache line that
// holds the key and the weights, so that a lookup that finds its feature
// reads one line (the scorer's inner loop is these lookups).
type weightTable struct {
	slots []weightSlot
	n     int // features
}

type weightSlot struct {
	key uint64 // 0: empty (a key of 0 is stored as 1)
	w   [numHeads]int16
	_   [64 - 8 - 2*numHeads]byte
}

// newWeightTable holds the features keys[i] with weights
// q[i*numHeads:][:numHeads], at a load factor of 2/3.
func newWeightTable(keys []uint64, q []int16) *weightTable {
	t := &weightTable{slots: make([]weightSlot, len(keys)+len(keys)/2+1), n: len(keys)}
	for i, k := range keys {
		if k == 0 {
			k = 1
		}
		j := t.home(k)
		for t.slots[j].key != 0 {
			if j++; j == len(t.slots) {
				j = 0
			}
		}
		t.slots[j].key = k
		copy(t.slots[j].w[:], q[i*numHeads:(i+1)*numHeads])
	}
	return t
}

// home is k's first slot: the high bits of k times the table size (keys
// are well-mixed hashes).
func (t *weightTable) home(k uint64) int {
	hi, _ := bits.Mul64(k, uint64(len(t.slots)))
	return int(hi)
}

// get returns the weights of feature k, or nil.
func (t *weightTable) get(k uint64) *[numHeads]int16 {
	if k == 0 {
		k = 1
	}
	for j := t.home(k); ; {
		s := &t.slots[j]
		switch s.key {
		case k:
			return &s.w
		case 0:
			return nil
		}
		if j++; j == len(t.slots) {
			j = 0
		}
	}
}

// features returns the keys and the weights (numHeads a key) in slot
// order: deterministic for the same keys.
func (t *weightTable) features() ([]uint64, []int16) {
	keys := make([]uint64, 0, t.n)
	q := make([]int16, 0, t.n*numHeads)
	for i := range t.slots {
		if s := &t.slots[i]; s.key != 0 {
			keys = append(keys, s.key)
			q = append(q, s.w[:]...)
		}
	}
	return keys, q
}
