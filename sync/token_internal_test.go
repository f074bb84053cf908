package sync

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokenEngine is an engine with only what tokens need: a key and a namespace.
func tokenEngine(ns string) *Engine {
	return &Engine{cfg: Config{Namespace: ns}, tokenKey: []byte("0123456789abcdef0123456789abcdef")}
}

// TestSeqRanges_RunsThenMergesTheClosest: consecutive seqs make one range;
// past the limit, the ranges with the smallest gaps between them merge, so
// the ranges still cover every seq.
func TestSeqRanges_RunsThenMergesTheClosest(t *testing.T) {
	assert.Nil(t, seqRanges(nil, 4))
	assert.Equal(t, []seqRange{{1, 3}, {7, 7}, {9, 10}}, seqRanges([]int64{9, 2, 1, 3, 7, 10, 2}, 4))
	// Gaps 4 (3→7), 2 (7→9), 90 (10→100): at two ranges, 7 joins 9..10 then 1..3 joins them.
	assert.Equal(t, []seqRange{{1, 10}, {100, 100}}, seqRanges([]int64{1, 2, 3, 7, 9, 10, 100}, 2))
}

// TestToken_RoundTripIsShort: a token of a unit of work's seqs reads back
// as the same ranges, in a few tens of characters.
func TestToken_RoundTripIsShort(t *testing.T) {
	e := tokenEngine("")
	seqs := []int64{1_000_001, 1_000_002, 1_000_003, 1_000_010}
	tok := e.tokenOf(seqs)
	assert.False(t, tok.Reached())
	assert.LessOrEqual(t, len(tok.String()), 40, tok.String())
	got, err := e.ParseToken(tok.String())
	require.NoError(t, err)
	assert.Equal(t, []seqRange{{1_000_001, 1_000_003}, {1_000_010, 1_000_010}}, got.ranges)

	many := make([]int64, 500)
	for i := range many {
		many[i] = int64(1 + 3*i) // 500 ranges, merged into maxTokenRanges
	}
	tok = e.tokenOf(many)
	got, err = e.ParseToken(tok.String())
	require.NoError(t, err)
	assert.Len(t, got.ranges, maxTokenRanges)
	assert.Equal(t, int64(1), got.ranges[0].lo)
	assert.Equal(t, int64(1+3*499), got.ranges[len(got.ranges)-1].hi)

	reached := e.reachedToken()
	got, err = e.ParseToken(reached.String())
	require.NoError(t, err)
	assert.True(t, got.Reached())
}

// TestParseToken_RandomBytesAreRejected: arbitrary text, and tokens with a
// valid signature over a malformed body, are errors, never a panic.
func TestParseToken_RandomBytesAreRejected(t *testing.T) {
	e := tokenEngine("")
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(60))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		_, err := e.ParseToken(base64.RawURLEncoding.EncodeToString(b))
		assert.ErrorIs(t, err, ErrInvalidToken)
		// Signed by the right key: only the body's checks stand between it and a wait.
		signed := append(append([]byte(nil), b...), e.tokenMAC(b)...)
		if _, err := e.ParseToken(base64.RawURLEncoding.EncodeToString(signed)); err == nil {
			tok, _ := e.ParseToken(base64.RawURLEncoding.EncodeToString(signed))
			for _, rg := range tok.ranges {
				assert.True(t, rg.lo >= 1 && rg.hi >= rg.lo, "a well-formed range")
			}
		}
	}
	_, err := tokenEngine("tenant_b").ParseToken(e.tokenOf([]int64{5}).String())
	assert.ErrorIs(t, err, ErrInvalidToken, "another namespace")
}
