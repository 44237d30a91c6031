package headless

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// crashHelperEnv names the store a re-executed test binary writes before
// it is killed.
const crashHelperEnv = "VEM_HEADLESS_CRASH_STORE"

// TestCrashHelper is not a test: the test binary re-executed by
// TestCheckpointSurvivesKill9 saves generations 1..5, says so and waits
// to be killed, with the store still open.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashHelperEnv)
	if path == "" {
		t.Skip("helper process of TestCheckpointSurvivesKill9")
	}
	s, err := Open(path, Options{})
	if err != nil {
		os.Exit(2)
	}
	for gen := uint64(1); gen <= 5; gen++ {
		if err := s.Save(testCheckpoint(t, gen)); err != nil {
			os.Exit(3)
		}
	}
	os.Stdout.WriteString("saved " + strconv.Itoa(5) + "\n")
	time.Sleep(time.Minute)
	os.Exit(4)
}

// TestCheckpointSurvivesKill9 kills a process holding the store open
// right after its last save: a new process opens the file and finds that
// checkpoint whole.
func TestCheckpointSurvivesKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "saved 5\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s := openTest(t, path)
	defer s.Close()
	got, ok, err := s.Load()
	if err != nil || !ok || got.Generation != 5 || got.Module != 3 || got.Switch == nil {
		t.Fatalf("after kill -9 Load = generation %d module %d, ok %v, %v; want generation 5", got.Generation, got.Module, ok, err)
	}
}
