package classifier

// featureTable maps feature keys to feature numbers: open addressing with
// linear probing in flat arrays, about twice as fast as a Go map here
// (the lookup is the scorer's inner loop), and compact: 12 bytes a slot.
type featureTable struct {
	slots []uint64 // key, or 0 for empty (no feature key is 0)
	vals  []int32
	mask  uint64
	order []uint64 // keys by feature number
}

func newFeatureTable(keys []uint64) *featureTable {
	size := 1
	for size < 2*len(keys) {
		size <<= 1
	}
	t := &featureTable{slots: make([]uint64, size), vals: make([]int32, size), mask: uint64(size - 1),
		order: append([]uint64(nil), keys...)}
	for i, k := range keys {
		if k == 0 {
			k = 1 // reserved for empty; mix() never yields it in practice
		}
		j := k & t.mask
		for t.slots[j] != 0 {
			j = (j + 1) & t.mask
		}
		t.slots[j], t.vals[j] = k, int32(i)
	}
	return t
}

// get returns the feature number of k, or -1.
func (t *featureTable) get(k uint64) int32 {
	if k == 0 {
		k = 1
	}
	for j := k & t.mask; ; j = (j + 1) & t.mask {
		switch t.slots[j] {
		case k:
			return t.vals[j]
		case 0:
			return -1
		}
	}
}

func (t *featureTable) keys() []uint64 { return t.order }
