package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer accepts connections on 127.0.0.1 and echoes what they send,
// until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t *testing.T, ctx context.Context, upstream string, opts ProxyOptions) *Proxy {
	t.Helper()
	p, err := StartProxy(ctx, "tcp", upstream, opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// echo sends msg through c and reads it back.
func echo(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	return got
}

func TestProxy_ForwardsBytesIntactAndDelaysEachDirection(t *testing.T) {
	t.Parallel()
	const delay = 3 * time.Millisecond
	p := startProxy(t, context.Background(), echoServer(t), ProxyOptions{Delay: delay})
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()

	start := time.Now()
	assert.Equal(t, []byte("ping"), echo(t, c, []byte("ping")))
	// A lower bound, not a speed assertion: a reply cannot come back before
	// it has waited once each way.
	assert.GreaterOrEqual(t, time.Since(start), 2*(delay-sleepSlack), "one round trip through the proxy")

	big := make([]byte, 3<<20) // many chunks, in flight at once
	_, _ = rand.Read(big)
	assert.True(t, bytes.Equal(big, echo(t, c, big)), "3 MiB must come back byte for byte")
}

func TestProxy_ClosesConnectionsBeyondMaxConns(t *testing.T) {
	t.Parallel()
	p := startProxy(t, context.Background(), echoServer(t), ProxyOptions{MaxConns: 1})
	first, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	assert.Equal(t, []byte("a"), echo(t, first, []byte("a")))

	second, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer second.Close()
	require.NoError(t, second.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = second.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "a connection beyond MaxConns is closed at once")

	require.NoError(t, first.Close())
	assert.Eventually(t, func() bool {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("b")); err != nil {
			return false
		}
		got := make([]byte, 1)
		_, err = io.ReadFull(c, got)
		return err == nil && got[0] == 'b'
	}, 10*time.Second, 20*time.Millisecond, "the slot frees when the first connection closes")
}

func TestProxy_StopsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	p := startProxy(t, ctx, echoServer(t), ProxyOptions{Delay: time.Millisecond})
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, []byte("x"), echo(t, c, []byte("x")))

	cancel()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the open connection must be closed, not left hanging")
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed: // every goroutine has ended
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return: a connection was left open")
	}
	_, err = net.Dial("tcp", p.Addr())
	assert.Error(t, err, "the listener is closed")
}
