package fsutil

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lockHelperEnv names the lock file TestLockHelperProcess takes when the
// test binary is re-executed as another lock holder.
const lockHelperEnv = "FSUTIL_TEST_LOCK_HELPER"

// TestLockHelperProcess is not a test: re-executed by holdLock, it takes
// the lock named in its environment, says so on stdout and holds the lock
// until its stdin closes or it is killed.
func TestLockHelperProcess(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		t.Skip("helper process for the lock tests")
	}
	release, err := LockInstance(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	var buf [1]byte
	os.Stdin.Read(buf[:]) // until the parent closes it
	if err := release(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// holderProc is another process that holds a lock.
type holderProc struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
}

// holdLock starts another process that takes the lock at path and
// returns once it holds it.
func holdLock(t *testing.T, path string) *holderProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stopped by its PID, should a test fail before it ends.
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("helper process: %q, %v", line, err)
	}
	return &holderProc{cmd: cmd, stdin: stdin}
}

func TestLockInstanceHeldByAnotherProcess(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, h *holderProc) // how the holder goes away
	}{
		{"holder is killed", func(t *testing.T, h *holderProc) {
			if err := h.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			h.cmd.Wait()
		}},
		{"holder releases", func(t *testing.T, h *holderProc) {
			h.stdin.Close()
			if err := h.cmd.Wait(); err != nil {
				t.Fatalf("helper process: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "default.lock")
			h := holdLock(t, path)

			_, err := LockInstance(path)
			want := fmt.Sprintf("instance default is already run by PID %d (lock %s)", h.cmd.Process.Pid, path)
			if err == nil || err.Error() != want {
				t.Fatalf("second lock: got %v\nwant %s", err, want)
			}
			var le *LockedError
			if !errors.As(err, &le) || le.PID != h.cmd.Process.Pid || !errors.Is(err, ErrLocked) {
				t.Errorf("error %#v is not a LockedError for PID %d matching ErrLocked", err, h.cmd.Process.Pid)
			}

			tt.end(t, h)
			release, err := LockInstance(path)
			if err != nil {
				t.Fatalf("lock after the holder went: %v", err)
			}
			defer release()
			if got := readPID(t, path); got != os.Getpid() {
				t.Errorf("lock file holds PID %d, want ours, %d", got, os.Getpid())
			}
		})
	}
}

// TestLockInstanceStalePID checks that a PID left in the file by a holder
// that died does not block, even when that PID is alive again as some
// other process.
func TestLockInstanceStalePID(t *testing.T) {
	tests := []struct {
		name, content string
	}{
		{"dead process", "4194304\n"}, // above pid_max's ceiling: never alive
		{"live unrelated process", "1\n"},
		{"garbage", "not a pid"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "default.lock")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			release, err := LockInstance(path)
			if err != nil {
				t.Fatalf("lock over %q: %v", tt.content, err)
			}
			defer release()
			if got := readPID(t, path); got != os.Getpid() {
				t.Errorf("lock file holds PID %d, want ours, %d", got, os.Getpid())
			}
		})
	}
}

func TestLockInstanceInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "vem", "hv1.lock") // the directory is created
	release, err := LockInstance(path)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file, so this process is refused too.
	_, err = LockInstance(path)
	want := fmt.Sprintf("instance hv1 is already run by PID %d (lock %s)", os.Getpid(), path)
	if err == nil || err.Error() != want {
		t.Fatalf("second lock: got %v\nwant %s", err, want)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Errorf("second release: %v", err)
	}
	if data, err := os.ReadFile(path); err != nil || len(data) != 0 {
		t.Errorf("lock file after release: %q, %v; want it empty", data, err)
	}
	release, err = LockInstance(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release()
}

func TestLockedErrorUnknownHolder(t *testing.T) {
	err := &LockedError{Instance: "default", Path: "/run/vem/default.lock"}
	if want := "instance default is already run by another process (lock /run/vem/default.lock)"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

// TestLockInstanceWaitsForHolderPID checks that a holder that has taken
// the lock but not yet written its PID is still named.
func TestLockInstanceWaitsForHolderPID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "default.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil { // a holder mid-way, its PID not yet written
		t.Fatal(err)
	}
	go func() {
		time.Sleep(holderWait / 4)
		f.WriteAt([]byte("4242\n"), 0)
	}()
	_, err = LockInstance(path)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != 4242 {
		t.Errorf("got %v, want a LockedError naming PID 4242", err)
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("lock file holds %q: %v", data, err)
	}
	return pid
}
