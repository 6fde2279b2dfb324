package wrappers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
)

// WithLogger logs one line per attempt at Debug level (Warn for failures)
// with an allowlist of attributes: family, operation, method, route
// template, status, duration, attempt, request id and an error class.
// Query values, paths with identifiers, bodies, headers, tokens and error
// messages (PKB diagnostics may quote patient data) are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

func (p *pipeline) log(ctx context.Context, op access.Operation, method string, status int, took time.Duration, attempt int, requestID string, err error) {
	if p.logger == nil {
		return
	}
	level := slog.LevelDebug
	attrs := []slog.Attr{
		slog.String("family", string(op.Family)),
		slog.String("operation", op.ID),
		slog.String("method", method),
		slog.String("route", op.Path),
		slog.Int("attempt", attempt),
		slog.Duration("duration", took),
	}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	if requestID != "" {
		attrs = append(attrs, slog.String("request_id", requestID))
	}
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", errorClass(err)))
	}
	p.logger.LogAttrs(ctx, level, "pkb request", attrs...)
}

// errorClass names what went wrong without any text from the server.
func errorClass(err error) string {
	var ae *APIError
	var te *authn.TokenError
	switch {
	case errors.Is(err, ErrNotPermitted):
		return "not_permitted"
	case errors.Is(err, ErrUnsafeURL):
		return "unsafe_url"
	case errors.Is(err, ErrResponseTooLarge):
		return "response_too_large"
	case errors.As(err, &ae):
		if ae.WrongUserType {
			return "api:wrong_user_type"
		}
		if knownCodes[ae.ResponseCode] {
			return "api:" + ae.ResponseCode
		}
		return "api"
	case errors.As(err, &te):
		if te.Code != "" {
			return "token:" + te.Code
		}
		return "token"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "transport"
}
