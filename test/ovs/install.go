package ovs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// SchemaPath is where Debian's openvswitch-common installs the Open_vSwitch
// database schema.
const SchemaPath = "/usr/share/openvswitch/vswitch.ovsschema"

// binaries are the OVS programs Start and the Switch methods run.
var binaries = []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"}

// ErrNotInstalled is wrapped by the error of CheckInstalled (and Start) when
// Open vSwitch programs or its schema are missing.
var ErrNotInstalled = errors.New("open vswitch is not installed")

// CheckInstalled reports whether the Open vSwitch programs and schema Start
// needs are present. Its error names every missing one and wraps
// ErrNotInstalled.
func CheckInstalled() error {
	var missing []string
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if _, err := os.Stat(SchemaPath); err != nil {
		missing = append(missing, SchemaPath)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s (Debian package openvswitch-switch)", ErrNotInstalled, strings.Join(missing, ", "))
	}
	return nil
}
