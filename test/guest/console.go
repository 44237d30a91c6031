package guest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Console is the host end of a guest's command channel: its second serial
// port, a unix socket QEMU listens on (libvirt: <serial type='unix'> with
// <source mode='bind'>, target port 1). The guest's init runs each line it
// reads there with sh and answers with the output and "vem-guest-done RC".
// One command runs at a time.
type Console struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
}

// DialConsole connects to the command channel's socket, retrying until ctx
// ends (QEMU creates it as the guest starts).
func DialConsole(ctx context.Context, path string) (*Console, error) {
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			return &Console{conn: c, r: bufio.NewReader(c)}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("guest: console %s: %w (last: %v)", path, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close closes the connection.
func (c *Console) Close() error { return c.conn.Close() }

// Ready waits until the guest's init answers on the channel (it starts
// reading a moment after boot; lines sent before are lost, so it asks
// again every second).
func (c *Console) Ready(ctx context.Context) error {
	for {
		try, cancel := context.WithTimeout(ctx, time.Second)
		out, _, err := c.Run(try, "echo vem-guest-ready")
		cancel()
		if err == nil && strings.Contains(out, "vem-guest-ready") {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("guest: console not answering: %w", ctx.Err())
		}
	}
}

// Run runs one command line in the guest and returns its output and exit
// status. A command that does not finish within ctx leaves the channel in
// an unknown place: the following Run skips output up to its own end
// marker only, so give commands their own bound (ping -w, timeout).
func (c *Console) Run(ctx context.Context, cmdline string) (string, int, error) {
	if strings.ContainsAny(cmdline, "\n\r") {
		return "", 0, fmt.Errorf("guest: command %q: one line only", cmdline)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	_ = c.conn.SetDeadline(deadline)
	defer func() { _ = c.conn.SetDeadline(time.Time{}) }()
	// A marker of this call tells its answer from a late one of an
	// earlier call that timed out.
	mark := strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := fmt.Fprintf(c.conn, "echo vem-guest-begin-%s; %s\n", mark, cmdline); err != nil {
		return "", 0, fmt.Errorf("guest: console: send %q: %w", cmdline, err)
	}
	var out strings.Builder
	begun := false
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			if os.IsTimeout(err) {
				err = fmt.Errorf("%w: %w", ctx.Err(), err)
			}
			return out.String(), 0, fmt.Errorf("guest: console: %q: %w", cmdline, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "vem-guest-begin-"+mark:
			begun = true
		case !begun:
		case strings.HasPrefix(line, "vem-guest-done "):
			rc, err := strconv.Atoi(strings.TrimPrefix(line, "vem-guest-done "))
			if err != nil {
				return out.String(), 0, fmt.Errorf("guest: console: bad end line %q", line)
			}
			return out.String(), rc, nil
		default:
			out.WriteString(line + "\n")
		}
	}
}

// WaitLog waits until the console log file at path holds want and
// returns the log.
func WaitLog(ctx context.Context, path, want string) (string, error) {
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), want) {
			return string(data), nil
		}
		select {
		case <-ctx.Done():
			return string(data), fmt.Errorf("guest: %q not in console log %s: %w", want, path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
