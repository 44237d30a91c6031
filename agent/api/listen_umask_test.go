package api_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/vem-switch/vem/agent/api"
)

// TestListenUnderUmaskZero listens and closes over and over under umask 0
// while another goroutine watches the socket's directory: nothing in it
// may ever be reachable by more than api.SocketMode allows: the socket at
// its path never has other permissions, and whatever else appears (the
// private directory the socket is bound in) is closed to group and other.
// Setting the umask is process-wide, so this test is not parallel.
func TestListenUnderUmaskZero(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := t.TempDir()
	path := filepath.Join(dir, "vem.sock")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var problems []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		seen := map[string]bool{}
		report := func(p string) {
			if !seen[p] && len(problems) < 10 {
				seen[p] = true
				problems = append(problems, p)
			}
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				report(err.Error())
				continue
			}
			for _, e := range entries {
				fi, err := os.Lstat(filepath.Join(dir, e.Name()))
				if errors.Is(err, fs.ErrNotExist) {
					continue // gone since the listing
				}
				if err != nil {
					report(err.Error())
					continue
				}
				switch {
				case e.Name() == "vem.sock":
					if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != api.SocketMode {
						report("vem.sock appeared with mode " + fi.Mode().String())
					}
				case fi.Mode().Perm()&0o077 != 0:
					report(e.Name() + " appeared with mode " + fi.Mode().String())
				}
			}
		}
	}()
	for range 100 {
		ln, err := api.Listen(path)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
		ln.Close()
	}
	close(stop)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d entries left behind, want none: %v", len(entries), entries)
	}
}
