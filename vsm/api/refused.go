package api

import (
	"errors"
	"syscall"
)

// isRefused reports whether err is a refused connection: nothing listens.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
