package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vem-switch/vem/agent"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/lacp"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// version is this build's version, stamped at link time:
//
//	go build -ldflags "-X main.version=1.2.0" ./cmd/vem-agent
//
// A build without it is "dev".
var version = "dev"

// upgradeCommand runs `vem-agent --version` and `vem-agent upgrade-check`.
func upgradeCommand(args []string) error {
	if args[0] != "upgrade-check" {
		printVersion(os.Stdout)
		return nil
	}
	return upgradeCheck(os.Stdout, args[1:])
}

// printVersion prints the build's version and the control protocol it
// speaks, the line an upgrade bundle's manifest is checked against:
//
//	vem-agent 1.2.0 protocol 1.0
func printVersion(w io.Writer) {
	v := protocol.CurrentVersion()
	fmt.Fprintf(w, "vem-agent %s protocol %d.%d\n", version, v.GetMajor(), v.GetMinor())
}

// errUpgradeCheck ends `vem-agent upgrade-check` with status 1 once the
// report has said what refuses the upgrade.
var errUpgradeCheck = errors.New("this version cannot take over the running instance (see FAIL above)")

// upgradeItem is one line of the upgrade check's report.
type upgradeItem struct {
	status string // OK, FAIL, SKIP
	item   string
	detail string
}

// upgradeCheck is `vem-agent upgrade-check`: the dry run of this build
// taking over an instance that another build runs. It parses the file
// with this build's rules, reads the instance's state files with this
// build's types, plans the migration of every pinned map and has the
// kernel's verifier load this build's programs, and writes, pins and
// attaches nothing: the running agent and its datapath are untouched.
func upgradeCheck(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("vem-agent upgrade-check", flag.ContinueOnError)
	cfgFile := fs.String("config", defaultConfig, "the running agent's configuration `file`")
	instance := fs.String("instance", "", "the `name` of the instance to take over (default: the file's)")
	stateDir := fs.String("state-dir", agent.DefaultStateDir, "the running agent's state `directory`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vem-agent upgrade-check [--instance I] [--config FILE] [--state-dir D]\n\n"+
			"Checks, writing nothing, that this build can take over the running instance:\n"+
			"the file with this build's rules, the state files, the migration of every pinned\n"+
			"map, and this build's programs loaded by the kernel's verifier (not attached).\n"+
			"Exits 1 when something refuses the upgrade.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("upgrade-check: unexpected argument %q", fs.Arg(0))
	}
	items := []upgradeItem{{"OK", "version", fmt.Sprintf("vem-agent %s protocol %s", version, protoString())}}
	items = append(items, checkUpgradeConfig(*cfgFile, instance)...)
	if *instance != "" {
		if err := spec.ValidInstance(*instance); err != nil {
			items = append(items, upgradeItem{"FAIL", "instance", err.Error()})
		} else {
			items = append(items, checkUpgradeState(filepath.Join(*stateDir, *instance))...)
			items = append(items, checkUpgradeDatapath(*instance)...)
		}
	}
	failed := false
	for _, it := range items {
		fmt.Fprintf(w, "%-4s  %-10s  %s\n", it.status, it.item, it.detail)
		failed = failed || it.status == "FAIL"
	}
	if failed {
		return errUpgradeCheck
	}
	return nil
}

func protoString() string {
	v := protocol.CurrentVersion()
	return fmt.Sprintf("%d.%d", v.GetMajor(), v.GetMinor())
}

// checkUpgradeConfig checks the file as this build would apply it on this
// host; an empty *instance is set to the file's.
func checkUpgradeConfig(path string, instance *string) []upgradeItem {
	cfg, err := agent.LoadFile(path)
	if err != nil {
		return []upgradeItem{{"FAIL", "config", err.Error()}}
	}
	if *instance == "" {
		*instance = cfg.Instance
	} else if *instance != cfg.Instance {
		return []upgradeItem{{"FAIL", "config", fmt.Sprintf("%s names instance %q, not %q", path, cfg.Instance, *instance)}}
	}
	res, err := agent.Check(path)
	if err != nil {
		return []upgradeItem{{"FAIL", "config", err.Error()}}
	}
	detail := fmt.Sprintf("%s: applies here (instance %s)", path, cfg.Instance)
	if len(res.Absent) > 0 {
		detail += fmt.Sprintf("; %d ports wait for their interface", len(res.Absent))
	}
	return []upgradeItem{{"OK", "config", detail}}
}

// checkUpgradeState reads the instance's state files (kept across
// restarts, see agent.New) with this build's types. The checkpoint is
// left to the agent's start: the running agent holds its lock.
func checkUpgradeState(dir string) []upgradeItem {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return []upgradeItem{{"OK", "state", dir + ": none yet (a first start)"}}
	}
	if err != nil {
		return []upgradeItem{{"FAIL", "state", err.Error()}}
	}
	if !fi.IsDir() {
		return []upgradeItem{{"FAIL", "state", dir + " is not a directory"}}
	}
	var identity struct {
		SystemMAC lacp.MAC          `json:"systemMAC"`
		Keys      map[string]uint16 `json:"keys"`
		Ports     map[string]uint16 `json:"ports"`
	}
	var ports []spec.Port
	var segIDs map[string]uint32
	var items []upgradeItem
	var read []string
	for _, f := range []struct {
		name string
		into any
	}{
		{"attached-ports.json", &ports},
		{"lacp-identity.json", &identity},
		{"segment-ids.json", &segIDs},
	} {
		data, err := os.ReadFile(filepath.Join(dir, f.name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			err = json.Unmarshal(data, f.into)
		}
		if err != nil {
			items = append(items, upgradeItem{"FAIL", "state", fmt.Sprintf("%s: %v", filepath.Join(dir, f.name), err)})
			continue
		}
		read = append(read, f.name)
	}
	if len(items) > 0 {
		return items
	}
	detail := fmt.Sprintf("%s: %d attached ports", dir, len(ports))
	if len(read) > 0 {
		detail += "; read " + strings.Join(read, ", ")
	}
	items = append(items, upgradeItem{"OK", "state", detail})
	if _, err := os.Stat(filepath.Join(dir, "checkpoint.db")); err == nil {
		items = append(items, upgradeItem{"SKIP", "checkpoint", "checkpoint.db is the running agent's (locked); read at start"})
	}
	return items
}

// checkUpgradeDatapath plans the migration of the instance's pinned maps
// and has the verifier load this build's programs (bpf.PlanUpgrade).
func checkUpgradeDatapath(instance string) []upgradeItem {
	p, err := bpf.PlanUpgrade(instance)
	if err != nil {
		return []upgradeItem{{"FAIL", "datapath", err.Error()}}
	}
	var items []upgradeItem
	switch {
	case !p.Pinned:
		items = append(items, upgradeItem{"OK", "maps", p.PinDir + ": nothing pinned (a first start)"})
	case len(p.Migrate) == 0:
		items = append(items, upgradeItem{"OK", "maps", fmt.Sprintf("%s: %d pinned maps adopted as they are", p.PinDir, len(p.Adopted))})
	default:
		items = append(items, upgradeItem{"OK", "maps", fmt.Sprintf("%s: %d adopted as they are, %d to migrate (planned in %v)",
			p.PinDir, len(p.Adopted), len(p.Migrate), p.Took.Round(100_000))})
		for _, m := range p.Migrate {
			items = append(items, upgradeItem{"OK", "migrate", m.String()})
		}
	}
	if len(p.Created) > 0 && p.Pinned {
		items = append(items, upgradeItem{"OK", "maps", "new in this version (created empty): " + strings.Join(p.Created, ", ")})
	}
	items = append(items, upgradeItem{"OK", "programs", fmt.Sprintf("accepted by the verifier, not attached: %s", strings.Join(p.Programs, ", "))})
	return items
}
