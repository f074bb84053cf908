package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	gosync "sync"
	"time"
)

// NetworkDelay is the delay the network variants add to every chunk of
// bytes in each direction: 0.5 ms, so a round trip costs about 1 ms more,
// a typical round trip between machines of one region.
const NetworkDelay = 500 * time.Microsecond

// ProxyOptions configures StartProxy.
type ProxyOptions struct {
	// Delay is how long every chunk of bytes waits before it is forwarded,
	// in each direction.
	Delay time.Duration
	// MaxConns bounds the connections open at once; a connection beyond it
	// is closed as soon as it is accepted. Zero means 128.
	MaxConns int
}

const (
	// proxyQueue bounds the chunks in flight per direction of a
	// connection: a sender that gets that far ahead waits.
	proxyQueue = 64
	// proxyChunk is the largest chunk read at once.
	proxyChunk = 64 << 10
	// sleepSlack is what the kernel's timer slack adds to a nanosleep;
	// the proxy wakes that much early.
	sleepSlack = 50 * time.Microsecond
)

// Proxy is an in-process TCP proxy listening on 127.0.0.1 that forwards
// every chunk of bytes it reads, in either direction, Delay after it
// arrived. Chunks keep their order and overlap in flight (a stream of
// chunks is delayed once, not once per chunk), so it models a link's
// latency, not its bandwidth. It stops when its context ends or Close is
// called.
type Proxy struct {
	ln                      net.Listener
	network, upstream, addr string
	opts                    ProxyOptions
	cancel                  context.CancelFunc
	wg                      gosync.WaitGroup

	mu    gosync.Mutex
	conns int
}

// StartProxy listens on a free port of 127.0.0.1 and forwards each
// connection to upstream (network "tcp" or "unix", as
// pgconn.NetworkAddress returns) until ctx ends or Close is called.
func StartProxy(ctx context.Context, network, upstream string, opts ProxyOptions) (*Proxy, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = 128
	}
	if opts.Delay < 0 {
		return nil, fmt.Errorf("bench: proxy delay %s is negative", opts.Delay)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: proxy listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Proxy{ln: ln, network: network, upstream: upstream, addr: ln.Addr().String(), opts: opts, cancel: cancel}
	p.wg.Go(func() {
		<-ctx.Done()
		_ = ln.Close()
	})
	p.wg.Go(func() { p.accept(ctx) })
	return p, nil
}

// Addr is the proxy's address, 127.0.0.1:port.
func (p *Proxy) Addr() string { return p.addr }

// Close stops the proxy: no new connection is accepted, every open one is
// closed, and Close returns when all its goroutines have ended.
func (p *Proxy) Close() {
	p.cancel()
	p.wg.Wait()
}

func (p *Proxy) accept(ctx context.Context) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed: ctx ended
		}
		p.mu.Lock()
		full := p.conns >= p.opts.MaxConns
		if !full {
			p.conns++
		}
		p.mu.Unlock()
		if full {
			_ = c.Close()
			continue
		}
		p.wg.Go(func() {
			defer func() {
				p.mu.Lock()
				p.conns--
				p.mu.Unlock()
			}()
			p.serve(ctx, c)
		})
	}
}

// serve forwards between client and a new upstream connection until either
// side ends or ctx does.
func (p *Proxy) serve(ctx context.Context, client net.Conn) {
	defer client.Close()
	var d net.Dialer
	dctx, cancelDial := context.WithTimeout(ctx, 10*time.Second)
	server, err := d.DialContext(dctx, p.network, p.upstream)
	cancelDial()
	if err != nil {
		return
	}
	defer server.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(cctx, func() {
		_ = client.Close()
		_ = server.Close()
	})
	defer stop()
	var wg gosync.WaitGroup
	wg.Go(func() { p.pipe(cctx, cancel, server, client) })
	wg.Go(func() { p.pipe(cctx, cancel, client, server) })
	wg.Wait()
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk Delay after it was read. When either
// side fails it calls done (which closes both connections) and returns
// once its reader has ended too.
func (p *Proxy) pipe(ctx context.Context, done context.CancelFunc, dst, src net.Conn) {
	ch := make(chan chunk, proxyQueue)
	go func() {
		defer close(ch)
		buf := make([]byte, proxyChunk)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case ch <- chunk{b: bytes.Clone(buf[:n]), due: time.Now().Add(p.opts.Delay)}:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		sleepUntil(c.due)
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	done()
	for range ch { // wait for the reader, unblocked by the closed connections
	}
}
