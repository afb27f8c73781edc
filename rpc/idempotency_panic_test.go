package rpc

import (
	"context"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

func TestIdempotencyKeySurvivesAPanickingFirstAttempt(t *testing.T) {
	c := newIdemCache(16)
	func() {
		defer func() { _ = recover() }()
		_, _ = c.do(context.Background(), "k", 0, func() ([]byte, error) { panic("boom") })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := c.do(ctx, "k", 0, func() ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(res) != "ok" {
		t.Fatalf("retry after a panic: %q, %v; want a fresh run", res, err)
	}
	if code := coord.ErrorCode(err); code != "" {
		t.Fatalf("code %q", code)
	}
}
