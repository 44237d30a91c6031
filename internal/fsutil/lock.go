package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is what a LockedError matches with errors.Is.
var ErrLocked = errors.New("instance is already running")

// LockedError is LockInstance's error when another process holds the
// lock.
type LockedError struct {
	Instance string // the lock file's name without ".lock"
	Path     string // the lock file
	PID      int    // the holder, as it wrote itself in the file; 0 if unknown
}

// Error names the instance, the holder and the lock file.
func (e *LockedError) Error() string {
	if e.PID <= 0 {
		return fmt.Sprintf("instance %s is already run by another process (lock %s)", e.Instance, e.Path)
	}
	return fmt.Sprintf("instance %s is already run by PID %d (lock %s)", e.Instance, e.PID, e.Path)
}

// Is matches ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// holderWait is how long LockInstance waits for a holder that has just
// taken the lock to write its PID.
const holderWait = 100 * time.Millisecond

// LockInstance takes the instance lock at path (such as
// /run/vem/default.lock; the instance is the name without ".lock"),
// creating the file and its directory if missing, and writes this
// process's PID in it. It never waits: when another process holds the
// lock, the error is a *LockedError naming that process's PID.
//
// The lock is an flock(2) on the open file, so the kernel drops it when
// the holder exits or dies, however it dies: a PID left in the file by a
// dead holder does not block the next one, which overwrites it. The file
// is never removed, since removing it would let two processes lock two
// different files of the same name. The descriptor is close-on-exec, so
// child processes do not hold the lock.
//
// release unlocks and empties the file; calls after the first do nothing.
func LockInstance(path string) (release func() error, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			instance := strings.TrimSuffix(filepath.Base(path), ".lock")
			return nil, &LockedError{Instance: instance, Path: path, PID: holder(f)}
		}
		return nil, fmt.Errorf("instance lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close() // drops the lock
		return nil, fmt.Errorf("instance lock %s: %w", path, err)
	}
	var once sync.Once
	return func() error {
		err := error(nil)
		once.Do(func() {
			// Empty first: after the close, another process may hold it.
			if terr := f.Truncate(0); terr != nil {
				err = fmt.Errorf("release instance lock %s: %w", path, terr)
			}
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("release instance lock %s: %w", path, cerr)
			}
		})
		return err
	}, nil
}

func flock(f *os.File, how int) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	if err := raw.Control(func(fd uintptr) {
		for {
			if lockErr = unix.Flock(int(fd), how); lockErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return lockErr
}

// writePID replaces the file's content with this process's PID.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return nil
}

// holder reads the PID the lock's holder wrote, waiting briefly for one
// that has only just taken it; 0 if none comes.
func holder(f *os.File) int {
	deadline := time.Now().Add(holderWait)
	for {
		data, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				return pid
			}
		}
		if time.Now().After(deadline) {
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}
