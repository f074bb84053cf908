package sync

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ErrInvalidToken is returned by ParseToken and WaitFor for a token that is
// malformed, was signed with another key, or was issued in another
// namespace (Config.Namespace). Test for it with errors.Is.
var ErrInvalidToken = errors.New("tvsync: invalid read-your-writes token")

// A token's layout (version 1), before base64url without padding:
//
//	byte    version (1)
//	byte    flags: tokenReached, tokenLSN; other bits must be zero
//	uvarint LSN, only with tokenLSN (kept for replica reads: a reader that
//	        understands it waits for a replica to replay it)
//	uvarint number of seq ranges (at most maxTokenRanges)
//	per range: uvarint lo - previous hi (the first: lo), uvarint hi - lo
//	16 bytes HMAC-SHA256 of "tvsync token", the namespace and the bytes
//	        above, truncated
//
// It names queued rows by seq only: never an entity, an id or a tenant.
const (
	tokenVersion   = 1
	tokenReached   = 1 << 0
	tokenLSN       = 1 << 1
	tokenMACSize   = 16
	maxTokenRanges = 16
	// maxTokenText bounds the text ParseToken reads.
	maxTokenText = 512
	// minTokenKey is the shortest Config.TokenKey accepted.
	minTokenKey = 16
)

// seqRange is the seqs lo..hi, both included.
type seqRange struct{ lo, hi int64 }

// Token names what a unit of work left to the workers: the seqs of the
// tvsync.sync_queue rows it queued, or that nothing is left (Reached: an
// Inline unit of work, or an AfterCommit one whose sync succeeded). WaitFor
// waits until those rows are synced, with the dependents their syncs queue
// (see lineage.go), that is, until every document the unit of work made
// stale is current.
//
// Its String is a short text (tens of characters) for a client to send
// back, in an HTTP header say, to any process of the application, whose
// engine accepts it with ParseToken when it shares Config.TokenKey and
// Config.Namespace. It is signed, so a client can neither forge one nor
// make a waiter look at rows of another namespace, and it carries seqs
// only, never ids. A unit of work that queued rows in many places gets a
// token naming a few ranges of seqs that cover them: its waiter may wait for
// some rows of other units of work as well, never for fewer than its own.
//
// The zero Token is no token: WaitFor rejects it.
type Token struct {
	text    string
	reached bool
	ranges  []seqRange
	lsn     uint64
}

// String returns the token's text, to hand to a client ("" for the zero
// Token).
func (t Token) String() string { return t.text }

// Reached reports whether the token names nothing to wait for: WaitFor
// returns WaitReached at once, without a database round trip.
func (t Token) Reached() bool { return t.reached }

// IsZero reports whether t is the zero Token (no token).
func (t Token) IsZero() bool { return t.text == "" }

// queuedToken returns the token of rows q names, signed for the engine's
// namespace: Reached when q names none.
func (e *Engine) queuedToken(q queued) Token {
	seqs := make([]int64, len(q.rows))
	for i, r := range q.rows {
		seqs[i] = r.seq
	}
	return e.tokenOf(seqs)
}

// reachedToken returns a token naming nothing to wait for, as an Inline unit
// of work, or an AfterCommit one whose sync succeeded, returns.
func (e *Engine) reachedToken() Token { return e.tokenOf(nil) }

// tokenOf returns the signed token of seqs, in at most maxTokenRanges ranges.
func (e *Engine) tokenOf(seqs []int64) Token {
	t := Token{reached: len(seqs) == 0, ranges: seqRanges(seqs, maxTokenRanges)}
	b := []byte{tokenVersion, 0}
	if t.reached {
		b[1] |= tokenReached
	}
	b = binary.AppendUvarint(b, uint64(len(t.ranges)))
	prev := int64(0)
	for _, r := range t.ranges {
		b = binary.AppendUvarint(b, uint64(r.lo-prev))
		b = binary.AppendUvarint(b, uint64(r.hi-r.lo))
		prev = r.hi
	}
	b = append(b, e.tokenMAC(b)...)
	t.text = base64.RawURLEncoding.EncodeToString(b)
	return t
}

// seqRanges sorts and de-duplicates seqs into ranges of consecutive seqs,
// then merges the ranges closest to each other until at most limit are left.
func seqRanges(seqs []int64, limit int) []seqRange {
	if len(seqs) == 0 {
		return nil
	}
	s := slices.Clone(seqs)
	slices.Sort(s)
	s = slices.Compact(s)
	out := []seqRange{{s[0], s[0]}}
	for _, v := range s[1:] {
		if last := &out[len(out)-1]; v == last.hi+1 {
			last.hi = v
		} else {
			out = append(out, seqRange{v, v})
		}
	}
	if len(out) <= limit {
		return out
	}
	// Close the len(out)-limit smallest gaps between neighbours.
	gaps := make([]int, len(out)-1) // gap i lies between out[i] and out[i+1]
	for i := range gaps {
		gaps[i] = i
	}
	slices.SortStableFunc(gaps, func(a, b int) int { return cmp.Compare(out[a+1].lo-out[a].hi, out[b+1].lo-out[b].hi) })
	closed := make([]bool, len(out)-1)
	for _, g := range gaps[:len(out)-limit] {
		closed[g] = true
	}
	merged := []seqRange{out[0]}
	for i := 1; i < len(out); i++ {
		if closed[i-1] {
			merged[len(merged)-1].hi = out[i].hi
		} else {
			merged = append(merged, out[i])
		}
	}
	return merged
}

// tokenMAC signs a token's bytes for the engine's namespace.
func (e *Engine) tokenMAC(b []byte) []byte {
	m := hmac.New(sha256.New, e.tokenKey)
	m.Write([]byte("tvsync token\x00"))
	m.Write([]byte(e.cfg.Namespace))
	m.Write([]byte{0})
	m.Write(b)
	return m.Sum(nil)[:tokenMACSize]
}

// ParseToken reads a token's text, as String wrote it, issued by an engine
// of the same namespace and TokenKey. It fails, with an error wrapping
// ErrInvalidToken and without a database round trip, when the text is
// malformed, too long, signed with another key or for another namespace.
func (e *Engine) ParseToken(s string) (Token, error) {
	if s == "" {
		return Token{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(s) > maxTokenText {
		return Token{}, fmt.Errorf("%w: %d characters, more than %d", ErrInvalidToken, len(s), maxTokenText)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Token{}, fmt.Errorf("%w: not base64url: %w", ErrInvalidToken, err)
	}
	if len(b) < 3+tokenMACSize {
		return Token{}, fmt.Errorf("%w: %d bytes, too short", ErrInvalidToken, len(b))
	}
	body, mac := b[:len(b)-tokenMACSize], b[len(b)-tokenMACSize:]
	// The signature first: nothing of an unsigned token is looked at.
	if !hmac.Equal(mac, e.tokenMAC(body)) {
		return Token{}, fmt.Errorf("%w: signature does not match (another key or namespace, or altered)", ErrInvalidToken)
	}
	if body[0] != tokenVersion {
		return Token{}, fmt.Errorf("%w: version %d, want %d", ErrInvalidToken, body[0], tokenVersion)
	}
	flags := body[1]
	if flags&^(tokenReached|tokenLSN) != 0 {
		return Token{}, fmt.Errorf("%w: unknown flags %#x", ErrInvalidToken, flags)
	}
	t := Token{text: s, reached: flags&tokenReached != 0}
	rest := body[2:]
	next := func(what string) (uint64, error) {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return 0, fmt.Errorf("%w: truncated %s", ErrInvalidToken, what)
		}
		rest = rest[n:]
		return v, nil
	}
	if flags&tokenLSN != 0 {
		if t.lsn, err = next("LSN"); err != nil {
			return Token{}, err
		}
	}
	n, err := next("range count")
	if err != nil {
		return Token{}, err
	}
	if n > maxTokenRanges || (n == 0) != t.reached {
		return Token{}, fmt.Errorf("%w: %d ranges with reached=%t", ErrInvalidToken, n, t.reached)
	}
	prev := int64(0)
	for i := range n {
		d, err := next("range start")
		if err != nil {
			return Token{}, err
		}
		w, err := next("range width")
		if err != nil {
			return Token{}, err
		}
		if d == 0 || d > 1<<61 || w > 1<<61 || prev > 1<<62 {
			return Token{}, fmt.Errorf("%w: range %d out of order", ErrInvalidToken, i)
		}
		lo, hi := prev+int64(d), prev+int64(d)+int64(w)
		if hi < lo {
			return Token{}, fmt.Errorf("%w: range %d out of order", ErrInvalidToken, i)
		}
		t.ranges = append(t.ranges, seqRange{lo, hi})
		prev = hi
	}
	if len(rest) != 0 {
		return Token{}, fmt.Errorf("%w: %d trailing bytes", ErrInvalidToken, len(rest))
	}
	return t, nil
}

// setTokenKey sets the engine's token key: Config.TokenKey, or a random one.
func setTokenKey(cfg *Config) ([]byte, error) {
	if cfg.TokenKey == nil {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("tvsync: make a token key: %w", err)
		}
		return k, nil
	}
	if len(cfg.TokenKey) < minTokenKey {
		return nil, fmt.Errorf("tvsync: Config.TokenKey has %d bytes, want at least %d", len(cfg.TokenKey), minTokenKey)
	}
	return slices.Clone(cfg.TokenKey), nil
}
