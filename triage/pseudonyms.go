package triage

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// minPseudonymKey is the shortest pseudonym key accepted, in bytes.
const minPseudonymKey = 32

// Pseudonyms derives the keys that stand for author and post ids in Redis
// and in the score record, and the case ids.
//
// With a secret key (the deployment's pseudonym key) each is an
// HMAC-SHA-256 of the id: without the key, a copy of Redis or of an
// archive file cannot be tested against a guessed author or a public post
// id. Weibo's ids are short numbers, so a plain hash of one is undone by
// trying them all. Without a key (a laptop, or a deployment from before
// keys) each is a plain hash, as lookout wrote them before: SHA-256 for
// authors, cases and the score record, SHA-1 for the post index.
//
// Every instance on one Redis needs the same key: Store.CheckPseudonyms
// refuses another.
type Pseudonyms struct {
	keyed        bool
	inner, outer [sha256.BlockSize]byte // the key xor HMAC's ipad and opad
	keyCheck     string                 // see check
}

// NewPseudonyms makes the pseudonyms of a secret key; an empty key gives
// the plain hashes.
func NewPseudonyms(key string) (Pseudonyms, error) {
	var p Pseudonyms
	if key == "" {
		return p, nil
	}
	if len(key) < minPseudonymKey {
		return p, fmt.Errorf("pseudonym-key: needs at least %d characters (e.g. openssl rand -hex 32)", minPseudonymKey)
	}
	k := []byte(key)
	if len(k) > sha256.BlockSize {
		h := sha256.Sum256(k)
		k = h[:]
	}
	p.keyed = true
	for i := range p.inner {
		var b byte
		if i < len(k) {
			b = k[i]
		}
		p.inner[i], p.outer[i] = b^0x36, b^0x5c
	}
	h := p.sum("lookout-pseudonym-check")
	p.keyCheck = "hmac-sha256:" + hex.EncodeToString(h[:8])
	return p, nil
}

// sum is SHA-256 (plain) or HMAC-SHA-256 (keyed) of domain, a zero byte
// and the parts, each after the first preceded by a zero byte. Short
// inputs are hashed without an allocation: the score record hashes every
// post.
func (p *Pseudonyms) sum(domain string, parts ...string) [sha256.Size]byte {
	var buf [256]byte
	b := buf[:0]
	if p.keyed {
		b = append(b, p.inner[:]...)
	}
	b = append(append(b, domain...), 0)
	for i, s := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, s...)
	}
	h := sha256.Sum256(b)
	if !p.keyed {
		return h
	}
	var ob [sha256.BlockSize + sha256.Size]byte
	copy(ob[:], p.outer[:])
	copy(ob[sha256.BlockSize:], h[:])
	return sha256.Sum256(ob[:])
}

// Author is the key of an author id in Redis's author indexes and in
// each case's author_key.
func (p *Pseudonyms) Author(authorID string) string {
	h := p.sum("lookout-author", authorID)
	return hex.EncodeToString(h[:16])
}

// legacyAuthor is the plain-hash key of an author id, which a deployment
// wrote before it had a key; "" when the pseudonyms have none (Author is
// that key).
func (p *Pseudonyms) legacyAuthor(authorID string) string {
	if !p.keyed {
		return ""
	}
	var plain Pseudonyms
	return plain.Author(authorID)
}

// Case derives a case id from the author and the post that opened it, so
// a redelivered post yields the same id.
func (p *Pseudonyms) Case(authorID, postID string) string {
	h := p.sum("lookout-case", authorID, postID)
	return "c" + hex.EncodeToString(h[:10])
}

// Post is the key of a post id in the post index, which makes ingest
// idempotent: 40 hex digits, an HMAC-SHA-256's first 20 bytes with a key,
// the SHA-1 of the id (what Redis scripts compute) without one.
func (p *Pseudonyms) Post(postID string) string {
	if !p.keyed {
		h := sha1.Sum([]byte(postID))
		return hex.EncodeToString(h[:])
	}
	h := p.sum("lookout-post-index", postID)
	return hex.EncodeToString(h[:20])
}

// ScoreKey is the key of a post id in the score record: 8 bytes in hex.
// It tells a post recorded twice without keeping its id.
func (p *Pseudonyms) ScoreKey(postID string) string {
	return string(p.appendScoreKey(nil, postID))
}

func (p *Pseudonyms) appendScoreKey(b []byte, postID string) []byte {
	h := p.sum("lookout-post", postID)
	return hex.AppendEncode(b, h[:8])
}

// check is what Redis keeps of the key: an HMAC of a fixed text, which
// tells two keys apart and gives away nothing of either; "" without a key.
func (p *Pseudonyms) check() string { return p.keyCheck }
