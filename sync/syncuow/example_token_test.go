package syncuow_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TokenHeader carries a read-your-writes token between a client and the API.
const TokenHeader = "Tvsync-Token"

// UserAPI writes users in deferred mode and reads their tv_user documents,
// waiting first for the writes the client says it has made.
type UserAPI struct {
	Pool   *pgxpool.Pool
	Engine *tvsync.Engine // every process: the same Config.TokenKey and Namespace
	Runner *syncuow.Runner
	// Wait bounds how long a read waits for its token; zero means 2s.
	Wait time.Duration
}

// ServeHTTP serves POST /users?name=N (creates a user, answers its id and a
// token in TokenHeader) and GET /users/ID (the user's document, current with
// the writes of the token the request carries, if any).
func (a UserAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/users":
		var id string
		tok, err := a.Runner.WithTiming(syncuow.Deferred).RunToken(ctx, func(w *syncuow.Work) error {
			var uid [16]byte
			err := w.Tx().QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ($1) RETURNING id", r.URL.Query().Get("name")).Scan(&uid)
			if err == nil {
				w.Record(tvsync.Change{Entity: "user", IDs: []tvsync.ID{tvsync.UUIDKey(uid)}})
				id = tvsync.UUIDKey(uid).String()
			}
			return err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set(TokenHeader, tok.String())
		fmt.Fprint(w, id)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/users/"):
		if text := r.Header.Get(TokenHeader); text != "" {
			tok, err := a.Engine.ParseToken(text)
			if err != nil { // forged, altered, another tenant's: never waited on
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, cmp.Or(a.Wait, 2*time.Second))
			res, err := a.Engine.WaitFor(wctx, tok)
			cancel()
			switch {
			case err != nil:
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			case res.Status == tvsync.WaitStalled:
				http.Error(w, fmt.Sprintf("sync stalled on %d rows", res.Pending), http.StatusServiceUnavailable)
				return
			case res.Status == tvsync.WaitTimedOut:
				w.Header().Set("Tvsync-Stale", "true") // serve what there is, and say so
			}
		}
		var doc []byte
		err := a.Pool.QueryRow(ctx, "SELECT data FROM tv_user WHERE id = $1", strings.TrimPrefix(r.URL.Path, "/users/")).Scan(&doc)
		if errors.Is(err, pgx.ErrNoRows) {
			http.NotFound(w, r)
			return
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(doc)
	default:
		http.NotFound(w, r)
	}
}

// readYourWrite writes a user through api in one request and reads it in a
// second, handing the first response's token back: the status and body of
// the read.
func readYourWrite(api http.Handler, name string) (int, string, error) {
	srv := httptest.NewServer(api)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/users?name="+name, "text/plain", nil)
	if err != nil {
		return 0, "", err
	}
	id, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, string(id), nil
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/users/"+string(id), nil)
	req.Header.Set(TokenHeader, resp.Header.Get(TokenHeader)) // what the client got back
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// ExampleRunner_RunToken reads a deferred write across two HTTP requests:
// the write answers a token, the read sends it back and waits on it before
// reading tv_user (see UserAPI).
func ExampleRunner_RunToken() {
	var pool *pgxpool.Pool    // pgxpool.New(ctx, url)
	var engine *tvsync.Engine // tvsync.NewEngine(pool, tvsync.Config{TokenKey: key}, entities...); a Worker runs
	api := UserAPI{Pool: pool, Engine: engine, Runner: must(syncuow.New(pool, engine, syncuow.Options{}))}
	status, doc, err := readYourWrite(api, "ada")
	if err != nil {
		log.Print(err)
	}
	log.Print(status, doc) // 200 and the new user's document, never a 404
}
