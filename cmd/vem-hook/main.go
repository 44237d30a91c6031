// Command vem-hook is libvirt's qemu hook for vem: installed as
// /etc/libvirt/hooks/qemu, libvirt runs it synchronously as
//
//	qemu DOMAIN OPERATION SUB-OPERATION EXTRA
//
// with the domain XML on stdin. It attaches the domain's vem ports
// through vem-agent's socket at "start begin", detaches them at "stopped
// end" and "release end", checks the definition at "prepare begin" and an
// incoming domain at "migrate begin" and "restore begin" (remembering it
// as incoming, so that the start's attach defers the ports' MAC
// announcement until vem-libvirt reports the domain resumed here; the
// markers live in the "incoming" directory beside the socket), and reattaches
// at "reconnect begin" and "attach begin" (see package agent/hook). It
// never calls libvirt (libvirtd waits for it), never writes to stdout
// (libvirt would take it for a new domain XML at migrate and restore),
// and writes one line per problem on stderr. Exit status 1 makes libvirt
// abort prepare, start, migrate and restore.
//
// libvirt runs hooks with a cleared environment, so the settings are read
// from a file first (/etc/vem/hook.conf, or the file VEM_HOOK_CONFIG
// names), then from the environment, then from flags placed before the
// four arguments libvirt passes:
//
//	VEM_SOCKET=/run/vem/default.sock   # -socket: the agent's API socket
//	VEM_HOOK_TIMEOUT=5s                # -timeout: bound of the agent calls
//	VEM_HOOK_ON_AGENT_DOWN=fail        # -on-agent-down: fail or continue
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/hook"
)

// DefaultConfigFile is read when VEM_HOOK_CONFIG does not name another.
const DefaultConfigFile = "/etc/vem/hook.conf"

// DefaultTimeout bounds the agent calls of one invocation.
const DefaultTimeout = 5 * time.Second

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stderr, os.Getenv))
}

type settings struct {
	socket  string
	timeout time.Duration
	down    hook.AgentDown
}

// run is the hook; it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, getenv func(string) string) int {
	s, pos, err := configure(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "vem-hook: %s\n", oneLine(err.Error()))
		return 2
	}
	domain, op, subOp := pos[0], pos[1], pos[2]
	data, err := readStdin(stdin, s.timeout)
	if hook.ActionOf(op, subOp) == hook.Ignore {
		return 0 // stdin drained; nothing to do
	}
	if err != nil {
		fmt.Fprintln(stderr, oneLine(fmt.Sprintf("vem-hook: domain %s: %s %s: %v", domain, op, subOp, err)))
		return 1
	}
	res := hook.Run(ctx, domain, op, subOp, data, hook.Config{Timeout: s.timeout, OnAgentDown: s.down, InterfaceGone: interfaceGone,
		IncomingDir: incomingDir(s.socket)},
		func() hook.Client { return api.NewClient(s.socket) })
	for _, m := range res.Messages {
		fmt.Fprintln(stderr, m)
	}
	if res.Fail {
		return 1
	}
	return 0
}

// configure reads the settings: the file, the environment, the flags.
// The last four arguments are libvirt's; flags come before them.
func configure(args []string, getenv func(string) string) (settings, []string, error) {
	s := settings{socket: api.DefaultSocket, timeout: DefaultTimeout, down: hook.AgentDownFail}
	if len(args) < 4 {
		return s, nil, fmt.Errorf("usage: vem-hook [-socket PATH] [-timeout DURATION] [-on-agent-down fail|continue] DOMAIN OPERATION SUB-OPERATION EXTRA (got %d arguments)", len(args))
	}
	flagArgs, pos := args[:len(args)-4], args[len(args)-4:]
	vals := map[string]string{}
	file := getenv("VEM_HOOK_CONFIG")
	explicit := file != ""
	if !explicit {
		file = DefaultConfigFile
	}
	if err := readConfigFile(file, vals); err != nil && (explicit || !errors.Is(err, fs.ErrNotExist)) {
		return s, nil, err
	}
	for _, k := range []string{"VEM_SOCKET", "VEM_HOOK_TIMEOUT", "VEM_HOOK_ON_AGENT_DOWN"} {
		if v := getenv(k); v != "" {
			vals[k] = v
		}
	}
	fsFlags := flag.NewFlagSet("vem-hook", flag.ContinueOnError)
	fsFlags.SetOutput(io.Discard)
	socket := fsFlags.String("socket", "", "the agent's API socket (VEM_SOCKET)")
	timeout := fsFlags.String("timeout", "", "bound of the agent calls (VEM_HOOK_TIMEOUT)")
	down := fsFlags.String("on-agent-down", "", "fail or continue (VEM_HOOK_ON_AGENT_DOWN)")
	if err := fsFlags.Parse(flagArgs); err != nil {
		return s, nil, fmt.Errorf("flags: %w", err)
	}
	if fsFlags.NArg() > 0 {
		return s, nil, fmt.Errorf("flags: unexpected argument %q before DOMAIN OPERATION SUB-OPERATION EXTRA", fsFlags.Arg(0))
	}
	for k, v := range map[string]string{"VEM_SOCKET": *socket, "VEM_HOOK_TIMEOUT": *timeout, "VEM_HOOK_ON_AGENT_DOWN": *down} {
		if v != "" {
			vals[k] = v
		}
	}
	if v := vals["VEM_SOCKET"]; v != "" {
		s.socket = v
	}
	if v := vals["VEM_HOOK_TIMEOUT"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, nil, fmt.Errorf("timeout %q: want a positive duration such as 5s", v)
		}
		s.timeout = d
	}
	if v := vals["VEM_HOOK_ON_AGENT_DOWN"]; v != "" {
		p, err := hook.ParseAgentDown(v)
		if err != nil {
			return s, nil, err
		}
		s.down = p
	}
	return s, pos, nil
}

// readConfigFile reads KEY=VALUE lines (blank lines and # comments
// skipped) of the known keys into vals.
func readConfigFile(path string, vals map[string]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"'`)
		switch {
		case !ok:
			return fmt.Errorf("config file %s line %d: want KEY=VALUE", path, n)
		case k != "VEM_SOCKET" && k != "VEM_HOOK_TIMEOUT" && k != "VEM_HOOK_ON_AGENT_DOWN":
			return fmt.Errorf("config file %s line %d: unknown key %q", path, n, k)
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// readStdin reads the domain XML, within d: a stdin that is never closed
// (the hook run by hand) must not hold the hook forever.
func readStdin(r io.Reader, d time.Duration) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		data, err := hook.ReadXML(r)
		if err != nil {
			_, _ = io.Copy(io.Discard, r) // drain: libvirt writes all of it
		}
		ch <- result{data, err}
	}()
	select {
	case res := <-ch:
		return res.data, res.err
	case <-time.After(d):
		return nil, fmt.Errorf("stdin not closed within %v: the domain XML is libvirt's to send", d)
	}
}

// interfaceGone reports whether this network namespace (libvirt's and
// the agent's) has no interface of that name; any other error says
// nothing, and nothing is taken for gone.
func interfaceGone(name string) bool {
	_, err := net.InterfaceByName(name)
	return err != nil && strings.Contains(err.Error(), "no such network interface")
}

// incomingDir is where the hook keeps the markers of domains migrating or
// being restored in: beside the agent's socket (/run/vem/incoming for
// the default one), so that each agent's hook has its own and a reboot
// clears them.
func incomingDir(socket string) string {
	return filepath.Join(filepath.Dir(socket), "incoming")
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
