package synccli

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
)

var (
	// urlPassword matches the password of a URL's user information,
	// scheme://user:PASSWORD@, up to the last '@' before the URL ends (at
	// whitespace): a password may hold unencoded '@'s, and a user name too
	// (user@corp:PASSWORD@host).
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#\s]*:)\S*@`)
	// kvPassword matches a password setting of a key/value connection
	// string: password=secret, password=se\ cret (a backslash escapes the
	// next character, a space included) or password='se cret'. A backtick,
	// with a colon, or a double quote that ends the value before whitespace
	// is kept: it is the quoting of the message around the string.
	kvPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|(?:\\.|[^\s\\])+?)(` + "`" + `:?|")?(\s|$)`)
)

// Redact returns s with every password of a connection URL or key/value
// connection string in it replaced by "xxxxx".
func Redact(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}xxxxx@")
	return kvPassword.ReplaceAllString(s, "${1}xxxxx${2}${3}")
}

// redactAttr is the log handlers' ReplaceAttr: it redacts passwords in
// strings and errors.
func redactAttr(_ []string, attr slog.Attr) slog.Attr {
	switch attr.Value.Kind() {
	case slog.KindString:
		if s := attr.Value.String(); strings.Contains(s, "://") || strings.Contains(strings.ToLower(s), "password") {
			attr.Value = slog.StringValue(Redact(s))
		}
	case slog.KindAny:
		if err, ok := attr.Value.Any().(error); ok {
			attr.Value = slog.StringValue(Redact(err.Error()))
		}
	}
	return attr
}

// quietInterrupt drops the error records that only say a command was
// interrupted (their error is a cancellation) once ctx is done: the
// operator asked for it, and Execute says so in one line.
type quietInterrupt struct {
	slog.Handler
	ctx context.Context
}

// Handle implements slog.Handler.
func (h *quietInterrupt) Handle(ctx context.Context, r slog.Record) error {
	if h.ctx.Err() != nil && r.Level >= slog.LevelError {
		cancelled := false
		r.Attrs(func(attr slog.Attr) bool {
			if err, ok := attr.Value.Any().(error); ok && (errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "context canceled")) {
				cancelled = true
			}
			return !cancelled
		})
		if cancelled {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *quietInterrupt) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &quietInterrupt{Handler: h.Handler.WithAttrs(attrs), ctx: h.ctx}
}

// WithGroup implements slog.Handler.
func (h *quietInterrupt) WithGroup(name string) slog.Handler {
	return &quietInterrupt{Handler: h.Handler.WithGroup(name), ctx: h.ctx}
}
