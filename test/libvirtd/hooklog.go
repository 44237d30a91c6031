package libvirtd

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// HookCall is one run of the hook, as the wrapper logged it.
type HookCall struct {
	Domain, Op, SubOp string
	Code              int
	Start             time.Time
	Took              time.Duration
}

// HookCalls reads the hook wrapper's log.
func (d *Daemon) HookCalls() ([]HookCall, error) {
	data, err := os.ReadFile(d.HookLog())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("libvirtd: hook log: %w", err)
	}
	return parseHookLog(string(data))
}

// parseHookLog parses "START-NS END-NS RC DOMAIN OP SUBOP" lines.
func parseHookLog(s string) ([]HookCall, error) {
	var calls []HookCall
	for n, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 6 {
			return nil, fmt.Errorf("libvirtd: hook log line %d: %q: want 6 fields", n+1, line)
		}
		var v [3]int64
		for i := range v {
			x, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("libvirtd: hook log line %d: %q: %w", n+1, line, err)
			}
			v[i] = x
		}
		calls = append(calls, HookCall{Domain: f[3], Op: f[4], SubOp: f[5], Code: int(v[2]),
			Start: time.Unix(0, v[0]), Took: time.Duration(v[1] - v[0])})
	}
	return calls, nil
}
