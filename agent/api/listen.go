package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSocket is the socket of the agent instance named "default".
const DefaultSocket = "/run/vem/default.sock"

// SocketMode lets root and the socket's group talk to the agent: 0660,
// not 0600, so that an operator can grant vemctl (or a monitoring agent)
// access by group without running it as root. Connecting to a unix
// socket needs write permission on it; nobody else gets any.
const SocketMode = 0o660

// Listen listens on the unix socket at path for a Server. It creates the
// socket's directory (0755) and replaces a stale socket that a crashed
// agent left behind, but fails when another agent answers on path.
//
// The socket appears at path with SocketMode already set, whatever the
// umask: it is bound in a fresh directory beside path that only its
// owner can enter (0700), given its mode there, and renamed into place,
// without replacing anything that appeared at path meanwhile. Binding at
// path and setting the mode afterwards would leave it connectable by
// anyone for a moment under a permissive umask, and changing the umask
// would race with every other goroutine that creates files. The private
// directory adds about 17 bytes to the path the kernel binds, which must
// stay within the 107 bytes a unix socket address holds.
//
// Closing the listener removes the socket, unless it is no longer the
// one at path.
func Listen(path string) (net.Listener, error) {
	return listen(path, nil)
}

// listen is Listen, calling bound (when not nil) with the socket's
// private path once it is bound there and before it moves to path, so
// that tests can see the mechanism at work.
func listen(path string, bound func(private string)) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	private, err := os.MkdirTemp(dir, ".vem")
	if err != nil {
		return nil, fmt.Errorf("create private directory for the socket: %w", err)
	}
	defer os.RemoveAll(private) // empty once the socket has moved out
	// MkdirTemp asks for 0700, but a default ACL on dir could grant more.
	if err := os.Chmod(private, 0o700); err != nil {
		return nil, fmt.Errorf("create private directory for the socket: %w", err)
	}
	tmp := filepath.Join(private, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The socket will not be at tmp to unlink; socketListener unlinks path.
	ln.SetUnlinkOnClose(false)
	if bound != nil {
		bound(tmp)
	}
	if err := os.Chmod(tmp, SocketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("set mode of socket %s: %w", path, err)
	}
	if err := renameNoReplace(tmp, path); err != nil {
		ln.Close()
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("check socket %s: %w", path, err)
	}
	return &socketListener{UnixListener: ln, path: path, file: fi}, nil
}

// renameNoReplace moves the socket at tmp to path, failing if something
// is at path already: another agent that started meanwhile.
func renameNoReplace(tmp, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("another agent is already serving on %s (its socket appeared while this one was set up)", path)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		// The filesystem cannot refuse to replace: removeStale has
		// checked path, and the instance lock keeps two agents apart.
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("move socket into place: %w", err)
		}
		return nil
	}
	return fmt.Errorf("move socket into place at %s: %w", path, err)
}

// socketListener is a unix listener whose socket was renamed to path
// after binding: it reports path as its address and removes the socket
// at path on Close, if that is still its own.
type socketListener struct {
	*net.UnixListener
	path   string
	file   fs.FileInfo // the socket at path, to recognise it on Close
	remove sync.Once
}

// Addr returns the socket's path, not the private one it was bound at.
func (l *socketListener) Addr() net.Addr {
	return &net.UnixAddr{Name: l.path, Net: "unix"}
}

// Close stops listening and removes the socket, once.
func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.remove.Do(func() {
		if fi, statErr := os.Lstat(l.path); statErr == nil && os.SameFile(fi, l.file) {
			if rmErr := os.Remove(l.path); rmErr != nil && err == nil {
				err = fmt.Errorf("remove socket: %w", rmErr)
			}
		}
	})
	return err
}

// removeStale removes the socket at path when nothing answers on it.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		// Never delete what is not ours to delete.
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("another agent is already serving on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}
