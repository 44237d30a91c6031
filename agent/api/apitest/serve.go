package apitest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vem-switch/vem/agent/api"
)

// Serve serves b on a unix socket in a temporary directory until the test
// ends, and returns the socket's path.
func Serve(t testing.TB, b api.Backend) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vem.sock")
	ln, err := api.Listen(path)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := api.NewServer(b, zaptest.NewLogger(t))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		// Shutdown, unlike Close, waits for handlers, which must not log
		// to t once the test is over.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shut down API server: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path
}
