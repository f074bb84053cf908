package syncread_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncread"
)

func TestParseLSN_RoundTripsAndOrders(t *testing.T) {
	for _, s := range []string{"0/0", "0/16B3748", "16/B374D848", "FFFFFFFF/FFFFFFFF"} {
		l, err := syncread.ParseLSN(s)
		require.NoError(t, err, s)
		assert.Equal(t, s, l.String())
	}
	a, _ := syncread.ParseLSN("1/FFFFFFFF")
	b, _ := syncread.ParseLSN("2/0")
	assert.Less(t, a, b, "the high half orders first")
	for _, bad := range []string{"", "16", "16/", "/1", "G/1", "1/100000000"} {
		_, err := syncread.ParseLSN(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestWithToken_KeepsTheLargest(t *testing.T) {
	ctx := context.Background()
	_, ok := syncread.Token(ctx)
	assert.False(t, ok)
	assert.Equal(t, ctx, syncread.WithToken(ctx, 0), "a zero token is no token")
	ctx = syncread.WithToken(ctx, 100)
	ctx = syncread.WithToken(ctx, 50)
	tok, ok := syncread.Token(ctx)
	assert.True(t, ok)
	assert.Equal(t, syncread.LSN(100), tok)
	tok, _ = syncread.Token(syncread.WithToken(ctx, 200))
	assert.Equal(t, syncread.LSN(200), tok)
}
